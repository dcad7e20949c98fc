"""How far each axis moves the metrics: a regularisation or noise factor's levels against model size,
training time and sample size, on one scale (the paper's claim that the latter three matter more).

The effect of an axis on a metric is the range (max − min) of the metric's seed means across the axis'
values, every other axis held at a reference cell: the last epoch, the largest n, the factor's default, and
each width the datasets share (width itself: across all widths of the phase grid). Beside it, the largest
change between two adjacent levels (a grid whose range comes from one extreme level says so; grids with more or
finer-spaced levels give smaller steps), and for both the lowest and highest of the seeds' own (a seed with a
missing level left out): not an interval around the means' value — seed noise adds to each seed's range, so the
means' range can lie below every seed's — but how far the seeds alone disagree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from acthash.analysis.dims import grid_dims
from acthash.analysis.figure_axes import label
from acthash.params.cell import FACTORS, FIELDS

METRICS = ("redundancy_test", "knn_test")
PHASE_AXES = ("width", "epoch", "n_train")
VALUES = {"range": "range of the seed means across the axis' levels",
          "step": "largest change of the seed means between two adjacent levels"}  # what effects_table can show


def _seed_mean(da: xr.DataArray) -> xr.DataArray:
    return da.mean("seed") if "seed" in da.dims else da


def _at_reference(ds: xr.Dataset, keep: str, width: float | None) -> xr.Dataset:
    """`ds` with every dim but `keep` (and seed) at the reference: the given width, the last epoch, the
    largest n, a factor's default value (else its first)."""
    at: dict = {}
    for d in grid_dims(ds):
        if d in (keep, "seed"):
            continue
        if d == "width":
            at[d] = width
        elif d in FACTORS:
            default = FIELDS[d].default
            at[d] = default if default in ds[d].values else ds[d].values[0]
        else:
            at[d] = ds[d].values[-1]
    return ds.sel(at)


def _spread(da: xr.DataArray, axis: str) -> dict[str, float]:
    """Range and largest adjacent step along `axis` of the seed means of `da`, and the lowest and highest of the
    same two numbers taken seed by seed (equal to the mean's with one seed)."""
    per_seed = da if "seed" in da.dims else da.expand_dims(seed=[0])
    per_seed = per_seed.where(per_seed.notnull().all(axis))  # a seed missing a level has no range or step of its own
    ranges = per_seed.max(axis) - per_seed.min(axis)
    steps = abs(per_seed.diff(axis)).max(axis)
    means = _seed_mean(da)
    return {"range": float(means.max() - means.min()), "range_lo": float(ranges.min()),
            "range_hi": float(ranges.max()), "step": float(abs(means.diff(axis)).max()),
            "step_lo": float(steps.min()), "step_hi": float(steps.max())}


def factor_effects(phase: xr.Dataset, factors: dict[str, xr.Dataset],
                   metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """One row per (axis, metric, width): the axis' range of the metric's seed means (`range`), with the values
    that give its min and max, the largest change between adjacent levels (`step`), and for both the lowest and
    highest over seeds of each seed's own (`range_lo`, `range_hi`, `step_lo`, `step_hi`). `phase` varies width,
    epoch and n_train; `factors` maps a factor name (a grid axis such as weight_decay) to the merged dataset that
    varies it. Widths: those all datasets share."""
    widths = set(phase["width"].values.tolist())
    for ds in factors.values():
        widths &= set(ds["width"].values.tolist())
    rows = []
    sources = [(axis, phase) for axis in PHASE_AXES] + list(factors.items())
    for axis, ds in sources:
        for width in sorted(widths) if axis != "width" else [None]:
            sub = _at_reference(ds, axis, width)
            for m in metrics:
                means = _seed_mean(sub[m])
                if means.notnull().sum() < 2:
                    continue
                values = means[axis].values
                lo, hi = int(means.argmin(axis)), int(means.argmax(axis))
                rows.append({"axis": axis, "metric": m, "width": width, **_spread(sub[m], axis),
                             "at_min": values[lo], "at_max": values[hi], "levels": len(values)})
    return pd.DataFrame(rows)


def effects_table(effects: pd.DataFrame, phase: xr.Dataset, value: str = "range") -> str:
    """Markdown: one row per axis, one column per (metric, width): the `value` of VALUES, and in brackets the
    lowest and highest of the seeds' own."""
    cols = [(m, w) for m in effects["metric"].unique() for w in sorted(effects["width"].dropna().unique())]
    head = " | ".join(f"{label(phase[m])} {value}, width {w:g}" for m, w in cols)
    lines = [f"| axis | {head} |", "|" + "---|" * (len(cols) + 1)]
    for axis in effects["axis"].unique():
        cells = []
        for m, w in cols:
            pick = effects[(effects["axis"] == axis) & (effects["metric"] == m)
                           & ((effects["width"] == w) | effects["width"].isna())]
            row = pick.iloc[0] if len(pick) else None
            cells.append("–" if row is None else
                         f"{row[value]:.3f} [{row[value + '_lo']:.3f}, {row[value + '_hi']:.3f}]")
        lines.append(f"| {axis} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def effects_figure(effects: pd.DataFrame, phase: xr.Dataset):  # noqa: ANN201 - a matplotlib Figure
    """One panel per metric: each axis' range of the seed means (a bar per shared width; width's own range as one
    bar), with a line from the lowest to the highest of the seeds' own ranges."""
    import matplotlib.pyplot as plt

    metrics = list(effects["metric"].unique())
    axes_order = list(effects["axis"].unique())
    widths = sorted(effects["width"].dropna().unique())
    fig, axs = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 0.45 * len(axes_order) + 1.8),
                            squeeze=False, layout="constrained")
    for ax, m in zip(axs[0], metrics):
        sub = effects[effects["metric"] == m]
        for k, w in enumerate(widths):
            vals = [sub[(sub["axis"] == a) & ((sub["width"] == w) | sub["width"].isna())] for a in axes_order]
            y = np.arange(len(axes_order)) + (k - (len(widths) - 1) / 2) * 0.8 / len(widths)
            color = plt.cm.viridis(0.85 * k / max(len(widths) - 1, 1))
            ax.barh(y, [v["range"].iloc[0] if len(v) else np.nan for v in vals], height=0.8 / len(widths),
                    color=color, label=f"width {w:g}")
            ax.hlines(y, *([v[key].iloc[0] if len(v) else np.nan for v in vals] for key in ("range_lo", "range_hi")),
                      color="0.15", lw=1)  # the seeds' own ranges, lowest to highest
        ax.set_yticks(np.arange(len(axes_order)), axes_order)
        ax.invert_yaxis()
        ax.set_xlabel(f"range of the seed means of {label(phase[m])}")
        ax.grid(alpha=0.3, axis="x")
    axs[0][0].legend(fontsize=7)
    fig.suptitle("How far each axis moves the metrics: bars, the range of the seed means; lines, the lowest to the "
                 "highest of each seed's own range\n(others at the last epoch, the largest n, defaults; width: its "
                 "whole range)", fontsize=9)
    return fig
