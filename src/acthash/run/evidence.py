"""The committed evidence (docs/evidence.yaml): which merged dataset comes from which experiment and view, which
table is the output of which command and which figures are drawn from which dataset. `acthash evidence` checks
the tables against their commands on the committed data, says what made each dataset, rewrites the tables,
redraws the figures, or regenerates everything: each dataset rerun by the workflow (resumable: cells already
computed are kept), copied into docs/, then the tables and figures. A table is a file of its own or lies inside a
document between two marks."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGISTRY = "docs/evidence.yaml"


@dataclass(frozen=True)
class Dataset:
    """One committed dataset: made by the workflow (`experiment`, `config` overrides, `view`, `configfile`) or
    by an acthash `command` whose `--out` is the file."""

    path: str
    experiment: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    view: str = ""
    configfile: str = ""
    command: str = ""

    @property
    def overrides(self) -> list[str]:
        """The `config` overrides and the view name as `key=value` words (`--config`, `acthash estimate --set`)."""
        return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in self.config.items()] + \
            ([f"view={self.view}"] if self.view else [])

    def snakemake_args(self) -> list[str]:
        """The workflow's arguments that make this dataset's view."""
        extra = ["--configfile", self.configfile] if self.configfile else []
        return [*extra, "--config", f"experiments={self.experiment}", *self.overrides]

    def estimate_args(self) -> list[str]:
        """`acthash estimate`'s arguments for this dataset's view."""
        config = ["--config", self.configfile] if self.configfile else []
        return [self.experiment, *config, *(["--set", *self.overrides] if self.overrides else [])]

    @property
    def view_name(self) -> str:
        """The view the workflow gives it (and its merged dataset's `view` attribute)."""
        return f"{self.experiment}@{self.view}" if self.view else self.experiment


@dataclass(frozen=True)
class Figures:
    """One folder of committed figures: the registered dataset they are drawn from and the stems of the PNGs
    kept (of those `acthash plot` draws for it)."""

    folder: str
    dataset: str
    files: tuple[str, ...]

    @property
    def paths(self) -> list[str]:
        """The PNGs' paths under the repository."""
        return [f"{self.folder}/{stem}.png" for stem in self.files]


@dataclass(frozen=True)
class Registry:
    """What docs/evidence.yaml lists: the datasets, each table's acthash command line, the figure folders."""

    datasets: list[Dataset]
    tables: dict[str, str]
    figures: list[Figures]


def read_registry(root: Path | str = ".") -> Registry:
    """The registry under `root`."""
    reg = yaml.safe_load((Path(root) / REGISTRY).read_text())
    return Registry([Dataset(path, **entry) for path, entry in reg["datasets"].items()], dict(reg["tables"]),
                    [Figures(folder, entry["dataset"], tuple(entry["files"]))
                     for folder, entry in (reg.get("figures") or {}).items()])


def table_output(command: str, root: Path | str = ".", figures: bool = True) -> str:
    """What the acthash command line `command` prints, run in `root` (its paths are relative to it); without
    `figures`, a `--figure` it writes beside its table is left out (the table is the same)."""
    from acthash.run.cli import build_parser

    words = shlex.split(command)
    if not figures and "--figure" in words:
        at = words.index("--figure")
        del words[at: at + 2]
    out, here = io.StringIO(), os.getcwd()
    args = build_parser().parse_args(words)
    try:
        os.chdir(root)
        with contextlib.redirect_stdout(out):
            args.func(args)
    finally:
        os.chdir(here)
    return out.getvalue()


def _block_marks(name: str) -> tuple[str, str]:
    """The lines that open and close the table `name` inside a document."""
    return (f"<!-- table {name}: the output of its command in {REGISTRY}; `acthash evidence tables` rewrites it -->\n",
            f"<!-- end of table {name} -->\n")


def _table_span(text: str, key: str) -> tuple[int, int]:
    """Where the table `key` (a file, or `file#name` for a table inside a document) lies in its file's `text`."""
    path, _, name = key.partition("#")
    if not name:
        return 0, len(text)
    start, end = _block_marks(name)
    at, stop = text.find(start), text.find(end)
    if at < 0 or stop < at or text.count(start) != 1:
        raise ValueError(f"{REGISTRY}: table {key}: {path} must hold one line {start.strip()!r}, then the table, "
                         f"then {end.strip()!r}")
    return at + len(start), stop


def read_table(key: str, root: Path | str = ".") -> str:
    """The committed table `key` of the registry: a whole file, or (`file#name`) the lines of a document between
    the table's marks."""
    text = (Path(root) / key.partition("#")[0]).read_text()
    at, stop = _table_span(text, key)
    return text[at:stop]


def stale_tables(root: Path | str = ".") -> list[str]:
    """The tables of the registry that are not what their commands print on the committed data."""
    return [key for key, command in read_registry(root).tables.items()
            if read_table(key, root) != table_output(command, root, figures=False)]


def table_figure(command: str) -> str | None:
    """The figure a table command draws beside its table (its `--figure`), or None."""
    words = shlex.split(command)
    return words[words.index("--figure") + 1] if "--figure" in words else None


def figure_sources(root: Path | str = ".") -> dict[str, list[str]]:
    """Each committed figure → the datasets it is drawn from: a figure folder's registered dataset, or the
    datasets a table command that draws a `--figure` names, in its order."""
    registry = read_registry(root)
    sources = {path: [entry.dataset] for entry in registry.figures for path in entry.paths}
    for command in registry.tables.values():
        if figure := table_figure(command):
            sources[figure] = [w for w in shlex.split(command) if w.endswith(".nc")]
    return sources


def stale_figures(root: Path | str = ".") -> list[str]:
    """The committed figures whose recorded source (`acthash.store.figure_source`) is not the committed data they
    are drawn from: drawn from an older dataset, or missing."""
    from acthash.store.figure_source import png_source, source_digest

    root = Path(root)
    return [path for path, datasets in figure_sources(root).items()
            if not (root / path).exists() or png_source(root / path) != source_digest(root / d for d in datasets)]


def dataset_origins(root: Path | str = ".") -> dict[str, tuple[str, list[str]]]:
    """Each registered dataset → (what trained and measured its cells, `acthash.analysis.drift.provenance`, or
    "missing"; the acthash versions that trained them): how far a regeneration has come."""
    from acthash.analysis.drift import provenance, recorded
    from acthash.analysis.merge import load

    out = {}
    for d in read_registry(root).datasets:
        path = Path(root) / d.path
        ds = load(path) if path.exists() else None
        out[d.path] = ("missing", []) if ds is None else (provenance(ds), recorded(ds, "trained_version"))
    return out


def origins_table(root: Path | str = ".") -> str:
    """What made each registered dataset (`dataset_origins`) as a Markdown table, after a line counting those
    this version of acthash trained."""
    from acthash import __version__

    origins = dataset_origins(root)
    current = sum(versions == [__version__] for _, versions in origins.values())
    lines = [f"Datasets trained by acthash {__version__}: {current} of {len(origins)}.", "",
             "| dataset | what made it |", "|---|---|"]
    return "\n".join(lines + [f"| {path} | {origin} |" for path, (origin, _) in origins.items()]) + "\n"


def write_tables(root: Path | str = ".") -> list[str]:
    """Rewrite every table of the registry from its command (a table inside a document: its lines between the
    marks, the rest of the document kept); returns their keys."""
    tables = read_registry(root).tables
    for key, command in tables.items():
        path = Path(root) / key.partition("#")[0]
        text = path.read_text()
        at, stop = _table_span(text, key)
        path.write_text(text[:at] + table_output(command, root) + text[stop:])
    return list(tables)


def write_figures(root: Path | str = ".") -> list[str]:
    """Redraw every figure of the registry from its committed dataset: `acthash plot`'s drawing into a temporary
    folder, the listed PNGs published into place one rename each (the folder's other files stay); returns their
    paths. A listed figure the dataset does not give is an error naming it."""
    from acthash.analysis.plots import render_all
    from acthash.store.atomic import publish_file

    written = []
    for entry in read_registry(root).figures:
        with tempfile.TemporaryDirectory() as staged:
            drawn = {p.name for p in render_all(Path(root) / entry.dataset, staged)}
            missing = [stem for stem in entry.files if f"{stem}.png" not in drawn]
            if missing:
                raise ValueError(f"{REGISTRY}: figures {', '.join(missing)} of {entry.folder} are not drawn from "
                                 f"{entry.dataset}")
            (Path(root) / entry.folder).mkdir(parents=True, exist_ok=True)
            for stem, path in zip(entry.files, entry.paths):
                publish_file(Path(staged) / f"{stem}.png", Path(root) / path)
                written.append(path)
    return written


def reproduce(root: Path | str = ".", dry_run: bool = False, profile: str = "profiles/local") -> list[str]:
    """Regenerate every dataset of the registry, then its tables and figures: first the cost of each workflow dataset
    (`acthash estimate`), then each by Snakemake (cells already computed are kept, so a rerun resumes), its
    merged dataset copied to its place under docs/, each command dataset by its command. With `dry_run`, only
    the commands, in order. Returns them. A step that fails stops the run with one line naming it; what was
    done before it stays, and the same call resumes."""
    datasets = read_registry(root).datasets
    steps = [["acthash", "estimate", *d.estimate_args()] for d in datasets if not d.command]
    for d in datasets:
        if d.command:
            steps.append(["acthash", *shlex.split(d.command), "--out", d.path])
        else:
            steps.append(["snakemake", "--workflow-profile", profile, *d.snakemake_args()])
            steps.append(["cp", f"results/{d.view_name}/metrics.nc", d.path])
    steps += [["acthash", "evidence", "tables"], ["acthash", "evidence", "figures"]]
    for step in steps:
        print(shlex.join(step), file=sys.stderr, flush=True)
        if dry_run:
            continue
        if step[0] == "cp":
            shutil.copyfile(Path(root) / step[1], Path(root) / step[2])
        elif (rc := subprocess.run(step, cwd=root).returncode) != 0:
            hint = (" (a Snakemake run killed earlier leaves its folder locked: if no other runs, the same snakemake "
                    "command with --unlock frees it)" if step[0] == "snakemake" else "")
            raise SystemExit(f"acthash evidence reproduce: `{shlex.join(step)}` failed (exit {rc}){hint}; the "
                             "steps before it are kept and the same command resumes")
    return [shlex.join(s) for s in steps]
