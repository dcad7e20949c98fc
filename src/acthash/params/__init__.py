"""Parameters and registries: cells, configs, grids, paths, metric names. No numpy or torch
(tests/test_layers.py pins it): the Snakefile, parsed by every job, builds its views from these."""
