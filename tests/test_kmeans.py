"""The exact K-Means against scikit-learn: a fixed point of its Lloyd, as good in distribution over seeds, and the
same result on every thread count and BLAS (stored codes, so the same inputs on every CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu
from sklearn.cluster import KMeans

from acthash.metrics.kmeans import kmeans_exact

STORED = Path(__file__).parent / "fixtures" / "kmeans_codes_intel_w8_seed3_epoch1.npz"


def stored_codes(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The 8-unit MNIST codes on which the float K-Means fell 1.9 % behind scikit-learn's best of 5 seeds on an
    Intel Xeon (tests/fixtures/README.md): 0/1 rows and labels of `split` (train: 12 000 rows, test: 10 000)."""
    with np.load(STORED) as f:
        return np.unpackbits(f[split], axis=1)[:, : int(f["bits"])], f[f"y_{split}"]


def prototype_codes(n: int, bits: int, seed: int, classes: int = 10) -> np.ndarray:
    """Noisy copies of random class prototypes."""
    rng = np.random.default_rng(seed)
    protos = rng.random((classes, bits)) < 0.5
    return (protos[rng.integers(0, classes, n)] ^ (rng.random((n, bits)) < 0.2)).astype(np.uint8)


def weighted_sklearn(codes: np.ndarray, n_init: int, seed: int) -> float:
    """scikit-learn's K-Means inertia on the distinct rows weighted by their counts (the same objective)."""
    rows, counts = np.unique(codes, axis=0, return_counts=True)
    return KMeans(10, n_init=n_init, random_state=seed).fit(rows.astype(float), sample_weight=counts).inertia_


@pytest.mark.parametrize("codes", [stored_codes("train")[0], prototype_codes(2000, 64, 6),
                                   prototype_codes(3000, 48, 11)], ids=["stored", "prototypes", "prototypes-48"])
def test_result_is_a_fixed_point_of_scikit_learn_lloyd_with_the_inertia_it_reports(codes):
    """Started from our clusters' means, scikit-learn's Lloyd keeps every label, and its inertia is ours."""
    ids, inertia = kmeans_exact(codes, 10, 10)
    means = np.stack([codes[ids == c].mean(0) for c in range(ids.max() + 1)])
    again = KMeans(len(means), init=means, n_init=1, algorithm="lloyd", tol=0).fit(codes.astype(float))
    np.testing.assert_array_equal(again.labels_, ids)
    assert inertia == pytest.approx(again.inertia_, rel=1e-12)
    assert inertia == pytest.approx(((codes - means[ids]) ** 2).sum(), rel=1e-12)


@pytest.mark.parametrize("split", ["train", "test"])
def test_restarts_are_as_good_as_scikit_learn_in_distribution_on_the_stored_codes(split):
    """Same algorithm (k-means++, n_init restarts, Lloyd), so the same spread of local optima: over 40 seeds our
    inertias are not larger than scikit-learn's by a one-sided rank test at 1 %. The test has the power to see
    a weaker search: 3 restarts instead of 10 are caught (measured p < 1e-5 on both splits)."""
    codes, _ = stored_codes(split)
    same = 1e-9  # inertias equal to this relative precision are the same local optimum (rounding of theirs)
    theirs = np.round(np.log([weighted_sklearn(codes, 10, seed) for seed in range(40)]) / same)
    ours = np.round(np.log([kmeans_exact(codes, 10, 10, seed=seed)[1] for seed in range(40)]) / same)
    fewer = np.round(np.log([kmeans_exact(codes, 10, 3, seed=seed)[1] for seed in range(40)]) / same)
    assert mannwhitneyu(ours, theirs, alternative="greater").pvalue >= 0.01
    assert mannwhitneyu(fewer, theirs, alternative="greater").pvalue < 0.01


def test_subset_phase_ends_at_a_fixed_point_on_all_rows():
    """With more distinct rows than `coarse`, runs are seeded and converged on a subset and the finalists finish
    on all rows (a speed trade: their local optima are the subset's, docs/determinism.md); the result is still
    a fixed point of Lloyd on all rows."""
    codes = prototype_codes(3000, 48, 11)
    ids, inertia = kmeans_exact(codes, 10, 10, coarse=600)
    means = np.stack([codes[ids == c].mean(0) for c in range(10)])
    again = KMeans(10, init=means, n_init=1, algorithm="lloyd", tol=0).fit(codes.astype(float))
    np.testing.assert_array_equal(again.labels_, ids)
    assert inertia == pytest.approx(again.inertia_, rel=1e-12)


def test_fewer_distinct_rows_than_clusters_gives_each_its_own_cluster():
    codes = np.repeat(np.array([[0, 0, 1], [1, 1, 0], [1, 0, 1]], dtype=np.uint8), [5, 3, 2], axis=0)
    ids, inertia = kmeans_exact(codes, 10, 10)
    assert inertia == 0
    assert [set(ids[a:b]) for a, b in ((0, 5), (5, 8), (8, 10))] == [{ids[0]}, {ids[5]}, {ids[8]}]
    assert len({ids[0], ids[5], ids[8]}) == 3


MEASURE = """
import json, sys
import numpy as np, torch
from acthash.metrics.measure import code_metrics, recipe
from acthash.metrics.kmeans import kmeans_exact
from acthash.params.cell import Cell
torch.set_num_threads(int(sys.argv[1]))
f = np.load(sys.argv[2])
out = {}
for name in ("stored", "wide"):
    tr, te, ytr, yte, bits = (f[f"{name}_{k}"] for k in ("train", "test", "y_train", "y_test", "bits"))
    m = code_metrics(tr, te, int(bits), np.ones(int(bits), bool), ytr, yte, n_classes=10, **recipe(Cell()))
    ids, inertia = kmeans_exact(np.unpackbits(tr, axis=1)[:, :int(bits)], 10, 10, coarse=4096)
    out[name] = {**{k: repr(v) for k, v in m.items()}, "ids": ids.tolist(), "inertia": repr(inertia)}
print(json.dumps(out))
"""


def test_same_codes_give_bit_identical_code_metrics_under_other_thread_counts(tmp_path):
    """K-Means (labels and inertia), K-NN and the redundancies of the same codes measured in processes with 1
    and 2 threads (torch, OpenMP, MKL, OpenBLAS, numba) are equal to the last bit: on the stored codes and on
    wider codes (120 units, more distinct rows than the subset phase's 4 096, so the BLAS splits its work)."""
    with np.load(STORED) as f:
        arrays = {f"stored_{k}": f[k] for k in ("train", "test", "y_train", "y_test", "bits")}
    rng = np.random.default_rng(5)
    protos = rng.random((10, 120)) < 0.5
    for split, n in (("train", 6000), ("test", 2000)):
        y = rng.integers(0, 10, n)
        arrays[f"wide_{split}"] = np.packbits(protos[y] ^ (rng.random((n, 120)) < 0.25), axis=1)
        arrays[f"wide_y_{split}"] = y
    arrays["wide_bits"] = np.int64(120)
    np.savez(tmp_path / "codes.npz", **arrays)
    runs = []
    for threads in ("1", "2"):
        env = {**os.environ, **{k: threads for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                     "NUMBA_NUM_THREADS")}}
        proc = subprocess.run([sys.executable, "-c", MEASURE, threads, str(tmp_path / "codes.npz")], env=env,
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout))
    exact = ("kmeans_purity_train", "kmeans_purity_test", "kmeans_hungarian_train", "kmeans_hungarian_test",
             "knn_test", "redundancy_train", "redundancy_test", "share_train", "share_test", "ids", "inertia")
    for name in ("stored", "wide"):
        assert {k: runs[0][name][k] for k in exact} == {k: runs[1][name][k] for k in exact}, name
