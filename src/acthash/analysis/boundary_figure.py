"""The phase chart's boundaries drawn over sample size: the critical widths of `acthash.analysis.boundaries`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from acthash.analysis.boundaries import BOUNDARIES, critical_widths
from acthash.analysis.figure_axes import label, reduce_to, tick_labels


def boundary_lines(ds: xr.Dataset) -> plt.Figure:
    """The phase chart's boundaries over sample size: for each checkpoint epoch, the width at which R crosses
    r_hi (under/critical, solid) and r_lo (critical/sufficient, dashed) against n_train, log-log, with the range
    of the crossing brackets of the seed mean and of every seed as bars (`acthash.analysis.boundaries`; the
    values of `acthash boundaries`). Crossings outside the width grid are not drawn; the title says so."""
    from acthash.analysis.merge import phase_rule

    rule = phase_rule(ds)
    cw = critical_widths(reduce_to(ds, ("width", "n_train", "epoch")), rule)
    fig, ax = plt.subplots(figsize=(6.8, 4.8), layout="constrained")
    epochs = cw["epoch"].values if "epoch" in cw.dims else [None]
    # an interval open above (below) the grid ends at its widest (narrowest) width, with a ▲ (▼)
    bottom, top = ds["width"].values.min(), ds["width"].values.max()
    for i, e in enumerate(epochs):
        one = cw if e is None else cw.sel(epoch=e)
        color = plt.cm.viridis(0.85 * i / max(len(epochs) - 1, 1))
        for key, style in zip(BOUNDARIES, ("-", "--")):
            w = one[f"width_{key}"]
            ok = np.isfinite(w.values)
            if not ok.any():
                continue
            lo, hi = one[f"width_{key}_lo"].values[ok], one[f"width_{key}_hi"].values[ok]
            yerr = np.vstack([w.values[ok] - np.maximum(lo, bottom), np.minimum(hi, top) - w.values[ok]])
            n = w["n_train"].values[ok] * 1.05 ** (i - (len(epochs) - 1) / 2)  # epochs side by side
            ax.errorbar(n, w.values[ok], yerr=yerr, color=color, linestyle=style, marker="o",
                        ms=3, capsize=2, label=f"epoch {tick_labels([e])[0]}" if key == "r_hi" and e is not None
                        else None)
            for open_end, at, marker in ((hi > top, top, "^"), (lo < bottom, bottom, "v")):
                if open_end.any():
                    ax.scatter(n[open_end], np.full(open_end.sum(), at), marker=marker, color=color, s=25)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 3, 5, 7)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.set_xlabel(label(ds["n_train"]))
    ax.set_ylabel("critical width (neurons)")
    ax.set_title(f"{ds.attrs.get('experiment', '')}: where R_{rule.r_metric} crosses r_hi = {rule.r_hi:g} (solid) and "
                 f"r_lo = {rule.r_lo:g} (dashed)\nbars: the grid widths around the crossings of the mean and of each "
                 f"of {cw.attrs['seeds']} seeds\n(▲/▼: open above width {top:g} / below {bottom:g}; "
                 f"crossings outside {bottom:g}–{top:g} not drawn; epochs side by side)",
                 fontsize=9)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, title="checkpoint", title_fontsize=7)
    elif not ax.lines and not ax.collections:  # every crossing outside the grid: say so on the empty axes
        ax.set_xlim(ds["n_train"].values.min() / 1.5, ds["n_train"].values.max() * 1.5)
        ax.set_ylim(bottom / 1.5, top * 1.5)
        ax.text(0.5, 0.5, f"R crosses neither threshold within widths {bottom:g}–{top:g}",
                transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.3")
    return fig
