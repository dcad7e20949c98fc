"""Whether a rerun moved the numbers beyond seed noise: two merged datasets of the same grid (e.g. committed
evidence and its regeneration by a later version, or a run on another machine) compared cell by cell.

A cell (a grid point, seeds aside) has *moved* when Student's two-sample t test on its seeds (the variance pooled
over both runs' seeds) rejects equal means, two-sided at 5 % (critical value 2.78 for 3 + 3 seeds). About one cell
in twenty moves by chance alone: a table of 100 cells with 5 moved says nothing; one with 40 does. A cell whose
seeds agree exactly in both runs (no spread) has moved when its means differ at all; a cell without two seeds
beyond the two means (3 values in all) is not tested.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from acthash.analysis.figure_axes import tick_labels
from acthash.params.registry import METRICS

LEVEL = 0.05  # the two-sided level of each cell's test


def _cell_tests(x: xr.DataArray, y: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Per cell: |difference of the seed means|, pooled seed standard deviation, and |t| over its critical value
    (> 1: moved; NaN: not tested)."""
    from scipy.stats import t as student

    na, nb = x.notnull().sum("seed"), y.notnull().sum("seed")
    df = na + nb - 2
    pooled = np.sqrt(((na - 1) * x.var("seed", ddof=1).fillna(0) + (nb - 1) * y.var("seed", ddof=1).fillna(0))
                     / df.where(df > 0))
    diff = abs(x.mean("seed") - y.mean("seed"))
    se = pooled * np.sqrt(1 / na + 1 / nb)
    crit = xr.apply_ufunc(lambda d: student.ppf(1 - LEVEL / 2, np.maximum(d, 1)), df)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = xr.where(se > 0, diff / (se * crit), xr.where(diff > 0, np.inf, 0.0))
    return diff, pooled, ratio.where((df > 0) & diff.notnull())


def drift(old: xr.Dataset, new: xr.Dataset, by: str = "epoch", metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per (metric, value of `by`) over the cells both datasets hold: how many were tested, the mean and
    largest |difference| of their seed means, the pooled seed standard deviation (mean over cells), the cells
    that moved (see the module) and the largest |t| as a multiple of its critical value."""
    if "seed" not in old.dims or "seed" not in new.dims:
        raise ValueError("drift needs seeds in both datasets: noise is measured over them")
    metrics = metrics or tuple(m.name for m in METRICS if m.drawn and m.name in old and m.name in new)
    a, b = xr.align(old[list(metrics)], new[list(metrics)], join="inner", exclude=["seed"])
    rows = []
    for m in metrics:
        diff, pooled, ratio = _cell_tests(a[m], b[m])
        for value in diff[by].values if by in diff.dims else [None]:
            at = {} if value is None else {by: value}
            d, s, r = (v.sel(at).values.ravel() for v in (diff, pooled, ratio))
            ok = np.isfinite(r) | np.isinf(r)
            if not ok.any():
                continue
            rows.append({"metric": m, by: value, "cells": int(ok.sum()), "mean_diff": float(d[ok].mean()),
                         "max_diff": float(d[ok].max()), "seed_sd": float(np.nanmean(s[ok])),
                         "moved": int((r[ok] > 1).sum()), "max_ratio": float(r[ok].max())})
    return pd.DataFrame(rows)


def provenance(ds: xr.Dataset) -> str:
    """What trained and measured a merged dataset's cells, as its per-cell variables say (or the version that
    merged it, for datasets from before they existed)."""
    def said(name: str) -> str:
        values = sorted({str(v) for v in np.ravel(ds[name].values)} - {""}) if name in ds else []
        return " and ".join(values) or "(unrecorded)"

    if "trained_version" not in ds:
        return f"merged by acthash {ds.attrs.get('acthash_version', '?')}, trained on {ds.attrs.get('trained_on', '?')}"
    return (f"trained by acthash {said('trained_version')} on {said('trained_on')}, "
            f"measured by {said('measured_version')}")


def drift_table(table: pd.DataFrame, by: str = "epoch") -> str:
    """`drift`'s rows as Markdown."""
    lines = [f"| metric | {by} | cells | mean abs. difference | max abs. difference | seed sd (mean) | moved "
             f"(t test at {LEVEL:.0%}) | largest t / critical value |", "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        at = getattr(r, by)
        lines.append(f"| {r.metric} | {'' if at is None else tick_labels([at])[0]} | {r.cells} | {r.mean_diff:.4f} | "
                     f"{r.max_diff:.4f} | {r.seed_sd:.4f} | {r.moved} | {r.max_ratio:.1f} |")
    return "\n".join(lines) + "\n"
