"""Panels of metric lines: each drawn metric of the registry against one axis, mean ± sd over seeds."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.ticker import NullLocator

from acthash.analysis.figure_axes import (
    categorical_axis,
    held_fixed,
    label,
    log_axis,
    log_ticks,
    positions,
    reduce_to,
    tick_labels,
)
from acthash.analysis.stats import mean_sd
from acthash.params.registry import METRICS

PANELS = tuple(m.name for m in METRICS if m.drawn)  # the registry says which metrics are drawn
MAX_HUES = 6  # lines per panel at most


def panels(ds: xr.Dataset) -> tuple[str, ...]:
    """The metrics of `PANELS` that `ds` holds with at least one value."""
    return tuple(m for m in PANELS if m in ds and bool(ds[m].notnull().any()))


def metric_lines(ds: xr.Dataset, x: str = "width", hue: str | None = None,
                 metrics: tuple[str, ...] | None = None) -> plt.Figure:
    """A grid of panels, one per metric (default: every one of `PANELS` the dataset holds), each against `x`
    with the metric's long name and units on its y-axis: for each value of `hue`, the mean over seeds and a
    band of ± one standard deviation (with `hue="seed"`, one line per seed); at most six values of `hue`,
    evenly picked, first and last included. Widths, epochs and sample sizes
    spanning 10× or more are on log axes (epoch 0 drawn at 0.5). Other dims are fixed at their last value;
    the title states them. One legend for all panels."""
    metrics = metrics or panels(ds)
    if not metrics:
        raise ValueError(f"{ds.attrs.get('experiment', 'dataset')}: no metric with a value to draw")
    hue = hue if hue in ds.dims and hue != x else None
    ncols = min(4, len(metrics))
    nrows = -(-len(metrics) // ncols)
    # at least two panels wide, so that the two-line title fits above a single panel
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * max(ncols, 2), 2.8 * nrows + 0.9), squeeze=False)
    sub = reduce_to(ds, (x,) + ((hue,) if hue else ()))
    categorical = categorical_axis(sub[x].values, x)
    log = not categorical and log_axis(sub[x].values, x)
    xv = positions(sub[x].values, log, categorical)
    hues = sub[hue].values if hue else [None]
    if len(hues) > MAX_HUES:  # a few lines, evenly picked, first and last included
        hues = hues[np.unique(np.linspace(0, len(hues) - 1, MAX_HUES).round().astype(int))]
    for ax, metric in zip(axes.flat, metrics):
        for i, h in enumerate(hues):
            da = sub[metric] if h is None else sub[metric].sel({hue: h})
            color = plt.cm.viridis(0.85 * i / max(len(hues) - 1, 1)) if hue else "C0"
            name = None if h is None else f"{hue} = {tick_labels([h])[0]}"
            if "seed" in da.dims:
                mean, sd = (v.values for v in mean_sd(da))
                if da.sizes["seed"] > 1:  # one seed: no spread to draw
                    ax.fill_between(xv, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
            else:
                mean = da.values
            ax.plot(xv, mean, marker="o", ms=3, color=color, label=name)
        ax.set_ylabel(label(sub[metric]), fontsize=8)
        ax.set_xlabel(label(sub[x]), fontsize=8)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticks(*log_ticks(sub[x].values))
        elif categorical or len(xv) <= 12:
            ax.set_xticks(xv, tick_labels(sub[x].values))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    spread = "one line per seed" if hue == "seed" else "mean ± sd over seeds"
    fig.suptitle(f"{ds.attrs.get('experiment', '')}: metrics vs {x} ({spread})\n{held_fixed(ds, sub)}", fontsize=10)
    if hue:
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="lower center", ncol=min(len(hues), 6),
                   fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if hue else 0, 1, 1))
    return fig
