"""Experiments as data: expand a resolved experiment's factorial grid into cells and group cells into packs.

Light on purpose (no torch): the Snakefile imports it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

from acthash.params.cell import GRID_AXES, RECIPE_KEYS, Cell

PACK_OVER = ("width", "seed")  # default: cells differing only in these axes train as one stacked model
PACK_SIZE = 64  # default: at most this many cells per pack job


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def expand(spec: dict[str, Any]) -> list[Cell]:
    """All cells of the full factorial grid over the axes in `spec` (each a value or a list), with the
    recipe keys of `spec`; other keys are ignored. Raises ValueError naming the first impossible cell."""
    recipe = {k: spec[k] for k in RECIPE_KEYS if k in spec}
    axes = {k: list(dict.fromkeys(_as_list(spec[k]))) for k in GRID_AXES if k in spec}  # a repeat counts once
    cells = []
    for combo in itertools.product(*axes.values()):
        params = {**recipe, **dict(zip(axes, combo))}
        try:
            cells.append(Cell.from_params(params))
        except ValueError as err:
            raise ValueError(str(err).removeprefix("invalid cell parameters: ")) from err
    return cells


def pack_key(cell: Cell, pack_over: Iterable[str]) -> str:
    """Cells with equal keys may be trained together: every parameter but the `pack_over` axes is part of
    the key (and, for CNNs, whose members share one width, the width)."""
    over = set(pack_over) - ({"width"} if cell.arch != "mlp" else set())
    return json.dumps({k: v for k, v in cell.params().items() if k not in over}, sort_keys=True)


def packs(cells: list[Cell], pack_over: Iterable[str] = PACK_OVER, pack_size: int = PACK_SIZE) -> list[list[Cell]]:
    """Group cells into packs of at most `pack_size` by `pack_key`."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(pack_key(cell, pack_over), []).append(cell)
    return [members[i:i + pack_size] for members in groups.values() for i in range(0, len(members), pack_size)]
