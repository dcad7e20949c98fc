"""Whether a rerun moved the numbers: two merged datasets of the same grid (e.g. committed evidence and its
regeneration by a later version, or a run on another machine) compared cell by cell (a cell: a grid point, seeds
aside), two ways.

- *Beyond seed noise*: Student's two-sample t test, two-sided at 5 %, on the cell's seeds of both runs with their
  variance pooled (critical value 2.78 for 3 + 3 seeds): is the change of the seed mean larger than the spread of
  seeds lets a mean move? Where both runs trained the same seeds their values are paired, and nearly equal at
  early checkpoints, so this test then rejects less often than 5 % even with nothing changed: its count says which
  cells moved by more than a new draw of seeds would move them, not how many chance alone would flag.
- *Shifted*: where both runs hold the same seed labels, the paired t test (5 %) on the per-seed differences: did the
  same seeds give consistently other values, however small against the seed spread? With nothing changed about
  one cell in twenty is flagged.

A cell with fewer than 3 values in all (one seed a run), or fewer than 2 shared seeds for the paired test, is not
tested; a cell whose seeds agree exactly (no spread) has moved, or shifted, when its values differ at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from acthash.analysis.figure_axes import tick_labels
from acthash.params.registry import METRICS

LEVEL = 0.05  # the two-sided level of each cell's tests


def _over_critical(stat: xr.DataArray, scale: xr.DataArray, df: xr.DataArray) -> xr.DataArray:
    """|stat| / scale over Student's critical value at LEVEL with `df` degrees of freedom (> 1: rejected); inf
    where scale is 0 and stat is not; NaN where df < 1 or stat is NaN."""
    from scipy.stats import t as student

    crit = xr.apply_ufunc(lambda d: student.ppf(1 - LEVEL / 2, np.maximum(d, 1)), df)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = xr.where(scale > 0, abs(stat) / (scale * crit), xr.where(abs(stat) > 0, np.inf, 0.0))
    return ratio.where((df > 0) & stat.notnull())


def _beyond_noise(x: xr.DataArray, y: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Per cell: |difference of the seed means|, the pooled seed standard deviation, and the two-sample t over
    its critical value."""
    na, nb = x.notnull().sum("seed"), y.notnull().sum("seed")
    df = na + nb - 2
    pooled = np.sqrt(((na - 1) * x.var("seed", ddof=1).fillna(0) + (nb - 1) * y.var("seed", ddof=1).fillna(0))
                     / df.where(df > 0))
    diff = x.mean("seed") - y.mean("seed")
    return abs(diff), pooled, _over_critical(diff, pooled * np.sqrt(1 / na + 1 / nb), df)


def _shifted(x: xr.DataArray, y: xr.DataArray) -> xr.DataArray | None:
    """Per cell: the paired t over its critical value, on the seed labels both runs hold (None: no shared seed)."""
    seeds = sorted(set(x["seed"].values.tolist()) & set(y["seed"].values.tolist()))
    if not seeds:
        return None
    d = x.sel(seed=seeds) - y.sel(seed=seeds)
    n = d.notnull().sum("seed")
    return _over_critical(d.mean("seed"), d.std("seed", ddof=1) / np.sqrt(n), n - 1)


def drift(old: xr.Dataset, new: xr.Dataset, by: str = "epoch", metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per (metric, value of `by`) over the cells both datasets hold: how many were tested, the mean and
    largest |difference| of their seed means, the pooled seed standard deviation (mean over cells), the cells
    that moved beyond seed noise and the largest t over its critical value, and the cells the paired test finds
    shifted (-1 where the runs share no seed label). See the module for both tests."""
    if "seed" not in old.dims or "seed" not in new.dims:
        raise ValueError("drift needs seeds in both datasets: noise is measured over them")
    if by not in old.dims or by not in new.dims:
        raise ValueError(f"by={by!r}: not a dim of both datasets ({', '.join(d for d in old.dims if d in new.dims)})")
    metrics = metrics or tuple(m.name for m in METRICS if m.drawn and m.name in old and m.name in new)
    a, b = xr.align(old[list(metrics)], new[list(metrics)], join="inner", exclude=["seed"])
    if any(size == 0 for dim, size in a.sizes.items() if dim != "seed"):
        raise ValueError("the two datasets hold no cell in common (no shared width, epoch, n_train, ...)")
    rows = []
    for m in metrics:
        diff, pooled, ratio = _beyond_noise(a[m], b[m])
        shifted = _shifted(a[m], b[m])
        for value in diff[by].values:
            d, s, r = (v.sel({by: value}).values.ravel() for v in (diff, pooled, ratio))
            ok = ~np.isnan(r)
            if not ok.any():
                continue
            p = None if shifted is None else shifted.sel({by: value}).values.ravel()
            rows.append({"metric": m, by: value, "cells": int(ok.sum()), "mean_diff": float(d[ok].mean()),
                         "max_diff": float(d[ok].max()), "seed_sd": float(np.nanmean(s[ok])),
                         "moved": int((r[ok] > 1).sum()), "max_ratio": float(r[ok].max()),
                         "shifted": -1 if p is None else int((p[~np.isnan(p)] > 1).sum())})
    return pd.DataFrame(rows)


def recorded(ds: xr.Dataset, name: str) -> list[str]:
    """The values a per-cell provenance variable of a merged dataset holds (`trained_version`, `trained_on`,
    `measured_version`), sorted; none where the dataset or its cells do not say."""
    return sorted({str(v) for v in np.ravel(ds[name].values)} - {""}) if name in ds else []


def provenance(ds: xr.Dataset) -> str:
    """What trained and measured a merged dataset's cells, as its per-cell variables say (or the version that
    merged it, for datasets from before they existed)."""
    def said(name: str) -> str:
        return " and ".join(recorded(ds, name)) or "(unrecorded)"

    if "trained_version" not in ds:
        version = ds.attrs.get("acthash_version")
        made = f"merged by acthash {version}" if version else "no acthash version recorded"
        where = f", trained on {ds.attrs['trained_on']}" if "trained_on" in ds.attrs else ""
        return f"{made}{where} (no per-cell provenance)"
    return (f"trained by acthash {said('trained_version')} on {said('trained_on')}, "
            f"measured by {said('measured_version')}")


def drift_table(table: pd.DataFrame, by: str = "epoch") -> str:
    """`drift`'s rows as Markdown."""
    lines = [f"| metric | {by} | cells | mean abs. difference | max abs. difference | seed sd (mean) | moved beyond "
             f"seed noise ({LEVEL:.0%}) | largest t / critical value | shifted, paired ({LEVEL:.0%}) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.metric} | {tick_labels([getattr(r, by)])[0]} | {r.cells} | {r.mean_diff:.4f} | "
                     f"{r.max_diff:.4f} | {r.seed_sd:.4f} | {r.moved} | {r.max_ratio:.1f} | "
                     f"{'–' if r.shifted < 0 else r.shifted} |")
    return "\n".join(lines) + "\n"
