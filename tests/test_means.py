"""`acthash means`: the seed means (and sds) of a merged dataset, against numpy on a grid of known values; the
picks, the axes held fixed and the errors that name what is wrong."""

import numpy as np
import pytest

from acthash.analysis.means import means_table
from acthash.run.cli import build_parser

from .synthetic import merged

COORDS = {"width": [10, 20, 40], "epoch": [0, 1, 200], "n_train": [100, 48000], "seed": [0, 1, 2]}
VALUES = np.random.default_rng(0).random([len(v) for v in COORDS.values()])


def grid():
    return merged({"redundancy_test": VALUES, "knn_test": 1 - VALUES}, COORDS, experiment="grid")


def rows_of(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]


def test_a_row_per_metric_and_width_a_column_per_epoch_at_the_largest_n():
    text = means_table(grid(), ["redundancy_test", "knn_test"], columns="epoch", rows="width")
    assert text.splitlines()[0] == "grid: n_train 48000 · 3 seed(s)"
    head, *body = rows_of(text)
    assert head == ["epoch", "0", "1", "200"]
    assert [r[0] for r in body] == [f"{m}, width {w}" for m in ("R test", "K-NN accuracy, test") for w in (10, 20, 40)]
    expected = VALUES[:, :, 1, :].mean(axis=-1)  # n_train held at its last value
    assert [r[1:] for r in body[:3]] == [[f"{v:.3f}" for v in row] for row in expected]
    assert [r[1:] for r in body[3:]] == [[f"{1 - v:.3f}" for v in row] for row in expected]


def test_picked_values_and_the_sample_sd():
    text = means_table(grid(), ["redundancy_test"], columns="width", at={"epoch": ["1"], "n_train": [100],
                                                                        "width": [40, 10]}, sd=True)
    assert text.splitlines()[0] == "grid: epoch 1 · n_train 100 · 3 seed(s)"
    head, body = rows_of(text)
    assert head == ["width", "40", "10"]
    seeds = VALUES[[2, 0], 1, 0, :]
    assert body[1:] == [f"{m:.3f} ± {s:.3f}" for m, s in zip(seeds.mean(-1), seeds.std(-1, ddof=1))]


def test_a_cell_never_measured_is_a_dash():
    ds = grid()
    ds["redundancy_test"][0, 0, 1, :] = np.nan
    (_, body, *_) = rows_of(means_table(ds, ["redundancy_test"], columns="epoch", rows="width"))
    assert body[1] == "–" and body[2] != "–"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metrics": ["no_such"]}, "no_such: no such metric"),
    ({"at": {"depth": [1]}}, "depth: not an axis of this dataset"),
    ({"at": {"epoch": [3]}}, r"epoch=3: not in the dataset \(epoch: 0, 1, 200\)"),
    ({"at": {"epoch": ["last"]}}, "epoch=last: not values of epoch"),
    ({"at": {"epoch": [1]}}, "epoch: not an axis with several values here"),
])
def test_what_the_grid_does_not_hold_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        means_table(grid(), **{"metrics": ["redundancy_test"], "columns": "epoch", **kwargs})


def test_the_command_line_prints_the_table(tmp_path, capsys):
    grid().to_netcdf(tmp_path / "grid.nc")
    args = build_parser().parse_args(["means", str(tmp_path / "grid.nc"), "--metrics", "knn_test", "--columns",
                                      "n_train", "--rows", "width", "--at", "width=20,40", "epoch=200"])
    args.func(args)
    assert capsys.readouterr().out == means_table(grid(), ["knn_test"], "n_train", "width",
                                                  {"width": [20, 40], "epoch": [200]})
    bad = build_parser().parse_args(["means", str(tmp_path / "grid.nc"), "--metrics", "knn_test", "--columns",
                                     "epoch", "--at", "width"])
    with pytest.raises(SystemExit, match="--at width: write AXIS=VALUE"):
        bad.func(bad)
