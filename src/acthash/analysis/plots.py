"""Figures and tables from a merged Dataset: phase-chart regime maps, panels of metric lines, and the table of
a regularisation or noise factor. docs/figures.md shows and describes each.

Every axis is labelled from the dataset's own `long_name` and `units` (set by the merge from the metric
registry and the cell fields), so a figure and xarray's own plots say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter, NullLocator

from acthash.analysis.boundaries import BOUNDARIES, boundary_table, critical_widths
from acthash.analysis.dims import grid_dims
from acthash.analysis.phase import REGIMES, SLICES, classify, margin, robustness_table
from acthash.analysis.stats import mean_sd, pm
from acthash.params.cell import ALWAYS_DIMS, GRID_AXES
from acthash.params.registry import METRICS

COLORS = ["#f4b6b6", "#f7e39c", "#b7e2b1"]  # under, critical, sufficient
LOG_DIMS = ("width", "epoch", "n_train")  # drawn on log axes in line plots when they span 10× or more
AGREEMENT = 0.8  # below this share of seeds agreeing on a cell's regime, the cell is crossed
R_LEVELS = (0.5, 0.1, 0.01)  # R_test contours on regime maps, thick to thin
KNN_LEVELS = (0.9, 0.7, 0.5)  # K-NN test-accuracy contours, thick to thin
WIDTHS = (2.2, 1.4, 0.8)
PANELS = tuple(m.name for m in METRICS if m.drawn)  # the registry says which metrics are drawn and tabled
TABLE_METRICS = tuple(m.name for m in METRICS if m.tabled)
FORMATS = ("png", "svg")
CONTEXT = ("dataset", "arch", "depth")  # named in every figure's title when fixed
# the regularisation and noise axes (weight decay, BN, dropout, label noise, augmentation): one table each
FACTORS = tuple(a for a in GRID_AXES if a not in (*CONTEXT, "width", "n_train", "seed"))
MAX_HUES = 6  # lines per panel at most


def label(da: xr.DataArray) -> str:
    """Axis label of a variable or coordinate: its long_name, with its units unless dimensionless."""
    name, units = da.attrs.get("long_name", da.name), da.attrs.get("units")
    return f"{name} [{units}]" if units and units != "1" else str(name)


def _categorical(values: np.ndarray, dim: str) -> bool:
    """Drawn one equal step per value: names (arch), and the factors (weight decay spans 0 and 1e-6 … 1e-3)."""
    return dim in FACTORS or not np.issubdtype(values.dtype, np.number)


def _log_axis(values: np.ndarray, dim: str) -> bool:
    if dim not in LOG_DIMS or not np.issubdtype(values.dtype, np.number) or not (values > 0).any():
        return False
    return values.max() >= 10 * max(values[values > 0].min(), 1)


def _positions(values: np.ndarray, log: bool, categorical: bool) -> np.ndarray:
    """Line-plot positions: categories at 0, 1, …; on log axes 0 (epoch 0) drawn at 0.5."""
    if categorical:
        return np.arange(len(values), dtype=float)
    v = values.astype(float)
    return np.where(v == 0, 0.5, v) if log else v


def _tick_labels(values: np.ndarray, most: int = 10) -> list[str]:
    """The grid's own values as tick labels, every k-th one kept so that at most about `most` show."""
    step = -(-len(values) // most)
    return [(f"{v:g}" if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else str(v))
            if i % step == 0 else "" for i, v in enumerate(values)]


def _log_ticks(values: np.ndarray, most: int = 9) -> tuple[np.ndarray, list[str]]:
    """Ticks of a log axis at the grid's own values (0 drawn at 0.5): the first, then each value at least
    1/`most` of the axis' log span beyond the last one kept, and the last value, so labels never run into
    each other."""
    pos = _positions(values, True, False)
    logs = np.log10(pos)
    gap = (logs[-1] - logs[0]) / most
    shown = [0]
    for i in range(1, len(pos)):
        if logs[i] - logs[shown[-1]] >= gap:
            shown.append(i)
    last = len(pos) - 1
    if shown[-1] != last:  # the last value is always labelled, in place of a neighbour too close to it
        shown[-1 if len(shown) > 1 and logs[last] - logs[shown[-1]] < gap else len(shown):] = [last]
    return pos[shown], [_tick_labels([values[i]])[0] for i in shown]


def _reduce_to(ds: xr.Dataset, keep: tuple[str, ...]) -> xr.Dataset:
    """Fix every other dim at its last value (final epoch, largest n, ...) except seed."""
    return ds.sel({d: ds[d].values[-1] for d in grid_dims(ds) if d not in keep and d != "seed"})


def _fixed(ds: xr.Dataset, sub: xr.Dataset, skip: tuple[str, ...] = ()) -> str:
    """One line: the grid dims `sub` holds fixed (its value of each, also those a user selected before, e.g.
    `ds.sel(n_train=10000)`), the dataset and network, the seeds; dims in `skip` are left out."""
    held = [d for d in grid_dims(ds) if d != "seed" and d not in sub.dims]
    held += [d for d in ALWAYS_DIMS + CONTEXT
             if d != "seed" and d in sub.coords and sub[d].ndim == 0 and d not in held]
    held = [d for d in held if d not in skip]
    parts = [f"{d} {_tick_labels([sub[d].item()])[0]}" for d in held]
    return " · ".join(parts + [f"{sub.sizes.get('seed', 1)} seed(s)"])


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
    marks = (("seeds disagree (< 80 %)", chart["regime_agreement"].transpose(y, x).values < AGREEMENT, "x", 45),
             ("near-tie (a 10 % threshold move changes it)", chart["margin"].transpose(y, x).values == 1.1, "o", 110))
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
        axis.set_ticks(pos, _tick_labels(sub[dim].values, most=len(pos)))
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
    plateau of this slice (docs/spec.md Part B §3.1); hatched: no data; ✕: fewer than 80 % of seeds share the regime;
    dot: a near-tie (moving r_hi, r_lo or eps by 10 % changes it). Contours of R_test (solid, 0.5 / 0.1 /
    0.01) and K-NN test accuracy (dashed, 0.9 / 0.7 / 0.5), interpolated in log coordinates, where both axes
    are numeric. Other dims are fixed at their last value (final epoch, largest n, ...), as the title says;
    the legend lists only what is drawn."""
    ax = ax or plt.subplots(figsize=(6.4, 5.2))[1]
    sub = _reduce_to(ds, (x, y))
    used = _draw_map(ax, sub, x, y)
    ax.set_title(f"{ds.attrs.get('experiment', '')}: regimes over {x} × {y}\n{_fixed(ds, sub)}\n{regime_rule(x, y)}",
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
        used.update(_draw_map(ax, _reduce_to(sub, (x, y)), x, y))
        if v is not None:
            ax.set_title(f"{facet} {_tick_labels([v])[0]}", fontsize=9)
    for ax in axes.flat[len(values):]:
        ax.set_visible(False)
    first = _reduce_to(ds if values[0] is None else ds.sel({facet: values[0]}), (x, y))
    held = _fixed(ds, first, skip=(facet,))
    fig.suptitle(f"{ds.attrs.get('experiment', '')}: regimes over {x} × {y}, one panel per {facet}\n{held}\n"
                 f"{regime_rule(x, y)}", fontsize=9)
    fig.legend(handles=list(used.values()), loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    return fig


def boundary_lines(ds: xr.Dataset) -> plt.Figure:
    """The phase chart's boundaries over sample size: for each checkpoint epoch, the width at which R crosses
    r_hi (under/critical, solid) and r_lo (critical/sufficient, dashed) against n_train, log-log, with the range
    of the crossing brackets of the seed mean and of every seed as bars (`acthash.analysis.boundaries`; the
    values of `acthash boundaries`). Crossings outside the width grid are not drawn; the title says so."""
    from acthash.analysis.merge import phase_rule

    rule = phase_rule(ds)
    cw = critical_widths(_reduce_to(ds, ("width", "n_train", "epoch")), rule)
    fig, ax = plt.subplots(figsize=(6.8, 4.8), layout="constrained")
    epochs = cw["epoch"].values if "epoch" in cw.dims else [None]
    for i, e in enumerate(epochs):
        one = cw if e is None else cw.sel(epoch=e)
        color = plt.cm.viridis(0.85 * i / max(len(epochs) - 1, 1))
        for key, style in zip(BOUNDARIES, ("-", "--")):
            w = one[f"width_{key}"]
            ok = np.isfinite(w.values)
            if not ok.any():
                continue
            lo, hi = one[f"width_{key}_lo"].values[ok], one[f"width_{key}_hi"].values[ok]
            top = ds["width"].values.max()  # an interval open above the grid ends there, with a ▲
            yerr = np.vstack([w.values[ok] - np.maximum(lo, ds["width"].values.min()), np.minimum(hi, top) - w.values[ok]])
            n = w["n_train"].values[ok] * 1.05 ** (i - (len(epochs) - 1) / 2)  # epochs side by side
            ax.errorbar(n, w.values[ok], yerr=yerr, color=color, linestyle=style, marker="o",
                        ms=3, capsize=2, label=f"epoch {_tick_labels([e])[0]}" if key == "r_hi" and e is not None
                        else None)
            if np.isinf(hi).any():
                ax.scatter(n[np.isinf(hi)], np.full(np.isinf(hi).sum(), top), marker="^", color=color, s=25)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 3, 5, 7)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.set_xlabel(label(ds["n_train"]))
    ax.set_ylabel("critical width (neurons)")
    grid = ds["width"].values
    ax.set_title(f"{ds.attrs.get('experiment', '')}: where R_{rule.r_metric} crosses r_hi = {rule.r_hi:g} (solid) and "
                 f"r_lo = {rule.r_lo:g} (dashed)\nbars: the grid widths around the crossings of the mean and of each "
                 f"of {cw.attrs['seeds']} seeds\n(▲: open above width {grid.max():g}; crossings outside "
                 f"{grid.min():g}–{grid.max():g} not drawn; epochs side by side)",
                 fontsize=9)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, title="checkpoint", title_fontsize=7)
    elif not ax.lines and not ax.collections:  # every crossing outside the grid: say so on the empty axes
        ax.set_xlim(ds["n_train"].values.min() / 1.5, ds["n_train"].values.max() * 1.5)
        ax.set_ylim(grid.min() / 1.5, grid.max() * 1.5)
        ax.text(0.5, 0.5, f"R crosses neither threshold within widths {grid.min():g}–{grid.max():g}",
                transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.3")
    return fig


def panels(ds: xr.Dataset) -> tuple[str, ...]:
    """The metrics of `PANELS` that `ds` holds with at least one value."""
    return tuple(m for m in PANELS if m in ds and bool(ds[m].notnull().any()))


def metric_lines(ds: xr.Dataset, x: str = "width", hue: str | None = None,
                 metrics: tuple[str, ...] | None = None) -> plt.Figure:
    """A grid of panels, one per metric (default: every one of `PANELS` the dataset holds), each against `x`
    with the metric's long name and units on its y-axis: for each value of `hue`, the mean over seeds and a
    band of ± one standard deviation (with `hue="seed"`, one line per seed); at most six values of `hue`,
    evenly picked, first and last included. Widths, epochs and sample sizes
    spanning 10× or more are on log axes (epoch 0 drawn at 0.5). Other dims are fixed at their last value;
    the title states them. One legend for all panels."""
    metrics = metrics or panels(ds)
    if not metrics:
        raise ValueError(f"{ds.attrs.get('experiment', 'dataset')}: no metric with a value to draw")
    hue = hue if hue in ds.dims and hue != x else None
    ncols = min(4, len(metrics))
    nrows = -(-len(metrics) // ncols)
    # at least two panels wide, so that the two-line title fits above a single panel
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * max(ncols, 2), 2.8 * nrows + 0.9), squeeze=False)
    sub = _reduce_to(ds, (x,) + ((hue,) if hue else ()))
    categorical = _categorical(sub[x].values, x)
    log = not categorical and _log_axis(sub[x].values, x)
    xv = _positions(sub[x].values, log, categorical)
    hues = sub[hue].values if hue else [None]
    if len(hues) > MAX_HUES:  # a few lines, evenly picked, first and last included
        hues = hues[np.unique(np.linspace(0, len(hues) - 1, MAX_HUES).round().astype(int))]
    for ax, metric in zip(axes.flat, metrics):
        for i, h in enumerate(hues):
            da = sub[metric] if h is None else sub[metric].sel({hue: h})
            color = plt.cm.viridis(0.85 * i / max(len(hues) - 1, 1)) if hue else "C0"
            name = None if h is None else f"{hue} = {_tick_labels([h])[0]}"
            if "seed" in da.dims:
                mean, sd = (v.values for v in mean_sd(da))
                if da.sizes["seed"] > 1:  # one seed: no spread to draw
                    ax.fill_between(xv, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
            else:
                mean = da.values
            ax.plot(xv, mean, marker="o", ms=3, color=color, label=name)
        ax.set_ylabel(label(sub[metric]), fontsize=8)
        ax.set_xlabel(label(sub[x]), fontsize=8)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticks(*_log_ticks(sub[x].values))
        elif categorical or len(xv) <= 12:
            ax.set_xticks(xv, _tick_labels(sub[x].values))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    spread = "one line per seed" if hue == "seed" else "mean ± sd over seeds"
    fig.suptitle(f"{ds.attrs.get('experiment', '')}: metrics vs {x} ({spread})\n{_fixed(ds, sub)}", fontsize=10)
    if hue:
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="lower center", ncol=min(len(hues), 6),
                   fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if hue else 0, 1, 1))
    return fig


def factor_table(ds: xr.Dataset, factor: str, metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    """A markdown table of a regularisation or noise factor: one row per (width, factor value), one column per
    metric (mean ± sd over seeds), at the last epoch and the largest n."""
    sub = _reduce_to(ds, (factor, "width"))
    metrics = tuple(m for m in metrics if m in sub)
    head = f"| {label(sub['width'])} | {label(sub[factor])} | " + " | ".join(label(sub[m]) for m in metrics) + " |"
    lines = [f"{ds.attrs.get('experiment', '')}: {_fixed(ds, sub)}", "", head, "|" + "---|" * (2 + len(metrics))]
    for w in sub["width"].values:
        for v in sub[factor].values:
            cell = sub.sel(width=w, **{factor: v})
            stats = [mean_sd(cell[m]) if "seed" in cell[m].dims else (cell[m], np.nan) for m in metrics]
            lines.append(f"| {w:g} | {_tick_labels([v])[0]} | "
                         + " | ".join(pm(float(a), float(b)) for a, b in stats) + " |")
    return "\n".join(lines) + "\n"


def figures(ds: xr.Dataset) -> Iterator[tuple[str, plt.Figure]]:
    """Every figure the grid supports, as (file stem, figure), drawn one at a time: regime maps for each pair
    of (width, n_train), (width, epoch), (epoch, n_train) that both vary, as small multiples over the third
    axis (epoch, n_train, width; one figure per architecture), the critical widths over n_train where width
    and n_train vary (`boundary_lines`), and metric
    panels against each varying dim, coloured by the most telling other one (none when no metric has a
    value, e.g. every cell diverged)."""
    varying = [d for d in grid_dims(ds) if d != "seed" and ds.sizes[d] > 1]
    archs = [str(a) for a in ds["arch"].values] if "arch" in varying else [None]
    for (x, y), facet in zip(SLICES, ("epoch", "n_train", "width")):
        if x in varying and y in varying:
            for arch in archs:
                fig = regime_maps(ds if arch is None else ds.sel(arch=arch), x, y, facet)
                yield f"regimes_{x}_x_{y}{'' if arch is None else '_' + arch}", fig
    if "width" in varying and "n_train" in varying and "arch" not in varying and panels(ds):
        yield "boundaries_vs_n_train", boundary_lines(ds)
    for x in varying if panels(ds) else ():
        if "arch" in varying and x != "arch":
            hue = "arch"
        elif x != "width":
            hue = "width"
        else:
            hue = next((d for d in (*FACTORS, "n_train", "epoch") if d in varying), None)
        yield f"lines_vs_{x}", metric_lines(ds, x, hue)


def provenance_note(ds: xr.Dataset) -> tuple[str, bool]:
    """(a figure's footnote on where the cells were trained, whether they mix devices or acthash versions)."""
    mixed = ds.attrs.get("mixture", "none")
    if mixed != "none":
        return f"MIXED PROVENANCE: cells {mixed}", True
    return f"cells trained on {ds.attrs.get('trained_on', 'unrecorded')}", False


def render_all(metrics_path: Path | str, outdir: Path | str) -> list[Path]:
    """Write every figure of `figures` as PNG and SVG (each with `provenance_note` under it) and every table of
    `tables` as `table_<name>.md` under `outdir` (the kinds of `acthash.analysis.catalog`); returns their paths."""
    from acthash.analysis.merge import load

    ds = load(metrics_path)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    note, mixed = provenance_note(ds)
    for stem, fig in figures(ds):
        fig.text(0.01, 0, note, fontsize=7, va="top", color="crimson" if mixed else "0.4")
        for fmt in FORMATS:
            paths.append(outdir / f"{stem}.{fmt}")
            fig.savefig(paths[-1], dpi=130, bbox_inches="tight")
        plt.close(fig)
    for name, text in tables(ds):
        paths.append(outdir / f"table_{name}.md")
        paths[-1].write_text(text)
    return paths


def tables(ds: xr.Dataset) -> Iterator[tuple[str, str]]:
    """Every table the grid supports, as (name, Markdown): one per varying factor of `FACTORS`, the critical
    widths where width and n_train vary (as `boundaries_vs_n_train`), and the robustness of the regimes where a
    chart slice is drawn."""
    from acthash.analysis.merge import phase_rule

    for factor in FACTORS:
        if factor in ds.dims and ds.sizes[factor] > 1 and "width" in ds.dims:
            yield factor, factor_table(ds, factor)
    varying = [d for d in grid_dims(ds) if d != "seed" and ds.sizes[d] > 1]
    if "width" in varying and "n_train" in varying and "arch" not in varying and panels(ds):
        yield "boundaries", boundary_table(ds, phase_rule(ds))
    if "arch" not in varying and any(x in varying and y in varying for x, y in SLICES):
        yield "robustness", robustness_table(ds, phase_rule(ds))


def publish_figures(staged: Path | str, outdir: Path | str) -> None:
    """Publish every file of `staged` into `outdir`, each in one rename, then drop the files of `outdir` that
    the new set lacks: the old figures stay readable until their replacements are complete."""
    from acthash.store.atomic import publish_file

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = {p.name for p in Path(staged).iterdir() if p.is_file()}
    for name in sorted(names):
        publish_file(Path(staged) / name, outdir / name)
    for old in outdir.iterdir():
        if old.is_file() and old.name not in names:
            old.unlink()
