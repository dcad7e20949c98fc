"""Metrics on hand-made codes and against scikit-learn; fast backends against the reference."""

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from acthash.metrics import reference as ref
from acthash.metrics.distinct import redundancy_ratio_packed, shared_fraction_packed
from acthash.metrics.knn import knn_neighbors, knn_predict
from acthash.metrics.logreg import logreg_ovo, logreg_ovo_fit
from acthash.metrics.measure import code_metrics, recipe
from acthash.params.cell import Cell


def test_redundancy_on_hand_made_codes():
    codes = np.array([[0, 1], [0, 1], [1, 1], [0, 1], [1, 0]], dtype=np.uint8)
    assert ref.redundancy_ratio(codes) == pytest.approx(2 / 5)  # 3 distinct among 5
    assert redundancy_ratio_packed(np.packbits(codes, axis=1)) == pytest.approx(2 / 5)


@pytest.mark.parametrize("bits", [3, 10, 70])
def test_redundancy_packed_matches_np_unique_and_the_bound(bits):
    rng = np.random.default_rng(bits)
    codes = (rng.random((2000, bits)) < 0.3).astype(np.uint8)
    expected = (2000 - len(np.unique(codes, axis=0))) / 2000
    got = redundancy_ratio_packed(np.packbits(codes, axis=1))
    assert got == pytest.approx(expected)
    assert got >= 1 - 2**bits / 2000 - 1e-12


def test_purity_at_least_hungarian_and_equal_when_majorities_differ():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    distinct = np.array([0, 0, 1, 1, 1, 1, 2, 2, 0])  # cluster majorities 0, 1, 2: all different
    assert ref.purity(distinct, labels) == pytest.approx(ref.hungarian_accuracy(distinct, labels))
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    shared = np.array([0, 0, 1, 1, 2, 2, 2, 2])  # clusters 0 and 1 both have majority label 0
    assert ref.purity(shared, y) == pytest.approx(6 / 8)
    assert ref.hungarian_accuracy(shared, y) == pytest.approx(4 / 8)
    rng = np.random.default_rng(0)
    for _ in range(50):
        c, y = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
        assert ref.purity(c, y) >= ref.hungarian_accuracy(c, y) - 1e-12


def _codes(n, bits, seed, classes=4):
    """Noisy copies of fixed class prototypes (shared across seeds): codes (n, bits) uint8 and labels."""
    protos = np.random.default_rng(bits * 1000 + classes).random((classes, bits)) < 0.5
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    flip = rng.random((n, bits)) < 0.2
    return (protos[y] ^ flip).astype(np.uint8), y


def _noisy_codes(n, bits, seed, flip, classes=10):
    """Like `_codes` with a chosen flip probability."""
    protos = np.random.default_rng(bits * 1000 + classes).random((classes, bits)) < 0.5
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return (protos[y] ^ (rng.random((n, bits)) < flip)).astype(np.uint8), y


def test_constant_units_leave_redundancy_and_knn_unchanged():
    tr, ytr = _codes(300, 24, 0)
    te, yte = _codes(100, 24, 1)
    pad = lambda a: np.hstack([np.ones((len(a), 5), np.uint8), a, np.zeros((len(a), 3), np.uint8)])  # noqa: E731
    for backend in ("fast", "reference"):
        base = code_metrics(np.packbits(tr, 1), np.packbits(te, 1), 24, np.ones(24, bool), ytr, yte, n_classes=4,
                            **recipe(Cell()), backend=backend)
        keep = np.r_[np.zeros(5, bool), np.ones(24, bool), np.zeros(3, bool)]
        padded = code_metrics(np.packbits(pad(tr), 1), np.packbits(pad(te), 1), 32, keep, ytr, yte, n_classes=4,
                              **recipe(Cell()), backend=backend)
        for key in ("redundancy_train", "redundancy_test", "knn_test", "kmeans_purity_train", "logreg_test"):
            assert padded[key] == pytest.approx(base[key]), key


def _knn_ties(tr: np.ndarray, ytr: np.ndarray, te: np.ndarray, k: int) -> np.ndarray:
    """Test rows whose k-NN vote is not determined by the definition: the k-th and (k+1)-th nearest
    distances tie, or the two largest vote counts tie."""
    dist = (te[:, None, :] != tr[None, :, :]).sum(2)
    order = np.argsort(dist, 1, kind="stable")
    sd = np.take_along_axis(dist, order, 1)
    boundary = sd[:, k - 1] == sd[:, k]
    counts = np.stack([np.bincount(ytr[o[:k]], minlength=ytr.max() + 1) for o in order])
    top = np.sort(counts, 1)
    return boundary | (top[:, -1] == top[:, -2])


@pytest.mark.parametrize("k", [7, 9])
def test_knn_equals_scikit_learn_exactly_except_at_ties_where_k_matters(k):
    # two overlapping classes (47 % of 2048 bits flipped): odd k never ties a vote, 7 and 9 neighbours
    # vote differently on many rows; Hamming distances tie at the k-th neighbour on about 2/3 of the rows
    tr, ytr = _noisy_codes(1000, 2048, 2, flip=0.47, classes=2)
    te, yte = _noisy_codes(400, 2048, 3, flip=0.47, classes=2)
    sk = {j: KNeighborsClassifier(j, metric="hamming", algorithm="brute").fit(tr.astype(bool), ytr)
          .predict(te.astype(bool)) for j in (7, 9)}
    decided = ~_knn_ties(tr, ytr, te, 7) & ~_knn_ties(tr, ytr, te, 9)
    assert decided.mean() > 0.25
    assert (sk[7] != sk[9])[decided].sum() >= 10  # the data tells 7 from 9 neighbours
    got = knn_predict(np.packbits(tr, 1), ytr, np.packbits(te, 1), k)
    np.testing.assert_array_equal(got[decided], sk[k][decided])
    metrics = code_metrics(np.packbits(tr, 1), np.packbits(te, 1), 2048, np.ones(2048, bool), ytr, yte,
                           **{**recipe(Cell()), "knn_k": k, "kmeans_n_init": 1}, n_classes=2)
    assert metrics["knn_test"] == (got == yte).mean()  # the cell's K-NN votes with knn_k neighbours


def test_knn_neighbours_are_exact_hamming_nearest():
    tr, _ = _codes(500, 70, 4)
    te, _ = _codes(50, 70, 5)
    idx, dist = knn_neighbors(np.packbits(tr, 1), np.packbits(te, 1), 9)
    full = (te[:, None, :] != tr[None, :, :]).sum(2)
    np.testing.assert_array_equal(dist, np.sort(full, 1)[:, :9])
    np.testing.assert_array_equal(np.take_along_axis(full, idx, 1), dist)
    first = np.argsort(full, 1, kind="stable")[:, :9]  # ties -> lower training index
    np.testing.assert_array_equal(idx, first)


def test_logreg_is_one_vs_one_against_scikit_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsOneClassifier

    tr, ytr = _codes(400, 32, 7)
    te, _ = _codes(100, 32, 8)
    expected = OneVsOneClassifier(LogisticRegression(C=1.0, max_iter=100, random_state=9)).fit(tr, ytr).predict(te)
    np.testing.assert_array_equal(ref.logreg_predict(tr, ytr, te), expected)


def test_fast_backend_equals_the_reference_redundancy_and_kmeans_quality():
    """The fast backend's own implementations against the reference's on the same codes: redundancy by
    hashing equals np.unique; K-Means reaches scikit-learn's purity (K-NN and LR are tested above)."""
    tr, ytr = _codes(1500, 40, 9, classes=10)
    te, yte = _codes(500, 40, 10, classes=10)
    tr[:300] = tr[300:600]  # duplicated rows: redundancy well above 0
    args = (np.packbits(tr, 1), np.packbits(te, 1), 40, np.ones(40, bool), ytr, yte)
    kw = {"n_classes": 10, **recipe(Cell())}
    fast, slow = code_metrics(*args, **kw, backend="fast"), code_metrics(*args, **kw, backend="reference")
    assert fast["redundancy_train"] == slow["redundancy_train"] == pytest.approx(ref.redundancy_ratio(tr))
    assert fast["redundancy_train"] >= 0.2
    for key in ("kmeans_purity_train", "kmeans_purity_test"):
        assert abs(fast[key] - slow[key]) <= 0.05, key


def test_newton_ovo_logreg_agrees_with_scikit_learn():
    """The fast backend's Newton solution of scikit-learn's objective; predictions differ only where
    lbfgs (max_iter 100) stops short or a vote is a near tie."""
    tr, ytr = _codes(3000, 40, 12, classes=10)
    te, _ = _codes(1000, 40, 13, classes=10)
    expected = ref.logreg_predict(tr, ytr, te)
    got = logreg_ovo(tr, ytr, te)
    assert (got == expected).mean() >= 0.99
    single = logreg_ovo(tr, np.zeros_like(ytr), te)
    assert (single == 0).all()


def test_logreg_fit_on_distinct_rows_is_scikit_learns_optimum():
    """Rows taken once with their counts as weights, a warm start on a sample: the coefficients of every
    class pair are scikit-learn's LogisticRegression (C = 1, run to convergence) on that pair's examples."""
    from sklearn.linear_model import LogisticRegression

    tr, ytr = _codes(3000, 12, 14, classes=3)  # 12 bits: many repeated rows
    tr[:500] = tr[500:1000]
    assert len(np.unique(tr, axis=0)) < 1500
    classes, beta = logreg_ovo_fit(tr, ytr, tol=1e-10)
    for p, (i, j) in enumerate(zip(*np.triu_indices(3, 1))):
        pair = (ytr == i) | (ytr == j)
        sk = LogisticRegression(C=1.0, tol=1e-12, max_iter=10000).fit(tr[pair], ytr[pair] == j)
        np.testing.assert_allclose(beta[p].numpy(), np.r_[sk.coef_[0], sk.intercept_], atol=2e-4)


def test_logreg_of_long_codes_is_scikit_learns_optimum_in_a_process_that_set_its_threads(tmp_path):
    """In a process that called torch.set_num_threads (every pack job does), a batched solve of the Newton
    systems returns wrong solutions or fails from about 150 unknowns (torch 2.14.1 with MKL): the fit of
    256-unit codes there is scikit-learn's optimum, pair by pair."""
    import subprocess
    import sys

    from sklearn.linear_model import LogisticRegression

    tr, ytr = _codes(600, 256, 15, classes=3)
    np.save(tmp_path / "tr.npy", tr)
    np.save(tmp_path / "y.npy", ytr)
    script = ("import sys, numpy as np, torch\n"
              "torch.set_num_threads(2)\n"
              "from acthash.metrics.logreg import logreg_ovo_fit\n"
              "d = sys.argv[1]\n"
              "_, beta = logreg_ovo_fit(np.load(d + '/tr.npy'), np.load(d + '/y.npy'), tol=1e-10)\n"
              "np.save(d + '/beta.npy', beta.numpy())\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True)
    beta = np.load(tmp_path / "beta.npy")
    for p, (i, j) in enumerate(zip(*np.triu_indices(3, 1))):
        pair = (ytr == i) | (ytr == j)
        sk = LogisticRegression(C=1.0, tol=1e-12, max_iter=10000).fit(tr[pair], ytr[pair] == j)
        np.testing.assert_allclose(beta[p], np.r_[sk.coef_[0], sk.intercept_], atol=2e-4)


def test_the_measurement_computes_exactly_the_registered_metrics():
    """Each stage's producer returns the metrics the registry lists for it, no more and no fewer."""
    from acthash.metrics.measure import noise_metrics
    from acthash.params.registry import names

    tr, ytr = _codes(200, 24, 0)
    te, yte = _codes(80, 24, 1)
    args = (np.packbits(tr, 1), np.packbits(te, 1), 24, np.ones(24, bool), ytr, yte)
    plain = code_metrics(*args, n_classes=4, **recipe(Cell()))
    assert sorted(plain) == sorted(names("code"))
    noisy = code_metrics(*args, n_classes=4, **recipe(Cell()), y_true=ytr)
    noisy.update(noise_metrics(ytr, ytr, np.ones(len(ytr), bool), ytr))
    assert sorted(noisy) == sorted(names("code") + names("noise"))


def test_the_shared_code_fraction_counts_every_example_of_a_repeated_code():
    codes = np.array([[0, 1], [0, 1], [0, 1], [1, 1], [1, 0], [1, 0], [0, 0], [1, 1]], np.uint8)
    # codes 01 (3 times), 11 (2), 10 (2) are shared; 00 is not: 7 of 8 examples, and R = (8 - 4) / 8
    assert ref.shared_fraction(codes) == shared_fraction_packed(np.packbits(codes, 1)) == 7 / 8
    assert ref.redundancy_ratio(codes) == 0.5
    tr, _ = _codes(500, 12, 3)
    r, share = ref.redundancy_ratio(tr), ref.shared_fraction(tr)
    assert 0 < r < share <= 2 * r and shared_fraction_packed(np.packbits(tr, 1)) == share
