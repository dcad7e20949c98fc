"""Figures from a merged Dataset: 2-D phase-chart regime maps and paper-style metric line plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from .phase import REGIMES  # noqa: E402

COLORS = ["#f4b6b6", "#f7e39c", "#b7e2b1"]  # under, critical, sufficient
LOG_DIMS = ("epoch", "n_train")
LABELS = {"width": "width (neurons per layer; CNN: base channels)", "arch": "architecture",
          "epoch": "training epochs", "n_train": "training examples n",
          "weight_decay": "weight decay (L2)", "label_noise": "label noise ratio", "dropout": "dropout rate",
          "bn": "batch normalisation", "depth": "depth", "seed": "seed"}
LINE_METRICS = ("redundancy_train", "redundancy_test", "kmeans_purity_train", "knn_test", "logreg_test", "net_acc_test")


def _axis_values(values: np.ndarray, dim: str) -> np.ndarray:
    """Plot positions: epoch 0 drawn at 0.5 on log axes, as the paper's figures; categories (arch) at 0, 1, …"""
    if not np.issubdtype(values.dtype, np.number):
        return np.arange(len(values), dtype=float)
    v = values.astype(float)
    return np.where(v == 0, 0.5, v) if dim in LOG_DIMS else v


def _ticks(ax: plt.Axes, which: str, dim: str, values: np.ndarray) -> None:
    """Log scale for epochs and sample sizes, with ticks at the grid's own values (at most about 8 labelled;
    epoch 0, drawn at 0.5, is labelled 0) and no minor ticks; categories (arch) labelled by name."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    pos = _axis_values(values, dim)
    if dim in LOG_DIMS:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        step = -(-len(values) // 8)
        axis.set_minor_locator(NullLocator())
        axis.set_ticks(pos, [f"{v:g}" if i % step == 0 else "" for i, v in enumerate(values)])
    elif not np.issubdtype(values.dtype, np.number):
        axis.set_ticks(pos, [str(v) for v in values])


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    t = np.log(v) if log else v
    if len(t) == 1:
        mid = np.array([t[0] - 0.5, t[0] + 0.5]) if not log else np.array([t[0] - 0.3, t[0] + 0.3])
    else:
        inner = (t[1:] + t[:-1]) / 2
        mid = np.concatenate([[t[0] - (inner[0] - t[0])], inner, [t[-1] + (t[-1] - inner[-1])]])
    return np.exp(mid) if log else mid


def _reduce_to(ds: xr.Dataset, keep: tuple[str, ...]) -> xr.Dataset:
    """Fix every other dim at its last value (final epoch, largest n, ...) except seed, which is averaged."""
    sel = {d: ds[d].values[-1] for d in ds.dims if d not in keep and d != "seed"}
    return ds.sel(sel)


def regime_map(ds: xr.Dataset, x: str = "width", y: str = "n_train", ax: plt.Axes | None = None) -> plt.Axes:
    """Regime colours over (x, y) with R_test contours (solid: 0.5, 0.1, 0.01) and K-NN contours (dashed);
    other dims fixed at their last value; a grey ✕ where fewer than 80 % of seeds agree on the regime."""
    ax = ax or plt.subplots(figsize=(6, 4.5))[1]
    sub = _reduce_to(ds, (x, y))
    xv, yv = _axis_values(sub[x].values, x), _axis_values(sub[y].values, y)
    regime = sub["regime"].transpose(y, x).values.astype(float)
    regime[regime < 0] = np.nan
    cmap, norm = ListedColormap(COLORS), BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3)
    ax.pcolormesh(_edges(xv, x in LOG_DIMS), _edges(yv, y in LOG_DIMS), regime, cmap=cmap, norm=norm, shading="flat")
    agree = sub["regime_agreement"].transpose(y, x).values
    xx, yy = np.meshgrid(xv, yv)
    ax.scatter(xx, yy, s=6, c="k", zorder=3)
    ax.scatter(xx[agree < 0.8], yy[agree < 0.8], s=60, marker="x", c="0.3", zorder=3, label="seeds disagree")
    if len(xv) > 1 and len(yv) > 1:
        r = sub["redundancy_test"].mean("seed").transpose(y, x).values
        cs = ax.contour(xx, yy, r, levels=[0.01, 0.1, 0.5], colors="k", linewidths=1)
        ax.clabel(cs, fmt=lambda v: f"R={v:g}", fontsize=7)
        acc = sub["knn_test"].mean("seed").transpose(y, x).values
        cs = ax.contour(xx, yy, acc, levels=[0.5, 0.7, 0.9], colors="navy", linestyles="--", linewidths=1)
        ax.clabel(cs, fmt=lambda v: f"kNN={v:g}", fontsize=7)
    _ticks(ax, "x", x, sub[x].values)
    _ticks(ax, "y", y, sub[y].values)
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    fixed = ", ".join(f"{d}={sub[d].values}" for d in sub.coords if sub[d].ndim == 0 and d not in ("dataset",))
    ax.set_title(f"{ds.attrs.get('experiment', '')}: regimes over {x} × {y}\n({fixed})", fontsize=9)
    handles = [Patch(color=c, label=REGIMES[i]) for i, c in enumerate(COLORS)]
    handles.append(Line2D([], [], marker="x", color="0.3", linestyle="", label="seeds disagree (< 80 %)"))
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    return ax


def metric_lines(ds: xr.Dataset, x: str = "width", hue: str | None = None,
                 metrics: tuple[str, ...] = LINE_METRICS) -> plt.Figure:
    """One panel per metric (titled by its long name) vs `x`, one line per value of `hue`: the seed mean
    with a min–max band over seeds, or with `hue="seed"` each seed's own line. Other dims are fixed at
    their last value."""
    hue = hue if hue in ds.dims and hue != x else None
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.1 * len(metrics), 3.0), squeeze=False)
    sub = _reduce_to(ds, (x,) + ((hue,) if hue else ()))
    xv = _axis_values(sub[x].values, x)
    hues = sub[hue].values if hue else [None]
    for ax, metric in zip(axes[0], metrics):
        for i, h in enumerate(hues):
            da = sub[metric] if h is None else sub[metric].sel({hue: h})
            seeds = [d for d in ("seed",) if d in da.dims]
            color = plt.cm.viridis(i / max(len(hues) - 1, 1))
            ax.plot(xv, da.mean(seeds).values, marker="o", ms=3, color=color,
                    label=None if h is None else f"{hue}={h}")
            if seeds:
                ax.fill_between(xv, da.min(seeds).values, da.max(seeds).values, color=color, alpha=0.2, lw=0)
        ax.set_title(ds[metric].attrs.get("long_name", metric), fontsize=9)
        ax.set_xlabel(LABELS.get(x, x), fontsize=8)
        _ticks(ax, "x", x, sub[x].values)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if hue:
        axes[0][0].legend(fontsize=7)
    spread = "one line per seed" if hue == "seed" else "mean and min–max over seeds"
    fig.suptitle(f"{ds.attrs.get('experiment', '')}: metrics vs {x} ({spread})", fontsize=10)
    fig.tight_layout()
    return fig


def render_all(metrics_path: Path | str, outdir: Path | str) -> list[Path]:
    """Every figure the grid supports, as PNG files under `outdir`; returns their paths."""
    from .merge import load

    ds = load(metrics_path)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    varying = [d for d in ds.dims if d != "seed" and ds.sizes[d] > 1]
    archs = [str(a) for a in ds["arch"].values] if "arch" in varying else [None]  # one regime map per network
    paths = []
    for x, y in (("width", "n_train"), ("width", "epoch"), ("epoch", "n_train")):
        if x in varying and y in varying:
            for arch in archs:
                ax = regime_map(ds if arch is None else ds.sel(arch=arch), x, y)
                paths.append(_save(ax.figure, outdir / f"regimes_{x}_x_{y}{'' if arch is None else '_' + arch}.png"))
    for x in varying:
        if "arch" in varying and x != "arch":
            hue = "arch"
        elif x != "width":
            hue = "width"
        else:
            hue = next((d for d in ("n_train", "epoch") if d in varying), None)
        paths.append(_save(metric_lines(ds, x, hue), outdir / f"lines_vs_{x}.png"))
    return paths


def publish_figures(staged: Path | str, outdir: Path | str) -> None:
    """Publish every file of `staged` into `outdir`, each in one rename, then drop the files of `outdir` that
    the new set lacks: the old figures stay readable until their replacements are complete."""
    from .merge import publish_file

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = {p.name for p in Path(staged).iterdir() if p.is_file()}
    for name in sorted(names):
        publish_file(Path(staged) / name, outdir / name)
    for old in outdir.iterdir():
        if old.is_file() and old.name not in names:
            old.unlink()


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path
