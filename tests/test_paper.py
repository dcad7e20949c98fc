"""`acthash compare-paper`: the paper's values beside ours, on small merged datasets made here."""

import subprocess

import numpy as np
import pytest
import xarray as xr

from acthash.analysis.paper import TARGETS, compare_paper, markdown


def merged(experiment: str, widths, epochs, seeds=3, **metrics) -> xr.Dataset:
    """A dataset shaped like a merged view (width, epoch, n_train, seed); each metric given as a function
    of (width, epoch), plus seed noise of ±0.001."""
    coords = {"width": list(widths), "epoch": list(epochs), "n_train": [48000], "seed": list(range(seeds))}
    noise = np.linspace(-0.001, 0.001, seeds)
    data = {name: (tuple(coords), np.array([[[[fn(w, e) + d for d in noise]] for e in epochs] for w in widths]))
            for name, fn in metrics.items()}
    return xr.Dataset(data, coords=coords, attrs={"experiment": experiment, "view": experiment})


def paper_value(fid: str, metric: str, **at) -> float:
    return next(t.paper for t in TARGETS if t.fid == fid and t.metric == metric
                and all(t.at.get(k) == v for k, v in at.items()))


def by_what(table, what: str):
    return table[table["what"].str.startswith(what)].iloc[0]


def test_values_within_outside_and_missing():
    r_train = {3: 1.0, 10: 0.99, 20: 0.77, 40: 0.105 + 0.06, 60: 0.02}  # width 40 misses by 0.06 (tol 0.04)
    width = merged("mnist_width", [3, 10, 20, 40, 60], [200], redundancy_train=lambda w, e: r_train[w],
                   knn_test=lambda w, e: 0.9, logreg_test=lambda w, e: 0.85, kmeans_purity_train=lambda w, e: 0.6)
    table = compare_paper({"mnist_width": width})
    assert by_what(table, "redundancy_train at epoch=last, width=20")["verdict"] == "within"
    row = by_what(table, "redundancy_train at epoch=last, width=40")
    assert row["verdict"] == "outside" and row["ours (mean ± sd, seeds)"] == "0.165 ± 0.001 (3)"
    assert by_what(table, "redundancy_train at epoch=last, width=100")["verdict"] == "no data"
    assert by_what(table, "knn_test at epoch=last, width=40")["verdict"] == "within"  # 0.9: 0.89 ± 0.03
    assert by_what(table, "knn_test at epoch=last, width=10")["verdict"] == "outside"  # 0.9: 0.52 ± 0.08
    assert by_what(table, "K-NN > LR > K-Means")["verdict"] == "holds"
    assert (table[table["experiment"] == "cifar10_width"]["verdict"] == "no data").all()


def test_shapes_of_f6_and_f11():
    width = merged("mnist_width", [20, 40], [200], knn_test=lambda w, e: 0.8, logreg_test=lambda w, e: 0.85,
                   kmeans_purity_train=lambda w, e: 0.6)
    assert by_what(compare_paper({"mnist_width": width}), "K-NN > LR > K-Means")["verdict"] == "fails"
    peak = {0: 0.05, 1: 0.5, 3: 0.4, 200: 0.1}
    epochs = merged("mnist_epochs", [40, 50, 60], [0, 1, 3, 200], redundancy_train=lambda w, e: peak[e])
    table = compare_paper({"mnist_epochs": epochs})
    assert by_what(table, "R_train has its maximum at epoch 1")["verdict"] == "holds"
    assert by_what(table, "redundancy_train at width=40, epoch=0")["verdict"] == "within"  # ≤ 0.07
    late = merged("mnist_epochs", [40], [0, 1, 3], redundancy_train=lambda w, e: {0: 0.08, 1: 0.2, 3: 0.3}[e])
    table = compare_paper({"mnist_epochs": late})
    assert by_what(table, "R_train has its maximum at epoch 1")["verdict"] == "fails"
    assert by_what(table, "redundancy_train at width=40, epoch=0")["verdict"] == "outside"


def test_the_figure_checkpoint_grid_is_compared_at_its_own_last_epoch():
    """mnist_epochs_figure ends at the figure's 2000 epochs: its F11/F12 rows carry no "is 200" note."""
    r = {0: 0.02, 1: 0.5, 200: 0.3, 2000: 0.1}
    fig = merged("mnist_epochs_figure", [40, 50, 60], [0, 1, 200, 2000], redundancy_train=lambda w, e: r[e],
                 knn_test=lambda w, e: 0.9)
    table = compare_paper({"mnist_epochs_figure": fig})
    rows = table[table["experiment"] == "mnist_epochs_figure"]
    assert len(rows) == 12 and not rows["what"].str.contains("200").any()
    assert by_what(rows, "redundancy_train at epoch=last, width=40")["ours (mean ± sd, seeds)"] == "0.100 ± 0.001 (3)"
    assert (table[table["experiment"] == "mnist_epochs"]["verdict"] == "no data").all()


def test_cli_writes_the_table_and_refuses_two_views_of_one_experiment(tmp_path):
    width = merged("mnist_width", [10, 40], [200], knn_test=lambda w, e: paper_value("F3", "knn_test", width=w))
    for name in ("a.nc", "b.nc"):
        width.to_netcdf(tmp_path / name, engine="h5netcdf")
    out = tmp_path / "table.md"
    text = subprocess.run(["acthash", "compare-paper", str(tmp_path / "a.nc"), "--out", str(out)],
                          capture_output=True, text=True, check=True).stdout
    assert text == out.read_text() == markdown(compare_paper({"mnist_width": width}))
    row = "| F3 | mnist_width | knn_test at epoch=last, width=40 | 0.89 ± 0.03 | 0.890 ± 0.001 (3) | within |"
    assert row in text
    proc = subprocess.run(["acthash", "compare-paper", str(tmp_path / "a.nc"), str(tmp_path / "b.nc")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "b.nc: a second dataset of experiment mnist_width" in proc.stderr


def test_a_view_that_still_varies_is_refused():
    width = merged("mnist_width", [40], [200], knn_test=lambda w, e: 0.9)
    width = xr.concat([width, width.assign_coords(n_train=[1000])], "n_train")
    with pytest.raises(ValueError, match="still varies along"):
        compare_paper({"mnist_width": width})
