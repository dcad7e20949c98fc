"""The phase chart's regime maps (docs/figures.md): one block per grid cell, coloured by its regime, with
R_test and K-NN contours, seed disagreement and near-ties marked; small multiples over a third axis."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from acthash.analysis.catalog import AGREEMENT, KNN_LEVELS, R_LEVELS
from acthash.analysis.figure_axes import LOG_DIMS, held_fixed, label, reduce_to, tick_labels
from acthash.analysis.phase import MARGIN_FACTORS, REGIMES, classify, margin

COLORS = ["#f4b6b6", "#f7e39c", "#b7e2b1"]  # under, critical, sufficient
WIDTHS = (2.2, 1.4, 0.8)  # line widths of the contour levels, thick to thin


def _chart_positions(values: np.ndarray, dim: str) -> tuple[np.ndarray, bool]:
    """Positions of a regime map's axis: log10 of the grid values for width, epochs and sample size (epoch 0
    at log10 0.5, as the paper draws it), else one step per value; and whether the axis is in log units."""
    if dim in LOG_DIMS and np.issubdtype(values.dtype, np.number) and (values > 0).any() and len(values) > 1:
        return np.log10(np.where(values == 0, 0.5, values).astype(float)), True
    return np.arange(len(values), dtype=float), False


def _edges(pos: np.ndarray) -> np.ndarray:
    """Block edges halfway between positions; the outer blocks as wide as their neighbour's half-gap."""
    if len(pos) == 1:
        return np.array([pos[0] - 0.5, pos[0] + 0.5])
    mid = (pos[1:] + pos[:-1]) / 2
    return np.concatenate([[pos[0] - (mid[0] - pos[0])], mid, [pos[-1] + (pos[-1] - mid[-1])]])


def _slice_regimes(sub: xr.Dataset, x: str, y: str) -> xr.Dataset:
    """Regimes, seed agreement and margins of a slice, each cell against the slice's own plateau."""
    from acthash.analysis.merge import phase_rule

    rule = phase_rule(sub)
    out = classify(sub, rule, (x, y))
    return out.assign(margin=margin(sub, rule, (x, y)))


def _draw_map(ax: plt.Axes, sub: xr.Dataset, x: str, y: str) -> dict[str, object]:
    """One regime map of a 2-D slice `sub` on `ax`; returns the legend entries it used (label → handle)."""
    (px, logx), (py, logy) = _chart_positions(sub[x].values, x), _chart_positions(sub[y].values, y)
    chart = _slice_regimes(sub, x, y)
    regime = chart["regime"].transpose(y, x).values.astype(float)
    regime[regime < 0] = np.nan
    ex, ey = _edges(px), _edges(py)
    ax.pcolormesh(ex, ey, regime, cmap=ListedColormap(COLORS), norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3),
                  edgecolors="white", linewidth=0.6)
    used: dict[str, object] = {REGIMES[i]: Patch(facecolor=COLORS[i], label=REGIMES[i])
                               for i in range(3) if (regime == i).any()}
    for j, i in zip(*np.nonzero(np.isnan(regime))):
        ax.add_patch(Rectangle((ex[i], ey[j]), ex[i + 1] - ex[i], ey[j + 1] - ey[j], fill=False, hatch="///",
                               edgecolor="0.6", lw=0))
        used["no data"] = Patch(facecolor="white", hatch="///", edgecolor="0.6", label="no data")
    gx, gy = np.meshgrid(px, py)
    near = MARGIN_FACTORS[0]  # the smallest threshold move tried
    agree, margins = (chart[v].transpose(y, x).values for v in ("regime_agreement", "margin"))
    marks = ((f"seeds disagree (< {AGREEMENT * 100:.0f} %)", agree < AGREEMENT, "x", 45),
             (f"near-tie (a {(near - 1) * 100:.0f} % threshold move changes it)", margins == near, "o", 110))
    for name, where, marker, size in marks:
        if where.any():
            style = {"c": "0.2"} if marker == "x" else {"facecolors": "none", "edgecolors": "0.2"}
            ax.scatter(gx[where], gy[where], s=size, marker=marker, zorder=3, **style)
            used[name] = Line2D([], [], marker=marker, color="0.2", linestyle="", label=name,
                                markerfacecolor="0.2" if marker == "x" else "none")
    if logx and logy and len(px) > 1 and len(py) > 1:  # contours only where both axes are true (log) coordinates
        for var, levels, color, style in (("redundancy_test", R_LEVELS, "k", "-"),
                                          ("knn_test", KNN_LEVELS, "#1f3f99", "--")):
            da = sub[var].mean("seed") if "seed" in sub[var].dims else sub[var]
            z = da.transpose(y, x).values
            for level, lw in zip(levels, WIDTHS):
                if np.isfinite(z).any() and np.nanmin(z) < level < np.nanmax(z):
                    ax.contour(gx, gy, z, levels=[level], colors=color, linestyles=style, linewidths=lw)
                    name = f"{sub[var].attrs.get('long_name', var)} = {level:g}"
                    used[name] = Line2D([], [], color=color, linestyle=style, lw=lw, label=name)
    for axis, pos, dim in ((ax.xaxis, px, x), (ax.yaxis, py, y)):
        axis.set_ticks(pos, tick_labels(sub[dim].values, most=len(pos)))
    ax.tick_params(axis="x", labelrotation=90 if len(px) > 8 else 0, labelsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlim(ex[0], ex[-1])
    ax.set_ylim(ey[0], ey[-1])
    ax.set_xlabel(label(sub[x]), fontsize=8)  # the dataset's own label; the title says the axes are log
    ax.set_ylabel(label(sub[y]), fontsize=8)
    return used


def regime_rule(x: str, y: str) -> str:
    """The regime maps' line on how cells are coloured and placed (epoch 0 sits at 0.5 on a log epoch axis)."""
    where = ", epoch 0 at 0.5" if "epoch" in (x, y) else ""
    return f"colour: regime of the seed means against the slice's accuracy plateau · log axes{where}"


def regime_map(ds: xr.Dataset, x: str = "width", y: str = "n_train", ax: plt.Axes | None = None) -> plt.Axes:
    """The phase chart over (x, y): each grid cell one block at its grid value (log axes for width, epochs and
    sample size, epoch 0 at 0.5), coloured by the regime of its seed-mean metrics against the accuracy
    plateau of this slice (docs/spec.md Part B §3.1); hatched: no data; ✕: fewer than `AGREEMENT` of the seeds share
    the regime; dot: a near-tie (moving r_hi, r_lo or eps by the smallest of `MARGIN_FACTORS` changes it).
    Contours of R_test (solid, `R_LEVELS`) and K-NN test accuracy (dashed, `KNN_LEVELS`), interpolated in log
    coordinates, where both axes are numeric. Other dims are fixed at their last value (final epoch, largest n,
    ...), as the title says; the legend lists only what is drawn."""
    ax = ax or plt.subplots(figsize=(6.4, 5.2))[1]
    sub = reduce_to(ds, (x, y))
    used = _draw_map(ax, sub, x, y)
    title = f"{ds.attrs.get('experiment', '')}: regimes over {x} × {y}"
    ax.set_title(f"{title}\n{held_fixed(ds, sub)}\n{regime_rule(x, y)}",
                 fontsize=8)
    ax.legend(handles=list(used.values()), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)
    return ax


def regime_maps(ds: xr.Dataset, x: str, y: str, facet: str) -> plt.Figure:
    """Small multiples of `regime_map`: one (x, y) map per value of `facet` (e.g. width × n_train at each
    checkpoint epoch), so a reader sees how the chart moves along the third axis; one legend for all."""
    values = ds[facet].values if facet in ds.dims else [None]
    ncols = min(3, len(values))
    nrows = -(-len(values) // ncols)
    size = (3.6, 3.2) if len(values) > 1 else (6.0, 4.8)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(size[0] * ncols, 7.5), size[1] * nrows + 2.2),
                             squeeze=False, layout="constrained")
    used: dict[str, object] = {}
    for ax, v in zip(axes.flat, values):
        sub = ds if v is None else ds.sel({facet: v})
        used.update(_draw_map(ax, reduce_to(sub, (x, y)), x, y))
        if v is not None:
            ax.set_title(f"{facet} {tick_labels([v])[0]}", fontsize=9)
    for ax in axes.flat[len(values):]:
        ax.set_visible(False)
    first = reduce_to(ds if values[0] is None else ds.sel({facet: values[0]}), (x, y))
    held = held_fixed(ds, first, skip=(facet,))
    fig.suptitle(f"{ds.attrs.get('experiment', '')}: regimes over {x} × {y}, one panel per {facet}\n{held}\n"
                 f"{regime_rule(x, y)}", fontsize=9)
    fig.legend(handles=list(used.values()), loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    return fig
