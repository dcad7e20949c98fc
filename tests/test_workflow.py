"""The Snakemake workflow: lint, format, dry runs of every shipped experiment, config errors by key, and a
small grid run for real through profiles/local whose merged dataset has the documented contract."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from acthash.merge import MergeError, load, merge_plan

from .conftest import REPO, copy_workflow, snakemake

TINY = {"grids": {"tiny": {"dataset": "digits", "width": [4, 24], "n_train": [200, 1000], "seed": [0, 1],
                           "checkpoints": [0, 3], "early_stopping": False, "kmeans_n_init": 3}}}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of the workflow, config and profiles, with the tiny digits grid added."""
    root = copy_workflow(tmp_path_factory.mktemp("wf"))
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return root


def test_lint_is_clean(workdir):
    proc = snakemake(workdir, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    proc = subprocess.run(["snakefmt", "--check", str(REPO / "workflow")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_of_every_shipped_experiment(workdir):
    shipped = sorted(yaml.safe_load((REPO / "config/config.yaml").read_text())["grids"])
    proc = snakemake(workdir, "-n", "--config", "experiments=all")
    out = proc.stdout + proc.stderr
    for experiment in shipped:  # each gets its plan, training packs and merge
        assert f"results/{experiment}/plan.json" in out and f"results/{experiment}/metrics.nc" in out, experiment
        assert f"results/{experiment}/packs/" in out, experiment


@pytest.mark.parametrize("override, key", [("width=[0,10]", "width"), ("dropout=2", "dropout"),
                                           ("experiments=nope", "experiments"), ("lr=fast", "lr")])
def test_config_errors_name_the_key(workdir, override, key):
    proc = snakemake(workdir, "-n", "--config", override, check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr


def test_unknown_key_in_a_grid_is_named(workdir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"grids": {"tiny": {"dataset": "digits", "widht": [3]}}}))
    proc = snakemake(workdir, "-n", "--configfile", str(bad), "--config", "experiments=tiny", check=False)
    assert proc.returncode != 0 and "widht" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def tiny_run(workdir) -> Path:
    snakemake(workdir, "--workflow-profile", str(workdir / "profiles/local"), "--configfile",
              str(workdir / "tiny.yaml"), "--config", "experiments=tiny", "data_root=data", "--cores", "2")
    return workdir / "results" / "tiny"


@pytest.mark.slow
def test_small_grid_runs_locally_and_merges_to_the_contract(tiny_run):
    ds = load(tiny_run / "metrics.nc")
    assert dict(ds.sizes) == {"width": 2, "epoch": 2, "n_train": 2, "seed": 2}
    for var in ("redundancy_train", "redundancy_test", "kmeans_purity_train", "kmeans_purity_test",
                "kmeans_hungarian_train", "kmeans_hungarian_test", "knn_test", "logreg_test", "net_loss_train",
                "net_acc_train", "net_loss_test", "net_acc_test", "code_bits", "regime"):
        assert var in ds, var
        assert "description" in ds[var].attrs
    assert ds["depth"].item() == 1 and ds["dataset"].item() == "digits"
    assert np.isfinite(ds["knn_test"]).all() and set(np.unique(ds["regime"])) <= {0, 1, 2}
    assert ds.attrs["config_hash"] and "r_hi" in ds.attrs["phase"] and ds.attrs["acthash_version"]
    assert ds["net_acc_test"].sel(epoch=3, width=24, n_train=1000).min() > 0.7
    assert (ds["redundancy_test"].sel(epoch=3, width=4) > ds["redundancy_test"].sel(epoch=3, width=24)).all()
    figures = sorted(p.name for p in (tiny_run / "figures").iterdir())
    assert "regimes_width_x_n_train.png" in figures and "lines_vs_width.png" in figures


@pytest.mark.slow
def test_rerun_is_a_no_op_and_status_reports_done(workdir, tiny_run):
    proc = snakemake(workdir, "-n", "--configfile", str(workdir / "tiny.yaml"), "--config", "experiments=tiny",
                     "data_root=data")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    out = subprocess.run(["acthash", "status", str(workdir / "results")], capture_output=True, text=True, check=True)
    assert '"done": 8' in out.stdout


@pytest.mark.slow
def test_report_holds_the_figures(workdir, tiny_run):
    snakemake(workdir, "--configfile", str(workdir / "tiny.yaml"), "--config", "experiments=tiny", "data_root=data",
              "--report", str(workdir / "report.html"))
    html = (workdir / "report.html").read_text(errors="replace")
    assert "regimes_width_x_n_train.png" in html and "lines_vs_width.png" in html and "metrics.nc" in html


@pytest.mark.slow
def test_merge_names_missing_and_corrupt_cells(tiny_run, tmp_path):
    copy = tmp_path / "tiny"
    shutil.copytree(tiny_run, copy)
    cells = sorted((copy / "cells").rglob("*.h5"))
    cells[0].unlink()
    cells[1].write_bytes(cells[1].read_bytes()[:500])
    with pytest.raises(MergeError) as err:
        merge_plan(copy / "plan.json", tmp_path / "m.nc")
    assert str(cells[0]) in str(err.value) and "missing" in str(err.value)
    assert str(cells[1]) in str(err.value) and "not a readable HDF5" in str(err.value)
    assert not (tmp_path / "m.nc").exists()


TINY_CNN = {"grids": {"tiny_cnn": {
    "dataset": "digits", "arch": ["resnet20", "vgg16"], "width": [2, 4], "n_train": 200, "seed": [0],
    "checkpoints": [0, 2], "early_stopping": False, "augment": True, "weight_decay": 5e-6, "lr_step": 50,
    "code_units": 256, "kmeans_n_init": 2}}}


@pytest.mark.slow
def test_cnn_grid_runs_locally_with_sampled_codes_and_one_map_per_arch(tmp_path):
    root = copy_workflow(tmp_path)
    (root / "cnn.yaml").write_text(yaml.safe_dump(TINY_CNN))
    snakemake(root, "--workflow-profile", str(root / "profiles/local"), "--configfile", str(root / "cnn.yaml"),
              "--config", "experiments=tiny_cnn", "data_root=data", "--cores", "2")
    ds = load(root / "results/tiny_cnn/metrics.nc")
    assert dict(ds.sizes) == {"arch": 2, "width": 2, "epoch": 2, "n_train": 1, "seed": 1}
    assert (ds["code_bits"] <= 256).all() and (ds["code_bits_total"] > 256).all()
    assert np.isfinite(ds["redundancy_test"]).all() and np.isfinite(ds["logreg_test"]).all()
    assert (ds["knn_test"].sel(epoch=2) > 0.3).all()
    assert "code_units" in ds.attrs["recipe"]
    figures = sorted(p.name for p in (root / "results/tiny_cnn/figures").iterdir())
    assert {"regimes_width_x_epoch_resnet20.png", "regimes_width_x_epoch_vgg16.png", "lines_vs_arch.png"} <= set(figures)
