"""The fast metric backends against scikit-learn on real MNIST codes: a pack of two widths trained for one
epoch on 12 000 examples, measured at initialisation and after the epoch."""

import dataclasses

import h5py
import numpy as np
import pytest
from sklearn.cluster import KMeans

from acthash.metrics import fast as fm
from acthash.metrics import reference as ref
from acthash.nets.codes import unpack_bits
from acthash.params.cell import Cell
from acthash.run.pack import train_pack
from acthash.run.store import read_codes

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
        assert fm.redundancy_ratio_packed(ptr) == ref.redundancy_ratio(tr), case["where"]
        rows = slice(0, 2000)  # scikit-learn's brute-force Hamming K-NN is slow
        idx, dist = fm.knn_neighbors(ptr, pte[rows], k + 1)
        sk_dist, _ = NearestNeighbors(n_neighbors=k, metric="hamming", algorithm="brute").fit(tr.astype(bool)) \
            .kneighbors(te[rows].astype(bool))
        np.testing.assert_array_equal(dist[:, :k], np.rint(sk_dist * tr.shape[1]), err_msg=case["where"])
        got = fm.knn_predict(ptr, ytr, pte[rows], k)
        expected = ref.knn_reference(tr, ytr, te[rows], k)
        votes = np.sort(np.stack([np.bincount(ytr[i[:k]], minlength=10) for i in idx]), 1)
        decided = (dist[:, k - 1] < dist[:, k]) & (votes[:, -1] > votes[:, -2])
        np.testing.assert_array_equal(got[decided], expected[decided], err_msg=case["where"])


def test_logistic_regression_and_kmeans_match_scikit_learn_on_real_codes(real_codes):
    for case in real_codes:
        (tr, te), (ytr, yte) = case["codes"], case["y"]
        fast, slow = fm.logreg_ovo(tr, ytr, te), ref.logreg_predict(tr, ytr, te)
        assert (fast == slow).mean() >= 0.99, case["where"]
        assert abs((fast == yte).mean() - (slow == yte).mean()) <= 0.005, case["where"]
        ids, inertia = fm.kmeans_fast(tr, 10, Cell().kmeans_n_init)
        runs = [KMeans(10, n_init=10, random_state=seed).fit(tr.astype(float)) for seed in range(5)]
        assert inertia <= min(r.inertia_ for r in runs) * 1.01, case["where"]
        # near-equal inertia, other local optima: purity moves between scikit-learn's own seeds
        purities = [ref.purity(r.labels_, ytr) for r in runs]
        assert min(purities) - 0.02 <= ref.purity(ids, ytr) <= max(purities) + 0.02, (case["where"], purities)
