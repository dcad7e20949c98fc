"""From merged datasets to findings: merge and load, phase regimes, boundaries, factor effects, figures and
the paper's values. No torch (tests/test_layers.py pins it)."""
