"""The Markdown tables of a view's figures folder: one per regularisation or noise factor, the critical widths
and the robustness of the regimes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import xarray as xr

from acthash.analysis.boundaries import boundary_table
from acthash.analysis.dims import varying_dims
from acthash.analysis.figure_axes import held_fixed, label, reduce_to, tick_labels
from acthash.analysis.line_figure import panels
from acthash.analysis.phase import SLICES, robustness_table
from acthash.analysis.stats import mean_sd, pm
from acthash.params.cell import FACTORS
from acthash.params.registry import METRICS

TABLE_METRICS = tuple(m.name for m in METRICS if m.tabled)  # the registry says which metrics are tabled


def shows_boundaries(ds: xr.Dataset) -> bool:
    """Whether a view's figures folder holds the critical widths (figure and table): width and n_train vary, one
    architecture, and some metric has a value."""
    varying = varying_dims(ds)
    return "width" in varying and "n_train" in varying and "arch" not in varying and bool(panels(ds))


def factor_table(ds: xr.Dataset, factor: str, metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    """A markdown table of a regularisation or noise factor: one row per (width, factor value), one column per
    metric (mean ± sd over seeds), at the last epoch and the largest n."""
    sub = reduce_to(ds, (factor, "width"))
    metrics = tuple(m for m in metrics if m in sub)
    head = f"| {label(sub['width'])} | {label(sub[factor])} | " + " | ".join(label(sub[m]) for m in metrics) + " |"
    lines = [f"{ds.attrs.get('experiment', '')}: {held_fixed(ds, sub)}", "", head, "|" + "---|" * (2 + len(metrics))]
    for w in sub["width"].values:
        for v in sub[factor].values:
            cell = sub.sel(width=w, **{factor: v})
            stats = [mean_sd(cell[m]) if "seed" in cell[m].dims else (cell[m], np.nan) for m in metrics]
            lines.append(f"| {w:g} | {tick_labels([v])[0]} | "
                         + " | ".join(pm(float(a), float(b)) for a, b in stats) + " |")
    return "\n".join(lines) + "\n"


def tables(ds: xr.Dataset) -> Iterator[tuple[str, str]]:
    """Every table the grid supports, as (name, Markdown): one per varying factor of `FACTORS`, the critical
    widths where width and n_train vary (as `boundaries_vs_n_train`), and the robustness of the regimes where a
    chart slice is drawn."""
    from acthash.analysis.merge import phase_rule

    for factor in FACTORS:
        if factor in ds.dims and ds.sizes[factor] > 1 and "width" in ds.dims:
            yield factor, factor_table(ds, factor)
    varying = varying_dims(ds)
    if shows_boundaries(ds):
        yield "boundaries", boundary_table(ds, phase_rule(ds))
    if "arch" not in varying and any(x in varying and y in varying for x, y in SLICES):
        yield "robustness", robustness_table(ds, phase_rule(ds))
