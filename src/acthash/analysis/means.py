"""Seed means of a merged dataset as a Markdown table: metrics along one grid axis (the columns), one row per
metric and value of another axis; the values picked on any axis, every other axis held at its last value (as
the figures hold it). The docs' tables of means are this table's output (docs/evidence.yaml)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from acthash.analysis.figure_axes import held_fixed, label, reduce_to, tick_labels
from acthash.analysis.stats import mean_sd, pm


def pick(ds: xr.Dataset, at: Mapping[str, Sequence[float | str]]) -> xr.Dataset:
    """`ds` at the given values (numbers, or their text) of some of its grid axes (one value: the axis is dropped
    and held); a name or value the dataset does not hold is an error naming it."""
    for dim, given in at.items():
        if dim not in ds.dims:
            raise ValueError(f"{dim}: not an axis of this dataset (axes: {', '.join(map(str, ds.dims))})")
        try:
            values = np.asarray(given).astype(ds[dim].dtype).tolist()
        except ValueError:
            raise ValueError(f"{dim}={', '.join(map(str, given))}: not values of {dim}") from None
        missing = [v for v in values if v not in ds[dim].values]
        if missing:
            raise ValueError(f"{dim}={', '.join(map(str, missing))}: not in the dataset "
                             f"({dim}: {', '.join(tick_labels(ds[dim].values, most=len(ds[dim])))})")
        ds = ds.sel({dim: values[0] if len(values) == 1 else list(values)})
    return ds


def _cell(da: xr.DataArray, sd: bool) -> str:
    """One entry: the seed mean (± the sample sd with `sd`), – where nothing was measured."""
    mean, spread = mean_sd(da) if "seed" in da.dims else (da, xr.DataArray(np.nan))
    if not math.isfinite(float(mean)):
        return "–"
    return pm(float(mean), float(spread)) if sd else f"{float(mean):.3f}"


def means_table(ds: xr.Dataset, metrics: Sequence[str], columns: str, rows: str | None = None,
                at: Mapping[str, Sequence[float | str]] | None = None, sd: bool = False) -> str:
    """Seed means of `metrics` (± sd with `sd`): a column per value of the axis `columns`, a row per metric (and
    per value of the axis `rows`), at the values `at` picks; a line first names what is held fixed."""
    unknown = [m for m in metrics if m not in ds.data_vars]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: no such metric in the dataset")
    picked = pick(ds, at or {})
    keep = tuple(d for d in (columns, rows) if d)
    for dim in keep:
        if dim not in picked.dims:
            raise ValueError(f"{dim}: not an axis with several values here (axes: {', '.join(map(str, picked.dims))})")
    sub = reduce_to(picked, keep)
    head = [label(sub[columns]), *tick_labels(sub[columns].values, most=sub.sizes[columns])]
    lines = [f"{ds.attrs.get('view', '')}: {held_fixed(ds, sub)}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric in metrics:
        for value in sub[rows].values if rows else [None]:
            da = sub[metric] if value is None else sub[metric].sel({rows: value})
            name = label(sub[metric]) + ("" if value is None else f", {rows} {tick_labels([value])[0]}")
            lines.append("| " + " | ".join([name, *(_cell(da.sel({columns: c}), sd) for c in sub[columns].values)])
                         + " |")
    return "\n".join(lines) + "\n"
