"""The activation hash phase chart (SPEC Part A §6): regimes from redundancy and accuracy plateaus."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .cell import PhaseRule

UNDER, CRITICAL, SUFFICIENT = 0, 1, 2
REGIMES = {UNDER: "under-expressive", CRITICAL: "critically-expressive", SUFFICIENT: "sufficiently-expressive"}


def redundancy_for(ds: xr.Dataset, r_metric: str) -> xr.DataArray:
    """The redundancy the chart uses: test (default), train, or the larger of the two."""
    if r_metric == "max":
        return np.maximum(ds["redundancy_train"], ds["redundancy_test"])
    return ds[f"redundancy_{r_metric}"]


def classify_values(r: xr.DataArray, acc: xr.DataArray, plateau: xr.DataArray, r_hi: float, r_lo: float,
                    eps: float) -> xr.DataArray:
    """Regime codes: under if R ≥ r_hi; sufficient if R ≤ r_lo and acc ≥ plateau − eps; critical otherwise."""
    regime = xr.full_like(r, CRITICAL, dtype=np.int8)
    regime = regime.where(~((r <= r_lo) & (acc >= plateau - eps)), SUFFICIENT)
    regime = regime.where(r < r_hi, UNDER)
    return regime.where(r.notnull() & acc.notnull(), -1).astype(np.int8)


def classify(ds: xr.Dataset, rule: PhaseRule = PhaseRule()) -> xr.Dataset:
    """`regime` (seed-mean values; -1 where undefined) and `regime_agreement` (fraction of seeds whose own
    regime equals it). The plateau is the seed-mean accuracy maximised over the rule's `plateau_over` dims
    ("all" for the whole grid, or a number for a fixed plateau)."""
    r_hi, r_lo, eps, plateau_over = rule.r_hi, rule.r_lo, rule.eps, rule.plateau_over
    r = redundancy_for(ds, rule.r_metric)
    acc = ds[rule.accuracy]
    seed_dims = [d for d in ("seed",) if d in r.dims]
    r_mean, acc_mean = r.mean(seed_dims), acc.mean(seed_dims)
    if isinstance(plateau_over, (int, float)):
        plateau = xr.full_like(acc_mean, float(plateau_over))
    else:
        dims = list(acc_mean.dims) if plateau_over == "all" else [d for d in plateau_over if d in acc_mean.dims]
        plateau = acc_mean.max(dims) if dims else acc_mean
    regime = classify_values(r_mean, acc_mean, plateau, r_hi, r_lo, eps)
    per_seed = classify_values(r, acc, plateau, r_hi, r_lo, eps)
    agreement = (per_seed == regime).mean(seed_dims) if seed_dims else xr.ones_like(r_mean)
    regime.attrs = dict(long_name="regime", description="activation hash regime of the seed-mean metrics",
                        flag_values=[-1, 0, 1, 2], flag_meanings="undefined " + " ".join(REGIMES.values()))
    agreement.attrs = dict(long_name="seed agreement on the regime", units="1",
                           description="fraction of seeds whose own regime equals `regime`")
    return xr.Dataset({"regime": regime, "regime_agreement": agreement})
