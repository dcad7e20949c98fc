"""Axis effects on one scale: the range of the seed means across an axis, others at the reference cell."""

import numpy as np
import xarray as xr

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
    assert "| weight_decay | 0.010 | 0.010 |" in table
    fig = effects_figure(fx, phase)
    assert [a.get_xlabel() for a in fig.axes][:2] == ["range of the seed means of R test",
                                                     "range of the seed means of K-NN accuracy, test"]
