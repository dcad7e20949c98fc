"""The command line end to end on real MNIST: one cell, its JSON, its file, and `measure` recomputing it."""

import json
import subprocess

import h5py
import numpy as np
import pytest
import xarray as xr

from acthash.params.datasets import NAMES
from acthash.store.cellfile import read_cell

from .synthetic import merged


@pytest.mark.slow
def test_cell_end_to_end_on_real_mnist(tmp_path, data_root):
    out = tmp_path / "cell.h5"
    cmd = ["acthash", "cell", "--dataset", "mnist", "--width", "20", "--n-train", "2000", "--epochs", "2",
           "--checkpoints", "0", "2", "--seed", "1", "--data-root", str(data_root), "--out", str(out), "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "epoch 2/2" in proc.stderr
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(metrics) == {"0", "2"}
    final = metrics["2"]
    assert final["net_acc_test"] > 0.8 and final["knn_test"] > 0.7 and 0 <= final["redundancy_test"] < 0.5
    rec = read_cell(out)
    assert rec.status == "ok" and rec.params["width"] == 20 and rec.epochs.tolist() == [0, 2]
    with h5py.File(out) as f:
        assert f["codes/2/train"].shape == (2000, 3) and f["labels/noise_mask"].shape == (2000,)
    proc = subprocess.run(["acthash", "measure", str(out), "--knn-k", "1"], capture_output=True, text=True, check=True)
    rec1 = read_cell(out)  # a file not named by its hash is rewritten in place
    assert rec1.params["knn_k"] == 1 and rec1.metrics["redundancy_test"][1] == rec.metrics["redundancy_test"][1]
    assert not list(tmp_path.glob(".*"))  # no pack or state leftovers


def test_bad_option_value_is_reported_by_key(tmp_path):
    proc = subprocess.run(["acthash", "cell", "--dropout", "1.5", "--out", str(tmp_path / "x.h5")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "dropout=1.5: must be float in [0, 1)" in proc.stderr


def test_every_cell_option_is_documented_with_its_default_and_allowed_values():
    out = " ".join(subprocess.run(["acthash", "cell", "--help"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert f"dataset (one of {', '.join(NAMES)}; default mnist)" in out  # every record, read from the registry
    assert "learning rate (float > 0; default 0.01)" in out


def test_first_epoch_ablation_end_to_end(tmp_path):
    out = tmp_path / "first.nc"
    proc = subprocess.run(["acthash", "first-epoch", "--dataset", "digits", "--n-train", "500", "--no-bn",
                           "--widths", "6", "12", "--seeds", "0", "1", "--fractions", "0.5", "1", "--out", str(out)],
                          capture_output=True, text=True, check=True)
    ds = xr.open_dataset(out)
    assert ds.sizes == {"member": 4, "epoch": 3} and json.loads(ds.attrs["recipe"])["bn"] is False
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("R_train (") and lines[1] == "| width | epoch 0 | epoch 0.5 | epoch 1 |"
    assert lines[3].startswith("| 6 | ") and lines[4].startswith("| 12 | ") and "R_test:" in proc.stdout


def _variant(name: str, r_train: np.ndarray, epochs: tuple[int, ...] = (0, 1, 3)) -> xr.Dataset:
    """A merged dataset of one recipe variant: widths 40/60, `epochs`, three seeds."""
    coords = {"width": [40, 60], "epoch": list(epochs), "n_train": [48000], "seed": [0, 1, 2]}
    return merged({"redundancy_train": r_train, "knn_test": np.full(r_train.shape, 0.9)}, coords, name)


def test_ablation_table_sets_variants_side_by_side(tmp_path):
    rng = np.random.default_rng(0)
    base, other = rng.random((2, 3, 1, 3)), rng.random((2, 3, 1, 3))
    paths = []
    for name, r in (("f11_default", base), ("f11_other", other)):
        paths.append(tmp_path / f"{name}.nc")
        _variant(name, r).to_netcdf(paths[-1])
    proc = subprocess.run(["acthash", "ablation-table", *map(str, paths), "--out", str(tmp_path / "t.md")],
                          capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    assert lines[0] == ("| variant | width | R train ep0 | R train ep1 | R train ep3 | Δ ep1 vs f11_default | "
                        "K-NN accuracy, test ep1 | K-NN accuracy, test ep3 |")
    assert len(lines) == 2 + 4 and (tmp_path / "t.md").read_text() == proc.stdout
    row = lines[5].strip("| ").split(" | ")  # f11_other, width 60
    assert row[:2] == ["f11_other", "60"]
    assert row[3] == f"{other[1, 1, 0].mean():.3f} ± {other[1, 1, 0].std(ddof=1):.3f}"
    assert row[5] == f"{other[1, 1, 0].mean() - base[1, 1, 0].mean():+.3f}" and row[6] == "0.900"
    assert lines[2].split(" | ")[5] == "+0.000"  # the baseline against itself
    short = _variant("f11", other[:, :2], epochs=(0, 1))
    short.attrs["view"] = "f11@short"  # a view is named by its view
    short.to_netcdf(tmp_path / "short.nc")
    shared = subprocess.run(["acthash", "ablation-table", str(paths[0]), str(tmp_path / "short.nc")],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert shared[0] == "| variant | width | R train ep0 | R train ep1 | Δ ep1 vs f11_default | K-NN accuracy, test ep1 |"
    assert shared[4].startswith(f"| f11@short | 40 | {other[0, 0, 0].mean():.3f} ± ")  # the epochs both have
    assert shared[-1] == "(epochs not in every dataset, left out: 3)"
    _variant("f11_late", other[:, [0, 2]], epochs=(0, 3)).to_netcdf(tmp_path / "late.nc")
    bad = subprocess.run(["acthash", "ablation-table", str(paths[0]), str(tmp_path / "late.nc")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "f11_late: no epoch 1 among [0, 3]" in bad.stderr
    bad = subprocess.run(["acthash", "ablation-table", str(paths[0]), "--metric", "redundancy_tset"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().endswith("f11_default: no variable redundancy_tset")
