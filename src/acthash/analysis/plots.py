"""Every figure and table of a merged dataset, written to a view's figures folder (the kinds of
`acthash.analysis.catalog`; docs/figures.md shows and describes each). The figures are drawn by
`regime_figure`, `boundary_figure` and `line_figure`, the tables by `tables`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import xarray as xr

from acthash.analysis.boundary_figure import boundary_lines
from acthash.analysis.dims import varying_dims
from acthash.analysis.line_figure import metric_lines, panels
from acthash.analysis.phase import SLICES
from acthash.analysis.regime_figure import regime_maps
from acthash.analysis.tables import shows_boundaries, tables
from acthash.params.cell import FACTORS

FORMATS = ("png", "svg")


def figures(ds: xr.Dataset) -> Iterator[tuple[str, plt.Figure]]:
    """Every figure the grid supports, as (file stem, figure), drawn one at a time: regime maps for each pair
    of (width, n_train), (width, epoch), (epoch, n_train) that both vary, as small multiples over the third
    axis (epoch, n_train, width; one figure per architecture), the critical widths over n_train where width
    and n_train vary (`boundary_lines`), and metric
    panels against each varying dim, coloured by the most telling other one (none when no metric has a
    value, e.g. every cell diverged)."""
    varying = varying_dims(ds)
    archs = [str(a) for a in ds["arch"].values] if "arch" in varying else [None]
    for (x, y), facet in zip(SLICES, ("epoch", "n_train", "width")):
        if x in varying and y in varying:
            for arch in archs:
                fig = regime_maps(ds if arch is None else ds.sel(arch=arch), x, y, facet)
                yield f"regimes_{x}_x_{y}{'' if arch is None else '_' + arch}", fig
    if shows_boundaries(ds):
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
    """(a figure's note on where the cells were trained, whether they mix devices or acthash versions)."""
    mixed = ds.attrs.get("mixture", "none")
    if mixed != "none":
        return f"MIXED PROVENANCE: cells {mixed}", True
    device = ds.attrs.get("trained_on", "unrecorded")
    if device == "unrecorded":  # merged before cells recorded their device, or by cells that lack it
        version = ds.attrs.get("acthash_version", "?")
        return f"where the cells were trained is not recorded (merged by acthash {version})", False
    return f"cells trained on {device}", False


def render_all(metrics_path: Path | str, outdir: Path | str) -> list[Path]:
    """Write every figure of `figures` as PNG and SVG (each with `provenance_note` above its title and the file it
    is drawn from in its metadata, `acthash.store.figure_source`) and every table of `tables` as `table_<name>.md`
    under `outdir` (the kinds of `acthash.analysis.catalog`); returns their paths."""
    from acthash.analysis.merge import load
    from acthash.store.figure_source import source_metadata

    ds = load(metrics_path)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    note, mixed = provenance_note(ds)
    source = source_metadata([metrics_path])
    for stem, fig in figures(ds):
        # above the title: a legend the layout engine places under the panels may reach the bottom edge
        fig.text(0.01, 1, note, fontsize=7, va="bottom", color="crimson" if mixed else "0.4")
        for fmt in FORMATS:
            paths.append(outdir / f"{stem}.{fmt}")
            fig.savefig(paths[-1], dpi=130, bbox_inches="tight", metadata=source)
        plt.close(fig)
    for name, text in tables(ds):
        paths.append(outdir / f"table_{name}.md")
        paths[-1].write_text(text)
    return paths


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
