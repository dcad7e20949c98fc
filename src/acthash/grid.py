"""Experiments as data: expand a named experiment's factorial grid into cells and group cells into packs.

Light on purpose (no torch, no numpy): the Snakefile imports it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from .cell import GRID_AXES, Cell

# Keys of an experiment that are not grid axes nor recipe entries.
META_KEYS = ("description", "pack_over", "pack_size", "phase")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def recipe_of(experiment: dict[str, Any]) -> dict[str, Any]:
    """The experiment's non-axis cell parameters (training recipe, checkpoints, metric settings)."""
    return {k: v for k, v in experiment.items() if k not in GRID_AXES and k not in META_KEYS}


def expand(experiment: dict[str, Any], name: str = "experiment") -> list[Cell]:
    """All cells of the full factorial grid over the axes of `experiment` (any axis a scalar or a list).

    Raises ValueError naming the experiment and key for an unknown key or a bad value.
    """
    recipe = recipe_of(experiment)
    axes = {k: _as_list(experiment[k]) for k in GRID_AXES if k in experiment}
    cells = []
    for combo in itertools.product(*axes.values()):
        params = {**recipe, **dict(zip(axes, combo))}
        try:
            cells.append(Cell.from_params(params))
        except (TypeError, ValueError) as err:
            raise ValueError(f"experiments.{name}: {err}") from err
    return cells


def pack_key(cell: Cell, pack_over: Iterable[str]) -> str:
    """Cells with equal keys may be trained together: every axis not in `pack_over` is part of the key
    (and, for CNNs, whose members share one width, the width)."""
    over = set(pack_over) - ({"width"} if cell.arch != "mlp" else set())
    return "/".join(seg for key, seg in zip(GRID_AXES, cell.name.split("/")) if key not in over)


def packs(cells: list[Cell], pack_over: Iterable[str] = ("width", "seed"), pack_size: int = 64) -> dict[str, list[Cell]]:
    """Group cells into packs of at most `pack_size`, by `pack_key`; ids are `<key>/pack~<i>`."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(pack_key(cell, pack_over), []).append(cell)
    out = {}
    for key, members in groups.items():
        for i in range(0, len(members), pack_size):
            out[f"{key}/pack~{i // pack_size}"] = members[i:i + pack_size]
    return out

