"""acthash: neural networks as hash encoders — neural codes, their metrics and the activation hash phase chart.

The package is grouped by role, in layers (README, "Files"; each imports only from those before it): `params`
(every parameter, path and registry; no numpy or torch), `store` (cell files, the code format, atomic writes,
plans, each cell's state; no torch), `data`, `metrics` and `nets` (the computation: torch, numba,
scikit-learn), `analysis` (merged datasets to tables and figures; no torch) and `run` (packs, status, cost and
the command line). The analysis API below is imported lazily, so importing `acthash` loads
none of it. No subpackage shares a name with a function of the API, so `acthash.status` is the function.
"""

from __future__ import annotations

import importlib

# 0.4.0: K-Means exact in the codes (its purity moves by local-optimum amounts); cells name their CPU
# 0.5.0: the L2 gradient inside the CPU Adam pass (training moves at rounding level); MLP width buckets
__version__ = "0.5.0"
_LAZY = {"load": "analysis.merge", "status": "run.status", "run_cells": "run.runner",
         "regime_map": "analysis.regime_figure", "regime_maps": "analysis.regime_figure",
         "metric_lines": "analysis.line_figure", "boundary_lines": "analysis.boundary_figure",
         "factor_table": "analysis.tables", "compare_paper": "analysis.paper",
         "cell_codes": "analysis.cellcodes", "critical_widths": "analysis.boundaries",
         "boundary_table": "analysis.boundaries", "robustness_table": "analysis.phase"}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'acthash' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
