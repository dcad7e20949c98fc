"""Where the phase chart's regimes meet: the widths at which redundancy crosses the rule's thresholds, with
bootstrap intervals over seeds, and power laws of those critical widths in sample size or training time.

For each cell of the other axes (n_train, epoch, ...), `critical_widths` finds the smallest grid width at
which the seed-mean R (the rule's `r_metric`) falls below a threshold and interpolates between it and the
width before, linearly in R against log width. The under/critical boundary is R = r_hi, the
critical/sufficient one R = r_lo (sufficiency also needs the accuracy plateau; this is its R part). Below the
grid (R already under the threshold at the smallest width) and above it (never under) give NaN, with the
side recorded.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import xarray as xr

from acthash.analysis.phase import redundancy_for
from acthash.params.cell import PhaseRule

BOUNDARIES = {"r_hi": "under/critical", "r_lo": "critical/sufficient"}

N_BOOT = 1000  # bootstrap resamples of the seeds behind every interval


def crossing(widths: np.ndarray, r: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """For every profile along the last axis of `r` (over `widths`): the width where r first falls below
    `threshold`, and its side: 0 inside the grid, -1 below its smallest width, +1 above its largest (width
    NaN), or 0 with NaN where the profile has an undefined value."""
    r = np.asarray(r, dtype=float)
    lw = np.log(np.asarray(widths, dtype=float))
    finite = np.isfinite(r).all(-1)
    below = r < threshold
    found = below.any(-1)
    i = below.argmax(-1)  # the first width below the threshold (0 where none is)
    j = np.maximum(i - 1, 0)
    r0 = np.take_along_axis(r, j[..., None], -1)[..., 0]
    r1 = np.take_along_axis(r, i[..., None], -1)[..., 0]
    inside = finite & found & (i > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (r0 - threshold) / (r0 - r1)  # linear in R against log width
        width = np.where(inside, np.exp(lw[j] + t * (lw[i] - lw[j])), np.nan)
    side = np.where(~finite, 0, np.where(~found, 1, np.where(i == 0, -1, 0)))
    return width, side


def _crossings(r: xr.DataArray, threshold: float) -> tuple[xr.DataArray, xr.DataArray]:
    """Crossing widths and sides of every 1-D width profile of `r` (width last, no seed)."""
    width, side = crossing(r["width"].values, r.values, threshold)
    coords = {k: v for k, v in r.coords.items() if "width" not in v.dims}
    dims = r.dims[:-1]
    return xr.DataArray(width, coords, dims), xr.DataArray(side, coords, dims)


def _open_ended(width: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Crossings outside the grid as 0 (below) or inf (above), so that intervals stay ordered."""
    return np.where(side == 0, width, np.where(side < 0, 0.0, np.inf))


def critical_widths(ds: xr.Dataset, rule: PhaseRule = PhaseRule(), n_boot: int = N_BOOT,
                    level: float = 0.95, seed: int = 0) -> xr.Dataset:
    """For each threshold of BOUNDARIES and each cell of the other axes: `width_<key>` from the seed-mean R,
    its bootstrap interval `width_<key>_lo/hi` (seeds resampled with replacement `n_boot` times; percentiles
    at `level`, taken at replicates; a resample crossing below the grid counts as 0, above it as inf), `side_<key>` (-1 below
    the grid, +1 above), and the replicates `boot_<key>` (for fits)."""
    r = redundancy_for(ds, rule.r_metric)
    seeds = r.sizes.get("seed", 1)
    r = r if "seed" in r.dims else r.expand_dims(seed=[0])
    r = r.transpose(..., "seed", "width")
    picks = np.random.default_rng(seed).integers(0, seeds, (n_boot, seeds))
    with warnings.catch_warnings():  # a profile whose resampled seeds are all undefined stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(r.values[..., picks, :], axis=-2)  # (..., boot, width): each resample's seed mean
    means = np.moveaxis(means, -2, 0)
    others = r.isel(seed=0, drop=True).isel(width=0, drop=True)
    out = xr.Dataset()
    for key, name in BOUNDARIES.items():
        threshold = getattr(rule, key)
        width, side = _crossings(r.mean("seed"), threshold)
        boot = xr.DataArray(_open_ended(*crossing(r["width"].values, means, threshold)),
                            others.coords, ("boot", *others.dims))
        # no interpolation between replicates (inf − inf): the interval's ends are replicates themselves
        lo = boot.quantile((1 - level) / 2, dim="boot", method="lower")
        hi = boot.quantile((1 + level) / 2, dim="boot", method="higher")
        attrs = {"long_name": f"width at the {name} boundary", "units": "neurons",
                 "description": f"width where the seed-mean {rule.r_metric} redundancy falls below "
                                f"{key} = {threshold:g} (interpolated in log width)"}
        out[f"width_{key}"] = width.assign_attrs(attrs)
        out[f"width_{key}_lo"] = lo.drop_vars("quantile")
        out[f"width_{key}_hi"] = hi.drop_vars("quantile")
        out[f"side_{key}"] = side
        out[f"boot_{key}"] = boot
    out.attrs.update(level=level, n_boot=n_boot, seeds=seeds, r_metric=rule.r_metric)
    return out


def power_law(widths: xr.DataArray, boot: xr.DataArray, dim: str, level: float = 0.95) -> dict[str, float]:
    """Fit width = a · x^b over `dim` (x > 0, finite widths) by least squares in log-log: b, its bootstrap
    interval (the same fit on each replicate with every point finite), R² of the fit (NaN when every width is
    the same) and the points used (fewer than 3: no fit, NaN)."""
    x = widths[dim].values.astype(float)
    y = widths.values.astype(float)
    ok = (x > 0) & np.isfinite(y)
    if ok.sum() < 3:
        return {"b": np.nan, "b_lo": np.nan, "b_hi": np.nan, "r2": np.nan, "points": int(ok.sum())}
    lx, ly = np.log(x[ok]), np.log(y[ok])
    b, a = np.polyfit(lx, ly, 1)
    spread = np.sum((ly - ly.mean()) ** 2)
    # R² is undefined when every width is the same (up to rounding: epoch 0's widths are one value per n)
    r2 = 1 - np.sum((ly - (a + b * lx)) ** 2) / spread if np.ptp(ly) > 1e-9 else np.nan
    reps = boot.transpose("boot", dim).values[:, ok]
    slopes = [np.polyfit(lx, np.log(rep), 1)[0] for rep in reps if (np.isfinite(rep) & (rep > 0)).all()]
    q = [(1 - level) / 2, (1 + level) / 2]
    lo, hi = np.quantile(slopes, q) if slopes else (np.nan, np.nan)
    return {"b": float(b), "b_lo": float(lo), "b_hi": float(hi), "r2": float(r2), "points": int(ok.sum())}


def _cells(ds: xr.Dataset, dims: list[str]) -> list[dict]:
    """Every combination of the coordinate values of `dims` ([{}] for none), in grid order."""
    return [dict(zip(dims, values)) for values in itertools.product(*(ds[d].values for d in dims))]


def _fmt(w: float, lo: float, hi: float, side: int, widths: np.ndarray) -> str:
    if side < 0:
        return f"< {widths.min():g}"
    if side > 0:
        return f"> {widths.max():g}"
    if not np.isfinite(w):
        return "–"
    low = f"< {widths.min():g}" if lo == 0 else f"{lo:.1f}"
    high = f"> {widths.max():g}" if np.isinf(hi) else f"{hi:.1f}"
    return f"{w:.1f} [{low}, {high}]"


def boundary_table(ds: xr.Dataset, rule: PhaseRule = PhaseRule(), n_boot: int = N_BOOT) -> str:
    """Markdown: the critical widths for every (epoch, n_train, ...) cell, then their power laws in n_train at
    each epoch and in training time (epochs ≥ 1) at each n_train, where the grid has those axes."""
    cw = critical_widths(ds, rule, n_boot)
    grid = ds["width"].values
    rows = cw[f"width_{next(iter(BOUNDARIES))}"]
    others = list(rows.dims)
    level = f"{100 * cw.attrs['level']:g} %"
    head = " | ".join(others + [f"width at R = {getattr(rule, k):g} ({BOUNDARIES[k]}) [{level}]" for k in BOUNDARIES])
    lines = [f"{ds.attrs.get('experiment', 'dataset')}: critical widths from {cw.attrs['r_metric']} redundancy, "
             f"{cw.attrs['seeds']} seeds, {cw.attrs['n_boot']} bootstrap resamples", "", f"| {head} |",
             "|" + "---|" * (len(others) + len(BOUNDARIES))]
    for at in _cells(cw, others):
        cols = [f"{at[d]:g}" if isinstance(at[d], (int, float, np.number)) else str(at[d]) for d in others]
        v = cw.sel(at)
        for k in BOUNDARIES:
            cols.append(_fmt(float(v[f"width_{k}"]), float(v[f"width_{k}_lo"]), float(v[f"width_{k}_hi"]),
                             int(v[f"side_{k}"]), grid))
        lines.append("| " + " | ".join(cols) + " |")
    for dim in ("n_train", "epoch"):
        if dim not in others or cw.sizes[dim] < 3:
            continue
        lines += ["", f"Power laws width ∝ {dim}^b (least squares in log-log, b with its {level} bootstrap "
                  "interval; a law holds where R² ≥ 0.9 over ≥ 3 points):", ""]
        for at in _cells(cw, [d for d in others if d != dim]):
            sub = cw.sel(at)
            if dim == "epoch":
                sub = sub.sel(epoch=sub["epoch"] > 0)
            where = ", ".join(f"{d} {v:g}" for d, v in at.items())
            for k in BOUNDARIES:
                fit = power_law(sub[f"width_{k}"], sub[f"boot_{k}"], dim)
                if fit["points"] < 3:
                    values = f"{dim} values" + (" after epoch 0" if dim == "epoch" else "")
                    said = (f"a crossing inside the grid at {fit['points']} of the {sub.sizes[dim]} {values}: "
                            "too few to fit")
                elif not np.isfinite(fit["r2"]):
                    said = f"the same width at every {dim} over {fit['points']} points: no dependence"
                else:
                    verdict = "holds" if fit["r2"] >= 0.9 else "does not hold"
                    said = (f"b = {fit['b']:.2f} [{fit['b_lo']:.2f}, {fit['b_hi']:.2f}], R² = {fit['r2']:.2f} over "
                            f"{fit['points']} points: {verdict}")
                lines.append(f"- {where}, {BOUNDARIES[k]}: {said}")
    return "\n".join(lines) + "\n"
