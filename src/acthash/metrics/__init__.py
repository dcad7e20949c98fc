"""Metrics of neural codes: scikit-learn references, the fast backends tested against them, and the
measurement of one checkpoint."""
