"""All code metrics of one (cell, checkpoint): redundancy, K-Means, K-NN and logistic regression.

`backend="fast"` uses `fastmetrics` (hashed distinct rows, packed popcount K-NN, batched K-Means and a
batched Newton solver of the one-vs-one logistic regression, on the device where given);
`backend="reference"` uses scikit-learn / numpy throughout, as the reference code did.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from . import fastmetrics as fm
from . import metrics as ref
from .codes import unpack_bits


@dataclass(frozen=True)
class Metric:
    """One metric of a cell checkpoint. `source` says what computes it: `code_metrics` ("code"), the trainer
    ("net", and "random" with random_inputs), or, only in label-noise cells ("noise"), `code_metrics` given
    the true labels and `noise_metrics`."""

    name: str
    source: str
    long_name: str
    units: str
    description: str


METRICS = (
    Metric("redundancy_train", "code", "R train", "1",
           "redundancy ratio (N - #distinct codes)/N on the training examples"),
    Metric("redundancy_test", "code", "R test", "1", "redundancy ratio (N - #distinct codes)/N on the test set"),
    Metric("kmeans_purity_train", "code", "K-Means purity, train", "1",
           "K-Means cluster purity (majority mapping) on training codes"),
    Metric("kmeans_purity_test", "code", "K-Means purity, test", "1", "K-Means cluster purity on test codes"),
    Metric("kmeans_hungarian_train", "code", "K-Means accuracy, train", "1",
           "K-Means accuracy, one-to-one Hungarian mapping, training codes"),
    Metric("kmeans_hungarian_test", "code", "K-Means accuracy, test", "1",
           "K-Means accuracy, Hungarian mapping, test codes"),
    Metric("knn_test", "code", "K-NN accuracy, test", "1",
           "K-NN (Hamming) accuracy, fit on training codes, scored on test codes"),
    Metric("logreg_test", "code", "logistic regression accuracy, test", "1",
           "one-vs-one logistic regression accuracy on test codes"),
    Metric("code_bits", "code", "code bits used", "bit",
           "number of non-constant code units the K-Means, K-NN and logistic regression saw (a seeded random "
           "sample of code_units units for codes longer than code_units, e.g. CNNs)"),
    Metric("code_bits_total", "code", "code bits", "bit",
           "number of non-constant hidden units of the whole code over train and test"),
    Metric("net_loss_train", "net", "network loss, train", "nat",
           "network cross-entropy on the training examples (training labels)"),
    Metric("net_acc_train", "net", "network accuracy, train", "1",
           "network accuracy on the training examples (training labels)"),
    Metric("net_loss_test", "net", "network loss, test", "nat", "network cross-entropy on the test set"),
    Metric("net_acc_test", "net", "network accuracy, test", "1", "network accuracy on the test set"),
    Metric("knn_test_true", "noise", "K-NN accuracy with true labels, test", "1",
           "K-NN test accuracy with the true (clean) training labels, label-noise cells"),
    Metric("kmeans_purity_train_true", "noise", "K-Means purity, train, true labels", "1",
           "purity of the training codes' K-Means clusters against the true (clean) labels, label-noise cells"),
    Metric("logreg_test_true", "noise", "logistic regression accuracy with true labels, test", "1",
           "test accuracy of the one-vs-one logistic regression fit on the true (clean) training labels, "
           "label-noise cells"),
    Metric("net_fit_noisy", "noise", "network fit of the noisy labels", "1",
           "network accuracy on the noisy-labelled training examples against their noisy labels"),
    Metric("net_acc_noisy_true", "noise", "network accuracy on noisy examples, true labels", "1",
           "network accuracy on the noisy-labelled training examples against their true labels"),
    Metric("redundancy_random_train", "random", "R of random inputs, train-sized", "1",
           "redundancy ratio of codes of seeded random inputs shaped like the training set"),
    Metric("redundancy_random_test", "random", "R of random inputs, test-sized", "1",
           "redundancy ratio of codes of seeded random inputs shaped like the test set"),
)
BY_NAME = {m.name: m for m in METRICS}
OPTIONAL_SOURCES = ("noise", "random")  # metrics present only in some cells


def names(source: str) -> tuple[str, ...]:
    """The names of the metrics computed by `source`, in registry order."""
    return tuple(m.name for m in METRICS if m.source == source)


def unmeasured(metrics: Collection[str], status: str, noisy: bool) -> tuple[str, ...]:
    """The registered metrics that measuring a cell's stored codes computes and its file lacks (it was
    measured before they were added): re-measuring adds them. A diverged cell has no code metrics."""
    if status != "ok":
        return ()
    due = names("code") + (names("noise") if noisy else ())
    return tuple(m for m in due if m not in metrics)


def _kmeans(codes01: np.ndarray, n_classes: int, n_init: int, backend: str, device: str | None) -> np.ndarray:
    k = min(n_classes, len(codes01))
    if backend == "fast":
        return fm.kmeans_fast(codes01, k, n_init=n_init, device=device)[0]
    return ref.kmeans_reference(codes01, k, n_init=n_init)[0]


def code_metrics(
    train_packed: np.ndarray, test_packed: np.ndarray, length: int, keep: np.ndarray, y_train: np.ndarray,
    y_test: np.ndarray, n_classes: int = 10, knn_k: int = 9, kmeans_n_init: int = 10,
    logreg_solver: str = "lbfgs", backend: str = "fast", device: str | None = None,
    hashes: tuple[np.ndarray, np.ndarray] | None = None, y_true: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics of SPEC Part A §2 from packed codes (train rows = the cell's n examples, untiled).

    `keep`: (length,) bool mask of units not constant over train ∪ test; K-Means and logistic regression see
    only kept units (redundancy and K-NN are unchanged by constant units). `hashes`: digests of the whole
    train and test rows when the packed codes hold only sampled units (CNNs); redundancy then counts them.
    `code_bits` is the number of units the estimators saw. `y_true`: in label-noise cells, the true training
    labels (`y_train` the noisy ones they were trained on): K-NN, K-Means purity and logistic regression are
    then also scored with them (`knn_test_true`, `kmeans_purity_train_true`, `logreg_test_true`).
    """
    if backend not in ("fast", "reference"):
        raise ValueError(f"backend={backend!r} not in ('fast', 'reference')")
    keep = np.asarray(keep, dtype=bool)
    if not keep.any():  # every unit constant: one code for everything; keep one column so estimators run
        keep = np.zeros_like(keep)
        keep[0] = True
    tr01 = unpack_bits(train_packed, length)[:, keep]
    te01 = unpack_bits(test_packed, length)[:, keep]
    out: dict[str, float] = {"code_bits": float(np.asarray(keep).sum())}
    if hashes is not None:  # distinct whole-row digests = distinct codes, whichever backend
        rows, redundancy = hashes, fm.redundancy_ratio_packed
    elif backend == "fast":
        rows, redundancy = (train_packed, test_packed), fm.redundancy_ratio_packed
    else:
        rows, redundancy = (tr01, te01), ref.redundancy_ratio
    out["redundancy_train"], out["redundancy_test"] = redundancy(rows[0]), redundancy(rows[1])
    labelings = {"": y_train} if y_true is None else {"": y_train, "_true": y_true}
    for suffix, y in labelings.items():
        if backend == "fast":
            knn = fm.knn_predict(train_packed, y, test_packed, knn_k)
        else:
            knn = ref.knn_reference(tr01, y, te01, min(knn_k, len(tr01)))
        out[f"knn_test{suffix}"] = float((knn == y_test).mean())
    for split, codes, y in (("train", tr01, y_train), ("test", te01, y_test)):
        ids = _kmeans(codes, n_classes, kmeans_n_init, backend, device)
        out[f"kmeans_purity_{split}"], out[f"kmeans_hungarian_{split}"] = ref.purity(ids, y), \
            ref.hungarian_accuracy(ids, y)
        if split == "train" and y_true is not None:
            out["kmeans_purity_train_true"] = ref.purity(ids, y_true)
    exact = backend == "fast" and logreg_solver == "lbfgs"  # the optimum lbfgs seeks (liblinear's differs)
    for suffix, y in labelings.items():
        pred = fm.logreg_ovo(tr01, y, te01, device=device) if exact else \
            ref.logreg_predict(tr01, y, te01, logreg_solver)
        out[f"logreg_test{suffix}"] = float((pred == y_test).mean())
    return out


def noise_metrics(y_true: np.ndarray, noisy: np.ndarray, noise_mask: np.ndarray,
                  pred_train: np.ndarray) -> dict[str, float]:
    """For cells trained on noisy labels: the network's fit of the noisy labels on the noisy subset, and its
    accuracy there against the true labels."""
    on = np.asarray(noise_mask, dtype=bool)
    return {"net_fit_noisy": float((pred_train[on] == noisy[on]).mean()) if on.any() else float("nan"),
            "net_acc_noisy_true": float((pred_train[on] == y_true[on]).mean()) if on.any() else float("nan")}
