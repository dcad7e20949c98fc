"""acthash: neural networks as hash encoders — neural codes, their metrics and the activation hash phase chart.

The analysis API is imported lazily so that light modules (`acthash.cell`, `acthash.config`) stay free of
torch for the Snakefile. No submodule shares a name with a function of the API, so `acthash.status` is the
function on every call.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"  # 0.2.0: a cell's numbers no longer depend on its pack (arithmetic changed)
_LAZY = {"load": "merge", "status": "progress", "run_cells": "runner", "regime_map": "plots", "regime_maps": "plots",
         "metric_lines": "plots", "boundary_lines": "plots", "factor_table": "plots", "compare_paper": "paper",
         "cell_codes": "cellcodes", "critical_widths": "boundaries", "boundary_table": "boundaries",
         "robustness_table": "phase"}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'acthash' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
