"""Metrics of neural codes (docs/spec.md Part A §2), reference implementations on scikit-learn.

Codes are 0/1 arrays (N, L) or packed rows (N, nbytes) uint8 as stated per function; labels int (N,).
The fast backends (`acthash.metrics.distinct`, `.knn`, `.logreg`, `.kmeans`) are tested against these functions on the same codes.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

SEED = 9  # the reference code's random_state of K-Means and the logistic regression


def redundancy_ratio(codes: np.ndarray) -> float:
    """R = (N − #distinct rows) / N by exact row equality (`np.unique(axis=0)`); any 2-D array of codes."""
    n = len(codes)
    return (n - len(np.unique(codes, axis=0))) / n if n else float("nan")


def shared_fraction(codes: np.ndarray) -> float:
    """The fraction of examples whose code at least one other example shares (`np.unique` counts)."""
    if not len(codes):
        return float("nan")
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return float((counts[np.ravel(inverse)] > 1).mean())


def contingency(clusters: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts (n_clusters, n_labels) of examples per (cluster, true label)."""
    c_ids, c_inv = np.unique(clusters, return_inverse=True)
    l_ids, l_inv = np.unique(labels, return_inverse=True)
    table = np.zeros((len(c_ids), len(l_ids)), dtype=np.int64)
    np.add.at(table, (c_inv, l_inv), 1)
    return table


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Cluster purity: each cluster takes its majority label (the reference's mapping, many-to-one)."""
    return contingency(clusters, labels).max(axis=1).sum() / len(labels)


def hungarian_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the best one-to-one cluster→label matching (`linear_sum_assignment`)."""
    table = contingency(clusters, labels)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return table[rows, cols].sum() / len(labels)


def kmeans_reference(codes01: np.ndarray, n_clusters: int, n_init: int, seed: int = SEED) -> tuple[np.ndarray, float]:
    """scikit-learn K-Means (k-means++, n_init runs, max_iter 300, tol 1e-4) → (cluster ids, inertia)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_clusters, init="k-means++", n_init=n_init, max_iter=300, tol=1e-4, random_state=seed)
    ids = km.fit_predict(np.asarray(codes01, dtype=np.float64))
    return ids, float(km.inertia_)


def knn_reference(train01: np.ndarray, y_train: np.ndarray, test01: np.ndarray, k: int) -> np.ndarray:
    """scikit-learn K-NN, Hamming metric, uniform votes, brute force → predicted test labels."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=k, metric="hamming", algorithm="brute")
    return knn.fit(train01.astype(bool), y_train).predict(test01.astype(bool))


def logreg_predict(train01: np.ndarray, y_train: np.ndarray, test01: np.ndarray, solver: str = "lbfgs") -> np.ndarray:
    """One-vs-one logistic regression (L2, C=1, max_iter 100, random_state 9) → predicted test labels.

    With a single class in the training labels (tiny subsets), every prediction is that class.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsOneClassifier

    classes = np.unique(y_train)
    if len(classes) < 2:
        return np.full(len(test01), classes[0])
    clf = OneVsOneClassifier(LogisticRegression(C=1.0, max_iter=100, solver=solver, random_state=SEED))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.asarray(train01, dtype=np.float32), y_train)
    return clf.predict(np.asarray(test01, dtype=np.float32))
