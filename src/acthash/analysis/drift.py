"""Whether a rerun moved the numbers beyond seed noise: two merged datasets of the same grid (e.g. committed
evidence and its regeneration by a later version, or a run on another machine) compared cell by cell.

A cell (a grid point, seeds aside) has *moved* when its seed means differ by more than twice the standard error
of a difference of two means of n seeds, 2·s·√(2/n), s the pooled standard deviation over seeds of both runs at
that cell. With 3 seeds that threshold is about 1.6 s: it flags what seed noise alone would rarely give (about
one cell in twenty if the differences were normal), without claiming a confidence level at n = 3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from acthash.analysis.figure_axes import tick_labels
from acthash.params.registry import METRICS

MOVED_SE = 2.0  # standard errors of a difference of seed means beyond which a cell has moved


def drift(old: xr.Dataset, new: xr.Dataset, by: str = "epoch", metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per (metric, value of `by`) over the cells both datasets hold: how many, the mean and largest
    |difference| of their seed means, the pooled seed standard deviation (mean over cells), and the cells that
    moved (|difference| > MOVED_SE standard errors) with the largest |difference| in standard errors."""
    if "seed" not in old.dims or "seed" not in new.dims:
        raise ValueError("drift needs seeds in both datasets: noise is measured over them")
    metrics = metrics or tuple(m.name for m in METRICS if m.drawn and m.name in old and m.name in new)
    a, b = xr.align(old[list(metrics)], new[list(metrics)], join="inner", exclude=["seed"])
    rows = []
    for m in metrics:
        x, y = a[m], b[m]
        n = min(x.sizes["seed"], y.sizes["seed"])
        pooled = np.sqrt((x.var("seed", ddof=1) + y.var("seed", ddof=1)) / 2)
        diff = abs(x.mean("seed") - y.mean("seed"))
        se = pooled * np.sqrt(2 / n)
        for value in diff[by].values if by in diff.dims else [None]:
            at = {} if value is None else {by: value}
            d, s, e = (v.sel(at).values.ravel() for v in (diff, pooled, se))
            ok = np.isfinite(d)
            if not ok.any():
                continue
            with np.errstate(divide="ignore", invalid="ignore"):  # no seed spread: any difference has moved
                z = np.where(e[ok] > 0, d[ok] / e[ok], np.where(d[ok] > 0, np.inf, 0.0))
            rows.append({"metric": m, by: value, "cells": int(ok.sum()), "mean_diff": float(d[ok].mean()),
                         "max_diff": float(d[ok].max()), "seed_sd": float(np.nanmean(s[ok])),
                         "moved": int((z > MOVED_SE).sum()), "max_se": float(z.max())})
    return pd.DataFrame(rows)


def drift_table(table: pd.DataFrame, by: str = "epoch") -> str:
    """`drift`'s rows as Markdown."""
    lines = [f"| metric | {by} | cells | mean abs. difference | max abs. difference | seed sd (mean) | moved "
             f"(> {MOVED_SE:g} s.e.) | largest, in s.e. |", "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        at = getattr(r, by)
        lines.append(f"| {r.metric} | {'' if at is None else tick_labels([at])[0]} | {r.cells} | {r.mean_diff:.4f} | "
                     f"{r.max_diff:.4f} | {r.seed_sd:.4f} | {r.moved} | {r.max_se:.1f} |")
    return "\n".join(lines) + "\n"
