"""The committed evidence against its registry (docs/evidence.yaml): each generated table is its command's output
on the committed data, each dataset is the view its entry makes, each committed figure is listed with the dataset
it is drawn from and was drawn from its committed bytes, and `make reproduce` would run them all."""

import shutil

import numpy as np
import pytest
import xarray as xr
import yaml

from acthash.params.config import resolve
from acthash.run.cli import build_parser
from acthash.run.evidence import (read_registry, reproduce, stale_figures, stale_tables, table_figure, write_figures,
                                  write_tables)

from .conftest import REPO

EVIDENCE_FOLDERS = ("docs/phase", "docs/reproduction", "docs/examples")  # where committed results live


def test_every_generated_table_is_its_commands_output_on_the_committed_data():
    assert stale_tables(REPO) == []


def table_figures(registry) -> set[str]:
    """The figures the table commands of `registry` draw beside their tables (their --figure)."""
    return {f for f in map(table_figure, registry.tables.values()) if f}


def evidence_copy(tmp_path):
    """The registry, its datasets, the files holding its tables and the tables' figures, copied under `tmp_path`."""
    registry = read_registry(REPO)
    files = {key.partition("#")[0] for key in registry.tables} | {d.path for d in registry.datasets}
    files |= table_figures(registry)
    for path in [*files, "docs/evidence.yaml"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    return tmp_path


def test_a_table_that_is_not_its_commands_output_is_named(tmp_path):
    root = evidence_copy(tmp_path)
    table = root / "docs/phase/boundaries.md"
    table.write_text(table.read_text().replace("| 0 |", "| 0.0 |", 1))  # as a hand edit would
    doc = root / "docs/reproduction/README.md"
    row = "| f11_sgd | 40 | 0.054 ± 0.022 |"  # the table f11-ablation inside the document
    assert doc.read_text().count(row) == 1
    doc.write_text(doc.read_text().replace(row, "| f11_sgd | 40 | 0.055 ± 0.022 |"))
    assert stale_tables(root) == ["docs/phase/boundaries.md", "docs/reproduction/README.md#f11-ablation"]


def test_tables_inside_a_document_are_rewritten_between_their_marks_only(tmp_path):
    """`acthash evidence tables` restores a stale table inside a document and leaves its prose as it is; a table
    whose marks are missing is an error naming it."""
    root = evidence_copy(tmp_path)
    doc = root / "docs/reproduction/README.md"
    committed = doc.read_text()
    at = committed.index("| f11_sgd | 40 |")
    edited = committed[:at] + committed[at:].replace("0.054", "0.999", 1) + "A line of prose.\n"
    doc.write_text(edited)
    assert "docs/reproduction/README.md#f11-ablation" in write_tables(root)
    assert doc.read_text() == committed + "A line of prose.\n"
    assert stale_tables(root) == []
    doc.write_text(committed.replace("<!-- end of table f11-ablation -->\n", ""))
    with pytest.raises(ValueError, match="table docs/reproduction/README.md#f11-ablation: .* must hold one line"):
        stale_tables(root)


def merged_config(configfile: str) -> dict:
    """config/config.yaml with `configfile` merged in, as Snakemake's --configfile does (grids added)."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    if configfile:
        extra = yaml.safe_load((REPO / configfile).read_text())
        config["grids"] = {**config["grids"], **extra.pop("grids", {})}
        config.update(extra)
    return config


def test_every_committed_dataset_is_registered_and_is_the_view_its_entry_makes():
    datasets = read_registry(REPO).datasets
    committed = {str(p.relative_to(REPO)) for folder in EVIDENCE_FOLDERS
                 for p in (REPO / folder).rglob("*.nc")}
    assert committed == {d.path for d in datasets}
    for d in datasets:
        with xr.open_dataset(REPO / d.path, engine="h5netcdf") as ds:
            if d.command:  # a reading inside the first epoch: its command, and the fractions it holds
                args = build_parser().parse_args([*d.command.split(), "--out", d.path])
                np.testing.assert_allclose(ds["epoch"].values[1:], args.fractions, err_msg=d.path)
                continue
            config = {**merged_config(d.configfile), "experiments": d.experiment, **d.config,
                      **({"view": d.view} if d.view else {})}
            (view,) = resolve(config)
            assert view.name == d.view_name == ds.attrs["view"], d.path
            if "cell_hash" in ds:  # merged since 0.2.0: its cells are the view's
                assert {c.param_hash for c in view.cells} >= set(np.ravel(ds["cell_hash"].values)) - {""}, d.path


def test_every_committed_figure_is_registered_with_a_registered_dataset():
    """Each PNG under the evidence folders is a listed figure of a registered dataset or the --figure
    of a table command; each listed figure is committed."""
    registry = read_registry(REPO)
    committed = {str(p.relative_to(REPO)) for folder in EVIDENCE_FOLDERS
                 for p in (REPO / folder).rglob("*.png")}
    of_tables = table_figures(registry)
    assert committed == {p for f in registry.figures for p in f.paths} | of_tables
    assert {f.dataset for f in registry.figures} <= {d.path for d in registry.datasets}


def test_figures_are_redrawn_from_their_dataset_and_leave_the_folders_other_files(tmp_path, capsys):
    """`acthash evidence figures`: the listed PNGs drawn from the dataset, each as `acthash plot` draws it (no SVG
    or table beside them), another file of the folder untouched; a listed figure the dataset does not give is
    named."""
    from acthash.analysis.plots import render_all

    from .test_plots import dataset

    (tmp_path / "docs/figs").mkdir(parents=True)
    dataset(width=[10, 20, 40], epoch=[0, 1, 3]).to_netcdf(tmp_path / "docs/grid.nc")
    (tmp_path / "docs/figs/other.png").write_bytes(b"kept")
    entry = {"dataset": "docs/grid.nc", "files": ["lines_vs_width", "regimes_width_x_epoch"]}
    registry = {"datasets": {"docs/grid.nc": {"command": "first-epoch"}}, "tables": {}, "figures": {"docs/figs": entry}}
    (tmp_path / "docs/evidence.yaml").write_text(yaml.safe_dump(registry))
    args = build_parser().parse_args(["evidence", "figures", "--root", str(tmp_path)])
    args.func(args)
    assert capsys.readouterr().out.split() == ["docs/figs/lines_vs_width.png", "docs/figs/regimes_width_x_epoch.png"]
    render_all(tmp_path / "docs/grid.nc", tmp_path / "drawn")
    for stem in entry["files"]:
        assert (tmp_path / f"docs/figs/{stem}.png").read_bytes() == (tmp_path / f"drawn/{stem}.png").read_bytes()
    assert sorted(p.name for p in (tmp_path / "docs/figs").iterdir()) == \
        ["lines_vs_width.png", "other.png", "regimes_width_x_epoch.png"]
    assert (tmp_path / "docs/figs/lines_vs_width.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "docs/figs/other.png").read_bytes() == b"kept"
    entry["files"].append("regimes_width_x_n_train")  # n_train does not vary: never drawn
    (tmp_path / "docs/evidence.yaml").write_text(yaml.safe_dump(registry))
    with pytest.raises(ValueError, match="regimes_width_x_n_train of docs/figs are not drawn from docs/grid.nc"):
        write_figures(tmp_path)


def test_every_committed_figure_was_drawn_from_its_committed_dataset():
    assert stale_figures(REPO) == []


def test_a_figure_drawn_from_an_older_dataset_is_named_by_evidence_check(tmp_path):
    """Figures carry the SHA-256 of their data: redrawn they pass, the dataset changed (one value) or the stamp
    missing (a figure saved without it) they are named, with the command that redraws them."""
    import matplotlib.pyplot as plt

    from .test_plots import dataset

    grid = dataset(width=[10, 20, 40], epoch=[0, 1, 3])
    (tmp_path / "docs").mkdir()
    grid.to_netcdf(tmp_path / "docs/grid.nc")
    registry = {"datasets": {"docs/grid.nc": {"command": "first-epoch"}}, "tables": {},
                "figures": {"docs/figs": {"dataset": "docs/grid.nc", "files": ["lines_vs_width", "lines_vs_epoch"]}}}
    (tmp_path / "docs/evidence.yaml").write_text(yaml.safe_dump(registry))
    write_figures(tmp_path)
    assert stale_figures(tmp_path) == []
    check = build_parser().parse_args(["evidence", "check", "--root", str(tmp_path)])
    check.func(check)
    grid["redundancy_test"].values.flat[0] += 0.001
    grid.to_netcdf(tmp_path / "docs/grid.nc")
    assert stale_figures(tmp_path) == ["docs/figs/lines_vs_width.png", "docs/figs/lines_vs_epoch.png"]
    with pytest.raises(ValueError, match=r"not drawn from the committed data \(docs/evidence.yaml\): "
                       r"docs/figs/lines_vs_width.png, docs/figs/lines_vs_epoch.png; `acthash evidence figures`"):
        check.func(check)
    write_figures(tmp_path)
    assert stale_figures(tmp_path) == []
    plt.figure().savefig(tmp_path / "docs/figs/lines_vs_epoch.png")
    assert stale_figures(tmp_path) == ["docs/figs/lines_vs_epoch.png"]


def test_reproduce_prices_every_workflow_dataset_before_it_runs_one():
    steps = reproduce(REPO, dry_run=True)
    datasets = read_registry(REPO).datasets
    first_run = next(i for i, s in enumerate(steps) if not s.startswith("acthash estimate"))
    assert len(steps[:first_run]) == sum(not d.command for d in datasets)
    assert "snakemake --workflow-profile profiles/local --config experiments=mnist_width 'seed=[0, 1, 2]' " \
           "view=seeds3" in steps
    assert "cp results/mnist_width@seeds3/metrics.nc docs/reproduction/mnist_width@seeds3.nc" in steps
    assert steps[-2:] == ["acthash evidence tables", "acthash evidence figures"]  # from the datasets just copied


def test_a_failing_step_stops_reproduce_with_one_line_naming_it(tmp_path):
    """A command dataset whose command fails: the run stops there, says which step failed and that it resumes."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "evidence.yaml").write_text(yaml.safe_dump(
        {"datasets": {"docs/x.nc": {"command": "boundaries no-such-file.nc"}}, "tables": {}}))
    with pytest.raises(SystemExit, match=r"`acthash boundaries no-such-file.nc --out docs/x.nc` failed \(exit \d+\)"
                                         r"; the steps before it are kept and the same command resumes"):
        reproduce(tmp_path)


def test_evidence_check_says_what_made_each_registered_dataset(tmp_path):
    """Per dataset: the versions and hardware its cells name, what an older merge records, or that it is missing."""
    from acthash import __version__
    from acthash.run.evidence import dataset_origins, origins_table

    from .synthetic import merged

    coords = {"width": [10], "epoch": [0], "n_train": [100], "seed": [0, 1]}
    new = merged({"redundancy_test": np.zeros((1, 1, 1, 2))}, coords)
    cells = {"trained_version": __version__, "measured_version": __version__, "trained_on": "AMD EPYC"}
    new = new.assign({k: (("width", "n_train", "seed"), np.full((1, 1, 2), v)) for k, v in cells.items()})
    old = merged({"redundancy_test": np.zeros((1, 1, 1, 2))}, coords)
    old.attrs["acthash_version"] = "0.1.0"
    (tmp_path / "docs").mkdir()
    new.to_netcdf(tmp_path / "docs/new.nc")
    old.to_netcdf(tmp_path / "docs/old.nc")
    (tmp_path / "docs/evidence.yaml").write_text(yaml.safe_dump({"datasets": {
        f"docs/{name}.nc": {"command": "first-epoch"} for name in ("new", "old", "gone")}, "tables": {}}))
    assert dataset_origins(tmp_path) == {
        "docs/new.nc": (f"trained by acthash {__version__} on AMD EPYC, measured by {__version__}", [__version__]),
        "docs/old.nc": ("merged by acthash 0.1.0 (no per-cell provenance)", []), "docs/gone.nc": ("missing", [])}
    table = origins_table(tmp_path).splitlines()
    assert table[0] == f"Datasets trained by acthash {__version__}: 1 of 3."
    assert table[4:] == ["| docs/gone.nc | missing |",  # in the registry's order
                         f"| docs/new.nc | trained by acthash {__version__} on AMD EPYC, measured by {__version__} |",
                         "| docs/old.nc | merged by acthash 0.1.0 (no per-cell provenance) |"]
