"""What a view's figures folder holds, in one place: each kind of file (named by the word before the first `_` of
its name), when it is written, what draws it and its caption. `plots.render_all` writes the files, the workflow's
report files each under its kind with this caption, and docs/figures.md's table is `markdown_table()` (a test
checks it)."""

from __future__ import annotations

from dataclasses import dataclass

from acthash.params.cell import FACTORS

# what the regime maps mark, set here so that their captions say it: contour levels (thick to thin) and the share
# of seeds below which a cell's regime is crossed as uncertain
R_LEVELS = (0.5, 0.1, 0.01)
KNN_LEVELS = (0.9, 0.7, 0.5)
AGREEMENT = 0.8


@dataclass(frozen=True)
class FileKind:
    """One kind of file of a figures folder."""

    prefix: str  # the files' names start with "<prefix>_"
    files: str
    when: str
    drawn_by: str
    caption: str


KINDS = (
    FileKind("regimes", "`regimes_<x>_x_<y>.png` / `.svg`",
             "both dims of (width, n_train), (width, epoch) or (epoch, n_train) vary; one per architecture when "
             "`arch` varies (`…_<arch>`)",
             "`acthash.regime_maps(ds, x, y, third)` (one panel: `regime_map`)",
             "The activation hash phase chart over two axes, as small multiples over the third: each block a cell, "
             "red under-, yellow critically-, green sufficiently-expressive (seed means, against the accuracy "
             f"plateau of the slice drawn); R_test contours solid {R_LEVELS}, K-NN accuracy contours dashed "
             f"{KNN_LEVELS}; a grey cross where under {AGREEMENT * 100:.0f} % of the seeds share the regime, a circle "
             "at a near-tie."),
    FileKind("boundaries", "`boundaries_vs_n_train.png` / `.svg`", "width and n_train vary, one architecture, "
             "some metric has a value",
             "`acthash.boundary_lines(ds)`",
             "Critical widths against the sample size at each checkpoint epoch: where the seed-mean R_test falls "
             "below r_hi (solid) and below r_lo (dashed), interpolated in log width, with bars over the grid widths "
             "around the crossings of the mean and of every seed; crossings outside the width grid are not drawn."),
    FileKind("lines", "`lines_vs_<dim>.png` / `.svg`", "for every dim that varies",
             "`acthash.metric_lines(ds, x, hue)`",
             "Each metric against one axis: the mean over seeds with a band of ± one sample standard deviation (none "
             "for one seed), one line per value of the most telling other axis; other axes at their last value."),
    FileKind("table", "`table_<factor>.md`, `table_boundaries.md`, `table_robustness.md`",
             f"a factor ({', '.join(FACTORS)}) varies; as the boundaries figure "
             "(boundaries); a chart slice is drawn and one architecture (robustness)",
             "`acthash.factor_table(ds, factor)`, `acthash.boundary_table(ds)`, `acthash.robustness_table(ds)`",
             "A table: the levels of a factor against width (mean ± sd over seeds), the critical widths (grid "
             "brackets, ranges over seeds) and their power laws, or how many cells change regime when a threshold "
             "of the phase rule moves."),
)


def captions() -> dict[str, str]:
    """Each kind's caption, by prefix (the report's)."""
    return {kind.prefix: kind.caption for kind in KINDS}


def markdown_table() -> str:
    """The files of a figures folder as docs/figures.md lists them."""
    rows = [f"| {k.files} | {k.when} | {k.drawn_by} |" for k in KINDS]
    return "\n".join(["| file | when | drawn by |", "|---|---|---|", *rows]) + "\n"
