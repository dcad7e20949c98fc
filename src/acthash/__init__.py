"""acthash: neural networks as hash encoders — neural codes, their metrics and the activation hash phase chart.

The analysis API (`load`, `status`, `run_cells`, plotting) is imported lazily so that light modules
(`acthash.cell`, `acthash.grid`) stay free of torch for the Snakefile.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load", "status", "run_cells", "regime_map", "metric_lines", "__version__"]

_LAZY = {"load": "merge", "status": "status", "run_cells": "runner", "regime_map": "plots", "metric_lines": "plots"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'acthash' has no attribute {name!r}")
