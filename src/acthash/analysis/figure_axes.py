"""What every figure and table of a merged dataset shares: axis labels from the dataset's own `long_name` and
`units` (set by the merge from the metric registry and the cell fields, so a figure and xarray's own plots say the
same thing), log or categorical axes, tick labels from the grid's values, and the line naming what is held fixed.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from acthash.analysis.dims import grid_dims
from acthash.params.cell import ALWAYS_DIMS, CONTEXT_AXES, FACTORS

LOG_DIMS = ("width", "epoch", "n_train")  # drawn on log axes in line plots when they span 10× or more


def label(da: xr.DataArray) -> str:
    """Axis label of a variable or coordinate: its long_name, with its units unless dimensionless."""
    name, units = da.attrs.get("long_name", da.name), da.attrs.get("units")
    return f"{name} [{units}]" if units and units != "1" else str(name)


def categorical_axis(values: np.ndarray, dim: str) -> bool:
    """Drawn one equal step per value: names (arch), and the factors (weight decay spans 0 and 1e-6 … 1e-3)."""
    return dim in FACTORS or not np.issubdtype(values.dtype, np.number)


def log_axis(values: np.ndarray, dim: str) -> bool:
    if dim not in LOG_DIMS or not np.issubdtype(values.dtype, np.number) or not (values > 0).any():
        return False
    return values.max() >= 10 * max(values[values > 0].min(), 1)


def positions(values: np.ndarray, log: bool, categorical: bool) -> np.ndarray:
    """Line-plot positions: categories at 0, 1, …; on log axes 0 (epoch 0) drawn at 0.5."""
    if categorical:
        return np.arange(len(values), dtype=float)
    v = values.astype(float)
    return np.where(v == 0, 0.5, v) if log else v


def tick_labels(values: np.ndarray, most: int = 10) -> list[str]:
    """The grid's own values as tick labels, every k-th one kept so that at most about `most` show."""
    step = -(-len(values) // most)
    return [(f"{v:g}" if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else str(v))
            if i % step == 0 else "" for i, v in enumerate(values)]


def log_ticks(values: np.ndarray, most: int = 9) -> tuple[np.ndarray, list[str]]:
    """Ticks of a log axis at the grid's own values (0 drawn at 0.5): the first, then each value at least
    1/`most` of the axis' log span beyond the last one kept, and the last value, so labels never run into
    each other."""
    pos = positions(values, True, False)
    logs = np.log10(pos)
    gap = (logs[-1] - logs[0]) / most
    shown = [0]
    for i in range(1, len(pos)):
        if logs[i] - logs[shown[-1]] >= gap:
            shown.append(i)
    last = len(pos) - 1
    if shown[-1] != last:  # the last value is always labelled, in place of a neighbour too close to it
        shown[-1 if len(shown) > 1 and logs[last] - logs[shown[-1]] < gap else len(shown):] = [last]
    return pos[shown], [tick_labels([values[i]])[0] for i in shown]


def reduce_to(ds: xr.Dataset, keep: tuple[str, ...]) -> xr.Dataset:
    """Fix every other dim at its last value (final epoch, largest n, ...) except seed."""
    return ds.sel({d: ds[d].values[-1] for d in grid_dims(ds) if d not in keep and d != "seed"})


def held_fixed(ds: xr.Dataset, sub: xr.Dataset, skip: tuple[str, ...] = ()) -> str:
    """One line: the grid dims `sub` holds fixed (its value of each, also those a user selected before, e.g.
    `ds.sel(n_train=10000)`), the dataset and network, the seeds; dims in `skip` are left out."""
    held = [d for d in grid_dims(ds) if d != "seed" and d not in sub.dims]
    held += [d for d in ALWAYS_DIMS + CONTEXT_AXES
             if d != "seed" and d in sub.coords and sub[d].ndim == 0 and d not in held]
    held = [d for d in held if d not in skip]
    parts = [f"{d} {tick_labels([sub[d].item()])[0]}" for d in held]
    return " · ".join(parts + [f"{sub.sizes.get('seed', 1)} seed(s)"])
