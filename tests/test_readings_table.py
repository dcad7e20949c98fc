"""`acthash first-epoch-table`: readings inside the first epoch side by side, against numpy on readings of known
values; readings of one recipe joined, the columns picked, the errors that name what is wrong."""

import numpy as np
import pytest
import xarray as xr

from acthash.run.ablation import readings_table
from acthash.run.cli import build_parser

WIDTHS, SEEDS = [40, 40, 60, 60], [0, 1, 0, 1]


def readings(fractions, values, steps_per_epoch=750):
    """A dataset shaped as `first_epoch_readings` writes it: (member, epoch), epoch 0 then the fractions."""
    coords = {"epoch": [0.0, *fractions], "width": ("member", WIDTHS), "seed": ("member", SEEDS)}
    return xr.Dataset({"redundancy_train": (("member", "epoch"), np.asarray(values, dtype=float))}, coords=coords,
                      attrs={"steps_per_epoch": steps_per_epoch})


RNG = np.random.default_rng(1)
EARLY = RNG.random((4, 3))  # epoch 0, 1 step, 12 steps
LATE = RNG.random((4, 3))  # epoch 0, 12 steps, the whole epoch


def rows(text):
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()]


def test_readings_of_one_recipe_are_joined_by_the_steps_they_read():
    text = readings_table([("default", readings([0.0013333, 0.016], EARLY)), ("default", readings([0.016, 1], LATE)),
                           ("BN off", readings([0.016, 1], LATE[::-1]))])
    head, rule, *body = rows(text)
    assert head == ["recipe", "width", "epoch 0", "1 step", "12 steps", "epoch 1"]
    assert [r[:2] for r in body] == [["default", "40"], ["default", "60"], ["BN off", "40"], ["BN off", "60"]]

    def pm(a):  # mean ± sample sd of two seeds
        return f"{a.mean():.3f} ± {a.std(ddof=1):.3f}"
    assert body[0][2:] == [pm(EARLY[:2, 0]), pm(EARLY[:2, 1]), pm(EARLY[:2, 2]), pm(LATE[:2, 2])]
    assert body[3][2:] == [pm(LATE[::-1][2:, 0]), "–", pm(LATE[::-1][2:, 1]), pm(LATE[::-1][2:, 2])]


def test_columns_are_picked_by_their_steps_and_an_unread_one_is_named():
    ds = readings([0.016, 1], LATE)
    head, *_ = rows(readings_table([("default", ds)], steps=[750, 0]))
    assert head == ["recipe", "width", "epoch 1", "epoch 0"]
    with pytest.raises(ValueError, match=r"steps \[4\]: not read in these datasets \(read: \[0, 12, 750\]\)"):
        readings_table([("default", ds)], steps=[0, 4])
    with pytest.raises(ValueError, match="one table holds one epoch length"):
        readings_table([("default", ds), ("small", readings([0.5, 1], LATE, steps_per_epoch=16))])


def test_the_command_line_labels_each_file_or_says_the_labels_do_not_match(tmp_path, capsys):
    readings([0.016, 1], LATE).to_netcdf(tmp_path / "a.nc")
    args = build_parser().parse_args(["first-epoch-table", str(tmp_path / "a.nc"), "--steps", "0", "750"])
    args.func(args)
    assert capsys.readouterr().out == readings_table([("a", readings([0.016, 1], LATE))], steps=[0, 750])
    bad = build_parser().parse_args(["first-epoch-table", str(tmp_path / "a.nc"), "--labels", "x", "y"])
    with pytest.raises(SystemExit, match="1 datasets but 2 labels"):
        bad.func(bad)
