"""The fast metric backends against scikit-learn on real MNIST codes: a pack of two widths trained for one
epoch on 12 000 examples, measured at initialisation and after the epoch."""

import dataclasses

import h5py
import numpy as np
import pytest
from sklearn.cluster import KMeans

from acthash.metrics import reference as ref
from acthash.metrics.distinct import redundancy_ratio_packed
from acthash.metrics.kmeans import kmeans_exact
from acthash.metrics.knn import knn_neighbors, knn_predict
from acthash.metrics.logreg import logreg_ovo_fit
from acthash.params.cell import Cell
from acthash.run.pack import train_pack
from acthash.store.bits import unpack_bits
from acthash.store.cellfile import read_codes

WIDTHS = (8, 40)  # thousands of repeated codes at 8 units, almost none at 40


@pytest.fixture(scope="module")
def real_codes(data_root, tmp_path_factory) -> list[dict]:
    base = Cell(dataset="mnist", n_train=12000, checkpoints=(0, 1), seed=3)
    path = tmp_path_factory.mktemp("real") / "pack.h5"
    train_pack([dataclasses.replace(base, width=w) for w in WIDTHS], data_root, path, device="cpu")
    out = []
    with h5py.File(path) as f:
        for g in f["members"].values():
            for epoch in g["epochs"][()]:
                c = read_codes(g, int(epoch))
                keep = c.stored_keep
                codes = tuple(unpack_bits(p, len(keep))[:, keep] for p in (c.train, c.test))
                out.append({"where": f"{g.attrs['name']} epoch {epoch}", "packed": (c.train, c.test), "codes": codes,
                            "y": (g["labels/train"][()], g["labels/test"][()])})
    return out


def test_redundancy_and_knn_equal_scikit_learn_on_real_codes(real_codes):
    """Exact: the redundancy, the Hamming distances of the 9 nearest neighbours of every test row, and the
    prediction wherever neither the 9th neighbour nor the vote ties (real codes tie often: which of equally
    distant neighbours scikit-learn picks is an artefact of its partial sort)."""
    from sklearn.neighbors import NearestNeighbors

    k = 9
    for case in real_codes:
        (ptr, pte), (tr, te), (ytr, _) = case["packed"], case["codes"], case["y"]
        assert redundancy_ratio_packed(ptr) == ref.redundancy_ratio(tr), case["where"]
        rows = slice(0, 2000)  # scikit-learn's brute-force Hamming K-NN is slow
        idx, dist = knn_neighbors(ptr, pte[rows], k + 1)
        sk_dist, _ = NearestNeighbors(n_neighbors=k, metric="hamming", algorithm="brute").fit(tr.astype(bool)) \
            .kneighbors(te[rows].astype(bool))
        np.testing.assert_array_equal(dist[:, :k], np.rint(sk_dist * tr.shape[1]), err_msg=case["where"])
        got = knn_predict(ptr, ytr, pte[rows], k)
        expected = ref.knn_reference(tr, ytr, te[rows], k)
        votes = np.sort(np.stack([np.bincount(ytr[i[:k]], minlength=10) for i in idx]), 1)
        decided = (dist[:, k - 1] < dist[:, k]) & (votes[:, -1] > votes[:, -2])
        np.testing.assert_array_equal(got[decided], expected[decided], err_msg=case["where"])


def _objective(x: np.ndarray, y01: np.ndarray, coef: np.ndarray, intercept: float) -> float:
    """scikit-learn's binary objective at C = 1: Σ log-loss + ½‖w‖² (intercept unpenalised)."""
    z = x @ coef + intercept
    return float(np.logaddexp(0, np.where(y01 == 1, -z, z)).sum() + 0.5 * coef @ coef)


def test_newton_logistic_regression_is_at_least_as_optimal_as_scikit_learn_on_real_codes(real_codes):
    """For every class pair, the Newton solution's objective is at most scikit-learn's lbfgs solution's plus
    the bound that convexity and Newton's stopping rule give (f(ours) ≤ f(theirs) + ‖∇f(ours)‖∞·‖ours −
    theirs‖₁, ‖∇f(ours)‖∞ ≤ tol·C·examples of the pair), whatever codes this machine trained."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsOneClassifier

    for case in real_codes:
        (tr, _), (ytr, _) = case["codes"], case["y"]
        classes, beta = logreg_ovo_fit(tr, ytr)
        theirs = OneVsOneClassifier(LogisticRegression(C=1.0, max_iter=100, random_state=9)).fit(tr, ytr)
        pairs = [(i, j) for i in range(len(classes)) for j in range(i + 1, len(classes))]
        for p, ((i, j), est) in enumerate(zip(pairs, theirs.estimators_)):
            rows = (ytr == classes[i]) | (ytr == classes[j])
            x, y01 = tr[rows].astype(float), (ytr[rows] == classes[j]).astype(int)
            ours_b = beta[p].cpu().numpy()
            f_ours = _objective(x, y01, ours_b[:-1], ours_b[-1])
            f_theirs = _objective(x, y01, est.coef_[0], est.intercept_[0])
            gap = 1e-4 * rows.sum() * (np.abs(ours_b[:-1] - est.coef_[0]).sum() + abs(ours_b[-1] - est.intercept_[0]))
            assert f_ours <= f_theirs + gap + 1e-9 * f_theirs, (case["where"], classes[[i, j]], f_ours, f_theirs)


def test_kmeans_result_is_a_fixed_point_of_scikit_learn_lloyd_on_real_codes(real_codes):
    """Started from our clusters' means, scikit-learn's Lloyd changes no label and reports our inertia (its
    quality against scikit-learn's restarts is tested on stored codes: tests/test_kmeans.py)."""
    for case in real_codes:
        tr = case["codes"][0]
        ids, inertia = kmeans_exact(tr, 10, Cell().kmeans_n_init)
        means = np.stack([tr[ids == c].mean(0) for c in range(ids.max() + 1)])
        again = KMeans(len(means), init=means, n_init=1, algorithm="lloyd", tol=0).fit(tr.astype(float))
        np.testing.assert_array_equal(again.labels_, ids, err_msg=case["where"])
        assert inertia == pytest.approx(again.inertia_, rel=1e-12), case["where"]
