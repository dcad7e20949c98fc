"""Where the phase chart's regimes meet: the widths at which redundancy crosses the rule's thresholds, with
ranges that say what the grid and the seeds allow, and power laws of those critical widths in sample size or
training time.

For each cell of the other axes (n_train, epoch, ...), `critical_widths` finds the smallest grid width at
which the seed-mean R (the rule's `r_metric`) falls below a threshold and interpolates between it and the
width before, linearly in R against log width. The under/critical boundary is R = r_hi, the
critical/sufficient one R = r_lo (sufficiency also needs the accuracy plateau; this is its R part). Below the
grid (R already under the threshold at the smallest width) and above it (never under) give NaN, with the
side recorded.

What a grid of a few seeds supports: the crossing lies between two grid widths (the *bracket*), wherever the
interpolation puts it, and each seed crosses in a bracket of its own. A critical width is therefore reported as
the seed mean's bracket with the *range* from the smallest to the largest bracket end of the mean and of every
seed: it holds the interpolation error and the spread of the seeds, and claims no confidence level (a
bootstrap over 3 seeds has 10 distinct resamples). A power law's exponent comes with the range of the exponents
fitted to every seed's crossings and to the brackets' lower and upper ends.
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from acthash.analysis.phase import redundancy_for
from acthash.params.phase_rule import PhaseRule

BOUNDARIES = {"r_hi": "under/critical", "r_lo": "critical/sufficient"}
LAW_R2 = 0.9  # a power law "holds" where its fit reaches this R² over at least 3 points


def _first_below(r: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """For every profile along the last axis of `r`: the index of the first value below `threshold` (the
    profile's length where none is), and whether every value of the profile is defined."""
    below = r < threshold
    return np.where(below.any(-1), below.argmax(-1), r.shape[-1]), np.isfinite(r).all(-1)


def crossing(widths: np.ndarray, r: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """For every profile along the last axis of `r` (over `widths`): the width where r first falls below
    `threshold`, and its side: 0 inside the grid, -1 below its smallest width, +1 above its largest (width
    NaN), or 0 with NaN where the profile has an undefined value."""
    r = np.asarray(r, dtype=float)
    lw = np.log(np.asarray(widths, dtype=float))
    first, finite = _first_below(r, threshold)
    found = first < r.shape[-1]
    i = np.where(found, first, 0)  # the first width below the threshold (0 where none is)
    j = np.maximum(i - 1, 0)
    r0 = np.take_along_axis(r, j[..., None], -1)[..., 0]
    r1 = np.take_along_axis(r, i[..., None], -1)[..., 0]
    inside = finite & found & (i > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (r0 - threshold) / (r0 - r1)  # linear in R against log width
        width = np.where(inside, np.exp(lw[j] + t * (lw[i] - lw[j])), np.nan)
    side = np.where(~finite, 0, np.where(~found, 1, np.where(i == 0, -1, 0)))
    return width, side


def bracket(widths: np.ndarray, r: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid widths between which each profile along the last axis of `r` first falls below `threshold`:
    (the width before, the first width below); 0 before the smallest width, inf where it never falls below (and
    NaN where the profile has an undefined value)."""
    r = np.asarray(r, dtype=float)
    w = np.concatenate([[0.0], np.asarray(widths, dtype=float), [np.inf]])
    i, finite = _first_below(r, threshold)
    return np.where(finite, w[i], np.nan), np.where(finite, w[i + 1], np.nan)


def _crossings(r: xr.DataArray, threshold: float) -> tuple[xr.DataArray, xr.DataArray]:
    """Crossing widths and sides of every 1-D width profile of `r` (width last, no seed)."""
    width, side = crossing(r["width"].values, r.values, threshold)
    coords = {k: v for k, v in r.coords.items() if "width" not in v.dims}
    dims = r.dims[:-1]
    return xr.DataArray(width, coords, dims), xr.DataArray(side, coords, dims)


def critical_widths(ds: xr.Dataset, rule: PhaseRule = PhaseRule()) -> xr.Dataset:
    """For each threshold of BOUNDARIES and each cell of the other axes: `width_<key>` interpolated from the seed
    mean, `side_<key>` (-1 below the grid, +1 above), `bracket_<key>_lo/hi` (the grid widths around the seed
    mean's crossing), `width_<key>_lo/hi` (the range: the smallest and largest bracket end of the seed mean and
    of every seed; 0 and inf where one crosses below or above the grid), and `seed_<key>` (each seed's
    interpolated crossing, for fits)."""
    r = redundancy_for(ds, rule.r_metric)
    r = (r if "seed" in r.dims else r.expand_dims(seed=[0])).transpose(..., "seed", "width")
    mean, widths = r.mean("seed"), r["width"].values
    out = xr.Dataset()
    for key, name in BOUNDARIES.items():
        threshold = getattr(rule, key)
        width, side = _crossings(mean, threshold)
        lo, hi = (mean.isel(width=0, drop=True).copy(data=v) for v in bracket(widths, mean.values, threshold))
        seed_lo, seed_hi = bracket(widths, r.values, threshold)
        attrs = {"long_name": f"width at the {name} boundary", "units": "neurons",
                 "description": f"width where the seed-mean {rule.r_metric} redundancy falls below "
                                f"{key} = {threshold:g} (interpolated in log width)"}
        out[f"width_{key}"] = width.assign_attrs(attrs)
        out[f"side_{key}"] = side
        out[f"bracket_{key}_lo"], out[f"bracket_{key}_hi"] = lo, hi
        out[f"width_{key}_lo"] = lo.copy(data=np.fmin(lo.values, np.nanmin(seed_lo, axis=-1)))
        out[f"width_{key}_hi"] = hi.copy(data=np.fmax(hi.values, np.nanmax(seed_hi, axis=-1)))
        out[f"seed_{key}"] = r.isel(width=0, drop=True).copy(data=crossing(widths, r.values, threshold)[0])
    out.attrs.update(seeds=r.sizes["seed"], r_metric=rule.r_metric)
    return out


def power_law(cw: xr.Dataset, key: str, dim: str) -> dict[str, float]:
    """Fit width = a · x^b over `dim` (x > 0) by least squares in log-log to the seed mean's crossings
    (`width_<key>`, finite ones): b, R² of the fit (NaN when every width is the same), the points used (fewer
    than 3: no fit, NaN), and the range [b_lo, b_hi] of the same fit to every seed's crossings and to the lower
    and upper bracket ends, over the same points (a curve with a point outside the grid is left out)."""
    x = cw[dim].values.astype(float)
    y = cw[f"width_{key}"].transpose(dim).values.astype(float)
    ok = (x > 0) & np.isfinite(y)
    if ok.sum() < 3:
        return {"b": np.nan, "b_lo": np.nan, "b_hi": np.nan, "r2": np.nan, "points": int(ok.sum())}
    lx, ly = np.log(x[ok]), np.log(y[ok])
    b, a = np.polyfit(lx, ly, 1)
    spread = np.sum((ly - ly.mean()) ** 2)
    # R² is undefined when every width is the same (up to rounding: epoch 0's widths are one value per n)
    r2 = 1 - np.sum((ly - (a + b * lx)) ** 2) / spread if np.ptp(ly) > 1e-9 else np.nan
    curves = [cw[f"seed_{key}"].transpose("seed", dim).values[:, ok],
              *(cw[f"bracket_{key}_{end}"].transpose(dim).values[None, ok] for end in ("lo", "hi"))]
    slopes = [b] + [np.polyfit(lx, np.log(c), 1)[0] for c in np.concatenate(curves)
                    if (np.isfinite(c) & (c > 0)).all()]
    return {"b": float(b), "b_lo": float(min(slopes)), "b_hi": float(max(slopes)), "r2": float(r2),
            "points": int(ok.sum())}


def _cells(ds: xr.Dataset, dims: list[str]) -> list[dict]:
    """Every combination of the coordinate values of `dims` ([{}] for none), in grid order."""
    return [dict(zip(dims, values)) for values in itertools.product(*(ds[d].values for d in dims))]


def _fmt(v: xr.Dataset, key: str, widths: np.ndarray) -> str:
    """A critical width to the grid's precision: the seed mean's bracket, then the range over seeds."""
    side = int(v[f"side_{key}"])
    if side:
        return f"< {widths.min():g}" if side < 0 else f"> {widths.max():g}"
    lo, hi = float(v[f"width_{key}_lo"]), float(v[f"width_{key}_hi"])
    if not np.isfinite(float(v[f"width_{key}"])):
        return "–"
    low = f"< {widths.min():g}" if lo == 0 else f"{lo:g}"
    high = f"> {widths.max():g}" if np.isinf(hi) else f"{hi:g}"
    return f"{float(v[f'bracket_{key}_lo']):g}–{float(v[f'bracket_{key}_hi']):g} [{low}, {high}]"


def boundary_table(ds: xr.Dataset, rule: PhaseRule = PhaseRule()) -> str:
    """Markdown: the critical widths for every (epoch, n_train, ...) cell, then their power laws in n_train at
    each epoch and in training time (epochs ≥ 1) at each n_train, where the grid has those axes."""
    cw = critical_widths(ds, rule)
    grid = ds["width"].values
    others = list(cw[f"width_{next(iter(BOUNDARIES))}"].dims)
    head = " | ".join(others + [f"width at R = {getattr(rule, k):g} ({BOUNDARIES[k]})" for k in BOUNDARIES])
    lines = [f"{ds.attrs.get('experiment', 'dataset')}: critical widths from {cw.attrs['r_metric']} redundancy, "
             f"{cw.attrs['seeds']} seeds. Each: the grid widths between which the seed mean crosses, then "
             "[the range of the crossing brackets of the seed mean and of every seed].", "", f"| {head} |",
             "|" + "---|" * (len(others) + len(BOUNDARIES))]
    for at in _cells(cw, others):
        cols = [f"{at[d]:g}" if isinstance(at[d], (int, float, np.number)) else str(at[d]) for d in others]
        cols += [_fmt(cw.sel(at), k, grid) for k in BOUNDARIES]
        lines.append("| " + " | ".join(cols) + " |")
    for dim in ("n_train", "epoch"):
        if dim in others and cw.sizes[dim] >= 3:
            lines += _power_laws(cw, dim, [d for d in others if d != dim])
    return "\n".join(lines) + "\n"


def _power_laws(cw: xr.Dataset, dim: str, rest: list[str]) -> list[str]:
    lines = ["", f"Power laws width ∝ {dim}^b (least squares in log-log on the seed mean's interpolated crossings; "
             f"b with the range of the fits to each seed and to the brackets' ends; a law holds where R² ≥ {LAW_R2:g} "
             "over ≥ 3 points):", ""]
    for at in _cells(cw, rest):
        sub = cw.sel(at)
        if dim == "epoch":
            sub = sub.sel(epoch=sub["epoch"] > 0)
        where = ", ".join(f"{d} {v:g}" for d, v in at.items())
        for k in BOUNDARIES:
            fit = power_law(sub, k, dim)
            if fit["points"] < 3:
                values = f"{dim} values" + (" after epoch 0" if dim == "epoch" else "")
                said = f"a crossing inside the grid at {fit['points']} of the {sub.sizes[dim]} {values}: too few to fit"
            elif not np.isfinite(fit["r2"]):
                said = f"the same width at every {dim} over {fit['points']} points: no dependence"
            else:
                verdict = "holds" if fit["r2"] >= LAW_R2 else "does not hold"
                said = (f"b = {fit['b']:.2f} [{fit['b_lo']:.2f}, {fit['b_hi']:.2f}], R² = {fit['r2']:.2f} over "
                        f"{fit['points']} points: {verdict}")
            lines.append(f"- {where}, {BOUNDARIES[k]}: {said}")
    return lines
