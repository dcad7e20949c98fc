"""The committed evidence against its registry (docs/evidence.yaml): each generated table is its command's output
on the committed data, each dataset is the view its entry makes, and `make reproduce` would run them all."""

import shutil

import numpy as np
import pytest
import xarray as xr
import yaml

from acthash.params.config import resolve
from acthash.run.cli import build_parser
from acthash.run.evidence import read_registry, reproduce, stale_tables

from .conftest import REPO


def test_every_generated_table_is_its_commands_output_on_the_committed_data():
    assert stale_tables(REPO) == []


def test_a_table_that_is_not_its_commands_output_is_named(tmp_path):
    datasets, tables = read_registry(REPO)
    for path in [*tables, *(d.path for d in datasets if "phase" in d.path), "docs/evidence.yaml"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    table = tmp_path / "docs/phase/boundaries.md"
    table.write_text(table.read_text().replace("| 0 |", "| 0.0 |", 1))  # as a hand edit would
    assert stale_tables(tmp_path) == ["docs/phase/boundaries.md"]


def merged_config(configfile: str) -> dict:
    """config/config.yaml with `configfile` merged in, as Snakemake's --configfile does (grids added)."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    if configfile:
        extra = yaml.safe_load((REPO / configfile).read_text())
        config["grids"] = {**config["grids"], **extra.pop("grids", {})}
        config.update(extra)
    return config


def test_every_committed_dataset_is_registered_and_is_the_view_its_entry_makes():
    datasets, _ = read_registry(REPO)
    committed = {str(p.relative_to(REPO)) for folder in ("docs/phase", "docs/reproduction")
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


def test_reproduce_prices_every_workflow_dataset_before_it_runs_one():
    steps = reproduce(REPO, dry_run=True)
    datasets, _ = read_registry(REPO)
    first_run = next(i for i, s in enumerate(steps) if not s.startswith("acthash estimate"))
    assert len(steps[:first_run]) == sum(not d.command for d in datasets)
    assert "snakemake --workflow-profile profiles/local --config experiments=mnist_width 'seed=[0, 1, 2]' " \
           "view=seeds3" in steps
    assert "cp results/mnist_width@seeds3/metrics.nc docs/reproduction/mnist_width@seeds3.nc" in steps


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
    from acthash.run.evidence import dataset_origins

    from .synthetic import merged

    coords = {"width": [10], "epoch": [0], "n_train": [100], "seed": [0, 1]}
    new = merged({"redundancy_test": np.zeros((1, 1, 1, 2))}, coords)
    cells = {"trained_version": "0.5.0", "measured_version": "0.5.0", "trained_on": "AMD EPYC"}
    new = new.assign({k: (("width", "n_train", "seed"), np.full((1, 1, 2), v)) for k, v in cells.items()})
    old = merged({"redundancy_test": np.zeros((1, 1, 1, 2))}, coords)
    old.attrs["acthash_version"] = "0.1.0"
    (tmp_path / "docs").mkdir()
    new.to_netcdf(tmp_path / "docs/new.nc")
    old.to_netcdf(tmp_path / "docs/old.nc")
    (tmp_path / "docs/evidence.yaml").write_text(yaml.safe_dump({"datasets": {
        f"docs/{name}.nc": {"command": "first-epoch"} for name in ("new", "old", "gone")}, "tables": {}}))
    assert dataset_origins(tmp_path) == {
        "docs/new.nc": ("trained by acthash 0.5.0 on AMD EPYC, measured by 0.5.0", ["0.5.0"]),
        "docs/old.nc": ("merged by acthash 0.1.0 (no per-cell provenance)", []), "docs/gone.nc": ("missing", [])}
