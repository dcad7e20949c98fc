"""Axis effects on one scale: the range of the seed means across an axis, others at the reference cell."""

import numpy as np
import pytest
import xarray as xr

from acthash.analysis.drift import drift, drift_table
from acthash.analysis.effects import effects_figure, effects_table, factor_effects

from .synthetic import merged


def grid(**dims) -> xr.Dataset:
    """R_test = 1/width + epoch/1000 + n/1e6 (+ factor level/10), K-NN = 1 − R_test; two identical seeds."""
    def r(mesh: xr.Dataset) -> xr.DataArray:
        return (1 / mesh["width"] + mesh.get("epoch", 0) / 1000 + mesh.get("n_train", 0) / 1e6
                + mesh.get("weight_decay", 0) * 10)

    return merged({"redundancy_test": r, "knn_test": lambda mesh: 1 - r(mesh)}, {**dims, "seed": [0, 1]})


def test_each_axis_range_is_taken_at_the_reference_cell():
    phase = grid(width=[10, 20, 40], epoch=[0, 100, 200], n_train=[1000, 48000])
    decay = grid(width=[10, 40], weight_decay=[0.0, 1e-6, 1e-3], epoch=[200], n_train=[48000])
    fx = factor_effects(phase, {"weight_decay": decay})
    r = fx[fx["metric"] == "redundancy_test"]
    at = {(a, w): v for a, w, v in zip(r["axis"], r["width"].fillna(0), r["range"])}
    assert np.isclose(at[("width", 0)], 1 / 10 - 1 / 40)  # width: its whole range, one row
    assert np.isclose(at[("epoch", 10)], 0.2) and np.isclose(at[("n_train", 40)], 0.047)
    assert np.isclose(at[("weight_decay", 10)], 1e-2)  # 1e-3 × 10
    assert set(fx["width"].dropna()) == {10, 40}  # the widths both datasets hold
    table = effects_table(fx, phase)
    assert table.splitlines()[0].startswith("| axis | R test range, width 10 | R test range, width 40 |")
    assert "| weight_decay | 0.010 [0.010, 0.010] | 0.010 [0.010, 0.010] |" in table  # identical seeds
    fig = effects_figure(fx, phase)
    assert [a.get_xlabel() for a in fig.axes][:2] == ["range of the seed means of R test",
                                                     "range of the seed means of K-NN accuracy, test"]


def test_each_range_and_largest_step_come_with_the_seeds_own_lowest_and_highest():
    """Seed s moves R by (1 + s)·epoch/1000 over epochs 0, 100, 300: the seeds' own ranges 0.3 and 0.6 around the
    mean's 0.45, and the largest adjacent step the last one (mean 0.3, seeds 0.2 and 0.4)."""
    coords = {"width": [10, 20], "epoch": [0, 100, 300], "n_train": [48000], "seed": [0, 1]}
    phase = merged({"redundancy_test": lambda m: 1 / m["width"] + (1 + m["seed"]) * m["epoch"] / 1000,
                    "knn_test": lambda m: 0.5 + 0 * m["width"]}, coords)
    fx = factor_effects(phase, {})
    row = fx[(fx["axis"] == "epoch") & (fx["metric"] == "redundancy_test") & (fx["width"] == 10)].iloc[0]
    assert np.allclose(row[["range", "range_lo", "range_hi"]].astype(float), [0.45, 0.3, 0.6])
    assert np.allclose(row[["step", "step_lo", "step_hi"]].astype(float), [0.3, 0.2, 0.4])
    assert "| epoch | 0.450 [0.300, 0.600] |" in effects_table(fx, phase)
    assert "| epoch | 0.300 [0.200, 0.400] |" in effects_table(fx, phase, "step")


def test_a_rerun_moves_only_the_cells_shifted_beyond_seed_noise():
    """Two runs of one grid whose seeds scatter by ±0.01 (sd 0.01): a rerun with other seed labels and the same
    values moves no cell (and cannot be paired); one cell shifted by 0.05 (t = 6.1, 2.2 times the critical 2.78 of
    3 + 3 seeds) is the one cell that moves beyond seed noise, a shift of 0.02 (t = 2.4) does not, while the paired
    test finds both shifted (the same seeds, consistently other values); a seed that alone moves 0.05 shifts
    nothing; a cell with one seed in each run is not tested."""
    coords = {"width": [10, 20, 40], "epoch": [0, 10], "n_train": [1000], "seed": [0, 1, 2]}
    old = merged({"redundancy_test": lambda m: 1 / m["width"] + (m["seed"] - 1) * 0.01}, coords)
    relabelled = old.assign_coords(seed=[3, 4, 5])  # compared by cell, not by seed label
    shifted = old.copy(deep=True)
    shifted["redundancy_test"].loc[{"width": 20, "epoch": 10}] += 0.05
    shifted["redundancy_test"].loc[{"width": 40, "epoch": 10}] += 0.02
    shifted["redundancy_test"].loc[{"width": 10, "epoch": 0, "seed": 1}] += 0.05
    unpaired = drift(old, relabelled)
    assert unpaired[["moved", "shifted"]].values.tolist() == [[0, -1], [0, -1]] and unpaired["cells"].sum() == 6
    table = drift(old, shifted)
    assert table[["epoch", "moved", "shifted"]].values.tolist() == [[0, 0, 0], [10, 1, 2]]
    assert np.isclose(table["max_ratio"].iloc[1], 0.05 / (0.01 * np.sqrt(2 / 3)) / 2.7764451, rtol=1e-6)
    assert "| redundancy_test | 10 | 3 | 0.0233 | 0.0500 | 0.0100 | 1 | 2.2 | 2 |" in drift_table(table)
    assert drift_table(unpaired).splitlines()[2].endswith("| 0 | 0.0 | – |")  # no shared seed: not paired
    with pytest.raises(ValueError, match="by='epochs': not a dim"):
        drift(old, shifted, by="epochs")
    with pytest.raises(ValueError, match="no cell in common"):
        drift(old, shifted.assign_coords(width=[11, 21, 41]))
    lone = old.isel(seed=[0]), shifted.isel(seed=[0])
    assert drift(*lone).empty  # no spread to measure noise by
