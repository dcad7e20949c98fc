"""`acthash compare-paper`: the paper's values beside ours, on small merged datasets made here."""

import subprocess

import numpy as np
import pytest
import xarray as xr

from acthash.analysis.paper import TARGETS, compare_paper, markdown

from .synthetic import merged as merged_law


def merged(experiment: str, widths, epochs, seeds=3, **metrics) -> xr.Dataset:
    """A dataset shaped like a merged view (width, epoch, n_train, seed); each metric given as a function
    of (width, epoch), plus seed noise of ±0.001."""
    coords = {"width": list(widths), "epoch": list(epochs), "n_train": [48000], "seed": list(range(seeds))}
    noise = np.linspace(-0.001, 0.001, seeds)
    return merged_law({name: np.array([[[[fn(w, e) + d for d in noise]] for e in epochs] for w in widths])
                       for name, fn in metrics.items()}, coords, experiment)


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
    assert "cifar10_width" not in set(table["experiment"])  # only the rows of the experiments given
    every = compare_paper({"mnist_width": width}, every_row=True)
    assert (every[every["experiment"] == "cifar10_width"]["verdict"] == "no data").all()


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
    rows = table[(table["experiment"] == "mnist_epochs_figure") & (table["F"] != "§6.1")]
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
    none = subprocess.run(["acthash", "compare-paper", "--results", str(tmp_path / "empty")], capture_output=True,
                          text=True)  # no files named and none under the results tree: said, not an empty table
    assert none.returncode != 0 and "no merged dataset of a paper experiment" in none.stderr and not none.stdout


def test_a_view_that_still_varies_is_refused():
    width = merged("mnist_width", [40], [200], knn_test=lambda w, e: 0.9)
    width = xr.concat([width, width.assign_coords(n_train=[1000])], "n_train")
    with pytest.raises(ValueError, match="still varies along"):
        compare_paper({"mnist_width": width})


def test_f7_is_checked_at_every_width_from_30_and_f11_at_each_widths_own_epoch_0_bound():
    r = {10: 0.1, 30: 0.004, 40: 0.0, 100: 0.009, 200: 0.0}
    cifar = merged("cifar10_width", list(r), [200], redundancy_train=lambda w, e: r[w])
    table = compare_paper({"cifar10_width": cifar})
    f7 = table[(table["F"] == "F7") & table["what"].str.contains("≤|width=[1-9][0-9]{1,2}$", regex=True)]
    bounds = {row.what.rsplit("=", 1)[1]: row.verdict for row in table[table["paper"] == "≤ 0.005"].itertuples()}
    assert bounds == {"30": "within", "40": "within", "100": "outside", "200": "within"} and len(f7) >= 4
    r0 = {40: 0.05, 50: 0.05, 60: 0.02}  # within .07 and .05; above width 60's .01
    epochs = merged("mnist_epochs", [40, 50, 60], [0, 1, 200], redundancy_train=lambda w, e: r0[w] if e == 0 else 0.1)
    table = compare_paper({"mnist_epochs": epochs})
    verdicts = {w: by_what(table, f"redundancy_train at width={w}, epoch=0")["verdict"] for w in (40, 50, 60)}
    assert verdicts == {40: "within", 50: "within", 60: "outside"}


def test_the_section_6_1_checks_hold_or_fail_with_the_largest_step_against_them():
    knn = {10: 0.5, 20: 0.8, 40: 0.785, 60: 0.9}  # a dip of 0.015: within the noise allowance of 0.02
    width = merged("mnist_width", list(knn), [200], redundancy_train=lambda w, e: 1 / w,
                   redundancy_test=lambda w, e: {10: 0.9, 20: 0.5, 40: 0.52, 60: 0.1}[w], knn_test=lambda w, e: knn[w])
    table = compare_paper({"mnist_width": width})
    assert by_what(table, "redundancy_train decreases with width (noise ≤ 0.005)")["verdict"] == "holds"
    row = by_what(table, "redundancy_test decreases with width (noise ≤ 0.005)")
    assert row["verdict"] == "fails" and row["ours (mean ± sd, seeds)"] == "largest step against: 0.02 (to width=40)"
    assert by_what(table, "knn_test increases with width (noise ≤ 0.02)")["verdict"] == "holds"
    worse = width.assign(knn_test=width.knn_test.where(width.width != 40, 0.77))  # a dip of 0.03
    assert by_what(compare_paper({"mnist_width": worse}), "knn_test increases")["verdict"] == "fails"
    late = merged("mnist_epochs", [40], [0, 1, 3, 200], redundancy_train=lambda w, e: {0: 0.0, 1: 0.5, 3: 0.4,
                                                                                        200: 0.1}[e])
    assert by_what(compare_paper({"mnist_epochs": late}), "redundancy_train decreases with epoch after epoch 1")[
        "verdict"] == "holds"  # the rise from epoch 0 to 1 is not checked


def test_each_r_value_is_also_read_as_a_shared_fraction_where_the_dataset_has_one():
    width = merged("mnist_width", [40], [200], redundancy_train=lambda w, e: 0.05, share_train=lambda w, e: 0.1)
    table = compare_paper({"mnist_width": width})
    assert by_what(table, "redundancy_train at epoch=last, width=40")["verdict"] == "outside"  # 0.105 ± 0.04
    row = by_what(table, "share_train at epoch=last, width=40 (the paper's R read as a share)")
    assert row["verdict"] == "within" and row["paper"] == "0.105 ± 0.04"
    assert not table["what"].str.startswith("share_test").any()  # not in the dataset: no row


def test_two_runs_side_by_side_on_the_paper_s_statements(tmp_path):
    """compare-paper --beside: one row per statement, the paper's value, each run's value and verdict."""
    keras = merged("mnist_width", [10, 40], [200], knn_test=lambda w, e: {10: 0.55, 40: 0.95}[w])
    ours = merged("mnist_width", [40], [200], knn_test=lambda w, e: 0.92)
    for name, ds in (("k.nc", keras), ("a.nc", ours)):
        ds.to_netcdf(tmp_path / name, engine="h5netcdf")
    text = subprocess.run(["acthash", "compare-paper", str(tmp_path / "k.nc"), "--beside", str(tmp_path / "a.nc"),
                           "--labels", "Keras", "acthash"], capture_output=True, text=True, check=True).stdout
    assert "| F | experiment | what | paper | Keras (mean ± sd, seeds) | Keras verdict | acthash (mean ± sd, " \
           "seeds) | acthash verdict |" in text
    assert "| F3 | mnist_width | knn_test at epoch=last, width=40 | 0.89 ± 0.03 | 0.950 ± 0.001 (3) | outside | " \
           "0.920 ± 0.001 (3) | within |" in text
    assert "| F3 | mnist_width | knn_test at epoch=last, width=10 | 0.52 ± 0.08 | 0.550 ± 0.001 (3) | within | " \
           "no data | no data |" in text



def test_the_section_6_1_checks_need_two_points_along_the_axis():
    """A sweep with one checkpoint after epoch 0, or with one finite value per slice, gives no verdict."""
    two = merged("mnist_epochs", [40], [0, 200], redundancy_train=lambda w, e: 0.1, knn_test=lambda w, e: 0.9)
    assert not (compare_paper({"mnist_epochs": two})["F"] == "§6.1").any()
    width = merged("mnist_width", [10, 40], [200], knn_test=lambda w, e: 0.9 if w == 10 else np.nan)
    row = by_what(compare_paper({"mnist_width": width}), "knn_test increases with width")
    assert row["verdict"] == "no data"
