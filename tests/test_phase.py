"""Phase-chart regimes on hand-made metrics."""

import dataclasses

import numpy as np
import xarray as xr

from acthash.cell import PhaseRule
from acthash.phase import CRITICAL, SUFFICIENT, UNDER, classify


def make(r, acc):
    """Dataset over width (4 values) × seed (2) with given R_test and K-NN values per width."""
    r, acc = np.asarray(r, float), np.asarray(acc, float)
    dims = ("width", "seed")
    return xr.Dataset({"redundancy_test": (dims, r), "redundancy_train": (dims, r), "knn_test": (dims, acc)},
                      coords={"width": [3, 10, 40, 100], "seed": [0, 1]})


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
    from acthash.measure import BY_NAME

    fields = {f.name: f for f in dataclasses.fields(PhaseRule)}
    assert set(fields["accuracy"].metadata["choices"]) <= set(BY_NAME)
    assert {f"redundancy_{m}" for m in fields["r_metric"].metadata["choices"] if m != "max"} <= set(BY_NAME)
