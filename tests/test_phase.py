"""Phase-chart regimes on hand-made metrics."""

import dataclasses

import numpy as np
import xarray as xr

from acthash.analysis.phase import CRITICAL, SUFFICIENT, UNDER, classify, margin, robustness_table, sensitivity
from acthash.params.phase_rule import PhaseRule

from .synthetic import merged


def make(r, acc):
    """Dataset over width (4 values) × seed (2) with given R_test and K-NN values per width."""
    return merged({"redundancy_test": r, "redundancy_train": r, "knn_test": acc},
                  {"width": [3, 10, 40, 100], "seed": [0, 1]})


def test_regimes_follow_the_rule():
    r = [[0.9, 0.9], [0.05, 0.05], [0.005, 0.005], [0.0, 0.0]]
    acc = [[0.3, 0.3], [0.8, 0.8], [0.85, 0.85], [0.95, 0.95]]
    out = classify(make(r, acc))
    # width 40: R small but K-NN 0.10 below the plateau (0.95) -> critical; width 100 -> sufficient
    assert out["regime"].values.tolist() == [UNDER, CRITICAL, CRITICAL, SUFFICIENT]
    assert out["regime_agreement"].values.tolist() == [1, 1, 1, 1]
    loose = classify(make(r, acc), PhaseRule(eps=0.2))
    assert loose["regime"].values.tolist() == [UNDER, CRITICAL, SUFFICIENT, SUFFICIENT]


def test_seed_disagreement_and_missing_values():
    r = [[0.2, 0.0], [0.0, 0.0], [np.nan, np.nan], [0.0, 0.0]]
    acc = [[0.9, 0.9], [0.9, 0.9], [0.9, 0.9], [0.9, 0.9]]
    out = classify(make(r, acc))
    assert out["regime"].values.tolist() == [UNDER, SUFFICIENT, -1, SUFFICIENT]  # mean R 0.1 -> under
    assert out["regime_agreement"].values[0] == 0.5


def test_fixed_plateau_and_r_metric_max():
    ds = make([[0.0, 0.0]] * 4, [[0.5, 0.5]] * 4)
    ds["redundancy_train"] = ds["redundancy_train"] + 0.5
    assert (classify(ds, PhaseRule(plateau_over=0.9))["regime"] == CRITICAL).all()
    assert (classify(ds, PhaseRule(r_metric="max"))["regime"] == UNDER).all()


def test_the_rule_names_metrics_of_the_registry():
    from acthash.params.registry import BY_NAME

    fields = {f.name: f for f in dataclasses.fields(PhaseRule)}
    assert set(fields["accuracy"].metadata["choices"]) <= set(BY_NAME)
    assert {f"redundancy_{m}" for m in fields["r_metric"].metadata["choices"] if m != "max"} <= set(BY_NAME)


def test_sensitivity_and_margins_count_the_cells_a_moved_threshold_reclassifies():
    """R 0.13 / 0.06 / 0.0115 / 0.0095 with the accuracy at its plateau: under, critical, critical, sufficient.
    Each factor-2 move changes one cell; the margins are the smallest moves that do."""
    r = [[v, v] for v in (0.13, 0.06, 0.0115, 0.0095)]
    ds = make(r, [[0.95, 0.95]] * 4)
    assert classify(ds)["regime"].values.tolist() == [UNDER, CRITICAL, CRITICAL, SUFFICIENT]
    counts = sensitivity(ds, PhaseRule(), ("width",))
    assert counts == {"cells": 4, "r_hi ×2": 1, "r_hi ÷2": 1, "r_lo ×2": 1, "r_lo ÷2": 1, "eps ×2": 0, "eps ÷2": 0}
    assert margin(ds, PhaseRule(), ("width",)).values.tolist() == [1.5, 2.0, 1.25, 1.1]  # the last: a near-tie
    table = robustness_table(ds.expand_dims(n_train=[100, 1000]).assign(
        redundancy_test=lambda d: d["redundancy_test"].transpose("width", "n_train", "seed")))
    assert "| width × n_train | 8 | 2 | 2 | 2 | 2 | 0 | 0 | 2 |" in table


def test_a_slice_classifies_against_its_own_plateau():
    """K-NN 0.9 at n 100 and 0.97 at n 1000, R 0 everywhere: over the width × epoch slice (per n) every
    cell is at its plateau; over the width × n slice the n = 100 cells are 0.07 below it."""
    ds = make([[0.0, 0.0]] * 4, [[0.9, 0.9]] * 4).expand_dims(n_train=[100, 1000]).copy()
    ds["knn_test"] = ds["knn_test"] + xr.DataArray([0.0, 0.07], dims="n_train")
    assert (classify(ds, PhaseRule(), ("width", "epoch"))["regime"] == SUFFICIENT).all()
    by_slice = classify(ds, PhaseRule(), ("width", "n_train"))["regime"]
    assert (by_slice.sel(n_train=100) == CRITICAL).all() and (by_slice.sel(n_train=1000) == SUFFICIENT).all()
