"""The activation hash phase chart (docs/spec.md Part A §6, Part B §3.1): regimes from redundancy and accuracy plateaus,
and how robust each cell's regime is to the rule's thresholds.

A 2-D slice of the chart (e.g. width × n_train at one epoch) classifies every cell against the accuracy
plateau of that slice (docs/spec.md Part B §3.1: the maximum of the seed-mean accuracy over the slice), unless the
rule fixes other plateau dims, the whole grid or a number (`PhaseRule.plateau_over`). The merged dataset's
`regime` is the width × epoch slice at each n_train (the other axes held).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import xarray as xr

from acthash.params.phase_rule import PhaseRule

UNDER, CRITICAL, SUFFICIENT = 0, 1, 2
REGIMES = {UNDER: "under-expressive", CRITICAL: "critically-expressive", SUFFICIENT: "sufficiently-expressive"}
MERGED_SLICE = ("width", "epoch")  # the slice whose regimes the merged dataset stores
THRESHOLDS = ("r_hi", "r_lo", "eps")  # the rule's numbers a robustness check moves
MARGIN_FACTORS = (1.1, 1.25, 1.5, 2.0)  # multiplicative moves of a threshold, smallest first
FACTOR = 2.0  # how far each threshold moves either way in the robustness table


def redundancy_for(ds: xr.Dataset, r_metric: str) -> xr.DataArray:
    """The redundancy the chart uses: test (default), train, or the larger of the two."""
    if r_metric == "max":
        return np.maximum(ds["redundancy_train"], ds["redundancy_test"])
    return ds[f"redundancy_{r_metric}"]


def classify_values(r: xr.DataArray, acc: xr.DataArray, plateau: xr.DataArray, r_hi: float, r_lo: float,
                    eps: float) -> xr.DataArray:
    """Regime codes by the rule (`PhaseRule.TEXT`) with these thresholds."""
    r, acc, plateau = xr.broadcast(r, acc, plateau)
    return r.copy(data=_codes(r.values, acc.values, plateau.values, r_hi, r_lo, eps))


def _codes(r: np.ndarray, acc: np.ndarray, top: np.ndarray, r_hi: float, r_lo: float, eps: float) -> np.ndarray:
    """classify_values on aligned arrays; -1 where R or accuracy is undefined."""
    regime = np.where((r <= r_lo) & (acc >= top - eps), SUFFICIENT, CRITICAL)
    regime = np.where(r < r_hi, regime, UNDER)
    return np.where(np.isnan(r) | np.isnan(acc), -1, regime).astype(np.int8)


def plateau(acc_mean: xr.DataArray, rule: PhaseRule, slice_dims: Sequence[str]) -> xr.DataArray:
    """The accuracy plateau of every cell: the seed-mean accuracy maximised over the slice's dims ("slice"),
    the rule's dims, the whole grid ("all"), or the rule's fixed number."""
    over = rule.plateau_over
    if isinstance(over, (int, float)):
        return xr.full_like(acc_mean, float(over))
    dims = list(acc_mean.dims) if over == "all" else slice_dims if over == "slice" else over
    dims = [d for d in dims if d in acc_mean.dims]
    return acc_mean.max(dims) if dims else acc_mean


def _seed_means(ds: xr.Dataset, rule: PhaseRule, slice_dims: Sequence[str]) -> tuple[xr.DataArray, ...]:
    """The seed-mean R and accuracy of every cell, and its accuracy plateau (none depends on the thresholds)."""
    r, acc = redundancy_for(ds, rule.r_metric), ds[rule.accuracy]
    seed_dims = [d for d in ("seed",) if d in r.dims]
    r_mean, acc_mean = r.mean(seed_dims), acc.mean(seed_dims)
    return r_mean, acc_mean, plateau(acc_mean, rule, slice_dims)


def _regimes(means: tuple[xr.DataArray, ...], rule: PhaseRule) -> xr.DataArray:
    """The seed-mean regime of every cell under `rule`'s thresholds."""
    return classify_values(*means, rule.r_hi, rule.r_lo, rule.eps)


def classify(ds: xr.Dataset, rule: PhaseRule = PhaseRule(), slice_dims: Sequence[str] = MERGED_SLICE) -> xr.Dataset:
    """`regime` (from the seed-mean metrics; -1 where undefined) and `regime_agreement` (fraction of seeds
    whose own regime equals it), for the cells of `ds` seen as slices over `slice_dims`."""
    r, acc = redundancy_for(ds, rule.r_metric), ds[rule.accuracy]
    seed_dims = [d for d in ("seed",) if d in r.dims]
    means = _seed_means(ds, rule, slice_dims)
    regime = _regimes(means, rule)
    per_seed = classify_values(r, acc, means[2], rule.r_hi, rule.r_lo, rule.eps)
    agreement = (per_seed == regime).mean(seed_dims) if seed_dims else xr.ones_like(regime, dtype=float)
    held = "whole grid" if rule.plateau_over == "all" else " × ".join(
        slice_dims if rule.plateau_over == "slice" else map(str, np.atleast_1d(rule.plateau_over)))
    regime.attrs = dict(long_name="regime", flag_values=[-1, 0, 1, 2],
                        flag_meanings="undefined " + " ".join(REGIMES.values()),
                        description=f"activation hash regime of the seed-mean metrics; accuracy plateau over "
                                    f"{held}")
    agreement.attrs = dict(long_name="seed agreement on the regime", units="1",
                           description="fraction of seeds whose own regime equals `regime`")
    return xr.Dataset({"regime": regime, "regime_agreement": agreement})


def moved(rule: PhaseRule, key: str, factor: float) -> PhaseRule:
    """The rule with threshold `key` multiplied by `factor` (r_lo kept at most r_hi and the other way round)."""
    value = getattr(rule, key) * factor
    if key == "r_lo":
        value = min(value, rule.r_hi)
    elif key == "r_hi":
        value = max(value, rule.r_lo)
    return dataclasses.replace(rule, **{key: min(value, 1.0) if key != "eps" else value})


def sensitivity(ds: xr.Dataset, rule: PhaseRule = PhaseRule(), slice_dims: Sequence[str] = MERGED_SLICE,
                factor: float = FACTOR) -> dict[str, int]:
    """How many defined cells change regime when each threshold is multiplied or divided by `factor`:
    {"r_hi ×2": n, "r_hi ÷2": n, ...}, and "cells": the number of defined cells."""
    means = _seed_means(ds, rule, slice_dims)
    base = _regimes(means, rule)
    defined = base >= 0
    out = {"cells": int(defined.sum())}
    for key in THRESHOLDS:
        for f, sign in ((factor, "×"), (1 / factor, "÷")):
            other = _regimes(means, moved(rule, key, f))
            out[f"{key} {sign}{factor:g}"] = int(((other != base) & defined).sum())
    return out


def margin(ds: xr.Dataset, rule: PhaseRule = PhaseRule(), slice_dims: Sequence[str] = MERGED_SLICE) -> xr.DataArray:
    """Each cell's margin: the smallest multiplicative move of one threshold (of MARGIN_FACTORS, either way)
    that changes its regime; inf where none up to the largest does, NaN where the regime is undefined. A
    margin of 1.1 marks a near-tie."""
    means = _seed_means(ds, rule, slice_dims)
    base = _regimes(means, rule)
    out = xr.full_like(base, np.inf, dtype=float)
    for f in reversed(MARGIN_FACTORS):  # smaller moves overwrite larger ones
        for key in THRESHOLDS:
            for g in (f, 1 / f):
                changed = _regimes(means, moved(rule, key, g)) != base
                out = out.where(~changed, f)
    out = out.where(base >= 0)
    out.attrs = dict(long_name="regime margin", units="1",
                     description="smallest factor by which one threshold (r_hi, r_lo or eps) must move, up or "
                                 "down, to change the cell's regime (inf: none up to 2)")
    return out


SLICES = (("width", "n_train"), ("width", "epoch"), ("epoch", "n_train"))  # the chart's 2-D slices


def robustness_table(ds: xr.Dataset, rule: PhaseRule = PhaseRule(), factor: float = FACTOR) -> str:
    """Markdown: for each 2-D slice the grid has (each cell classified against its slice's plateau), how many
    cells change regime when one threshold moves by `factor` either way, and how many are near-ties (a 10 %
    move of one threshold changes them)."""
    moves = [f"{k} {s}{factor:g}" for k in THRESHOLDS for s in ("×", "÷")]
    lines = [f"{ds.attrs.get('experiment', 'dataset')}: cells that change regime when a threshold moves "
             f"(r_hi {rule.r_hi:g}, r_lo {rule.r_lo:g}, eps {rule.eps:g}; {rule.accuracy} plateau over the slice)",
             "", "| slice | cells | " + " | ".join(moves) + " | near-ties (10 %) |", "|" + "---|" * (len(moves) + 3)]
    for dims in SLICES:
        if not all(d in ds.dims and ds.sizes[d] > 1 for d in dims):
            continue
        counts = sensitivity(ds, rule, dims, factor)
        ties = int((margin(ds, rule, dims) == MARGIN_FACTORS[0]).sum())
        lines.append(f"| {' × '.join(dims)} | {counts['cells']} | " + " | ".join(str(counts[m]) for m in moves)
                     + f" | {ties} |")
    return "\n".join(lines) + "\n"
