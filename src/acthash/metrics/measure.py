"""All code metrics of one (cell, checkpoint): redundancy, K-Means, K-NN and logistic regression.

`backend="fast"` uses `acthash.metrics.distinct` (hashed distinct rows), `.knn` (packed popcount K-NN), `.logreg`
(a batched Newton solver of the one-vs-one logistic regression, on the device where given) and `.kmeans` (K-Means
computed exactly from the codes);
`backend="reference"` uses scikit-learn / numpy throughout, as the reference code did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acthash.metrics import reference as ref
from acthash.metrics.distinct import redundancy_ratio_packed, shared_fraction_packed
from acthash.metrics.kmeans import kmeans_exact
from acthash.metrics.knn import knn_predict
from acthash.metrics.logreg import logreg_ovo
from acthash.params import registry
from acthash.params.cell import Cell
from acthash.params.registry import BACKENDS
from acthash.store.bits import unpack_bits


@dataclass(frozen=True)
class Codes:
    """What a registered metric's `compute` sees of one checkpoint: the kept units of the training and test
    codes as 0/1 rows (uint8, examples × units) and their labels."""

    train: np.ndarray
    test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def _kmeans(codes01: np.ndarray, n_classes: int, n_init: int, backend: str, device: str | None) -> np.ndarray:
    k = min(n_classes, len(codes01))
    if backend == "fast":
        return kmeans_exact(codes01, k, n_init=n_init, device=device)[0]
    return ref.kmeans_reference(codes01, k, n_init=n_init)[0]


def recipe(cell: Cell) -> dict[str, object]:
    """The cell's measurement keywords of `code_metrics` (its K-NN, K-Means and logistic-regression recipe)."""
    return {"knn_k": cell.knn_k, "kmeans_n_init": cell.kmeans_n_init, "logreg_solver": cell.logreg_solver}


def code_metrics(
    train_packed: np.ndarray, test_packed: np.ndarray, length: int, keep: np.ndarray, y_train: np.ndarray,
    y_test: np.ndarray, *, n_classes: int, knn_k: int, kmeans_n_init: int, logreg_solver: str,
    backend: str = "fast", device: str | None = None,
    hashes: tuple[np.ndarray, np.ndarray] | None = None, y_true: np.ndarray | None = None,
    whole_keep: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics of docs/spec.md Part A §2 from packed codes (train rows = the cell's n examples, untiled); `n_classes`
    and the cell's `recipe` (K-NN neighbours, K-Means restarts, logistic-regression solver).

    `keep`: (length,) bool mask of units not constant over train ∪ test; K-Means and logistic regression see
    only kept units (redundancy and K-NN are unchanged by constant units). `hashes`: digests of the whole
    train and test rows when the packed codes hold only sampled units (CNNs); redundancy then counts them.
    `code_bits` is the number of units the estimators saw, `code_bits_total` that of the whole code
    (`whole_keep`, the whole code's keep-mask when the packed codes hold a sample of its units; default
    `keep`). `share_*`: the fraction of examples whose code another example shares. `y_true`: in label-noise
    cells, the true training labels (`y_train` the noisy ones they were trained on): K-NN, K-Means purity and
    logistic regression are then also scored with them (`knn_test_true`, `kmeans_purity_train_true`,
    `logreg_test_true`).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} not in {BACKENDS}")
    keep = np.asarray(keep, dtype=bool)
    total = float(np.asarray(keep if whole_keep is None else whole_keep, dtype=bool).sum())
    if not keep.any():  # every unit constant: one code for everything; keep one column so estimators run
        keep = np.zeros_like(keep)
        keep[0] = True
    tr01 = unpack_bits(train_packed, length)[:, keep]
    te01 = unpack_bits(test_packed, length)[:, keep]
    codes = Codes(tr01, te01, y_train, y_test)
    out = {m.name: float(m.compute(codes)) for m in registry.METRICS if m.source == "code" and m.compute}
    out["code_bits_total"] = total
    if hashes is not None:  # distinct whole-row digests = distinct codes, whichever backend
        rows, redundancy, share = hashes, redundancy_ratio_packed, shared_fraction_packed
    elif backend == "fast":
        rows, redundancy, share = (train_packed, test_packed), redundancy_ratio_packed, shared_fraction_packed
    else:
        rows, redundancy, share = (tr01, te01), ref.redundancy_ratio, ref.shared_fraction
    out["redundancy_train"], out["redundancy_test"] = redundancy(rows[0]), redundancy(rows[1])
    out["share_train"], out["share_test"] = share(rows[0]), share(rows[1])
    labelings = {"": y_train} if y_true is None else {"": y_train, "_true": y_true}
    for suffix, y in labelings.items():
        if backend == "fast":
            knn = knn_predict(train_packed, y, test_packed, knn_k)
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
        pred = logreg_ovo(tr01, y, te01, device=device) if exact else \
            ref.logreg_predict(tr01, y, te01, logreg_solver)
        out[f"logreg_test{suffix}"] = float((pred == y_test).mean())
    return out


def random_metrics(train_rows: np.ndarray, test_rows: np.ndarray) -> dict[str, float]:
    """For cells with random_inputs: the redundancy of a network's codes of random inputs shaped like its training
    and test sets (rows as stored: whole packed rows or their digests)."""
    return {"redundancy_random_train": redundancy_ratio_packed(train_rows),
            "redundancy_random_test": redundancy_ratio_packed(test_rows)}


def noise_metrics(y_true: np.ndarray, noisy: np.ndarray, noise_mask: np.ndarray,
                  pred_train: np.ndarray) -> dict[str, float]:
    """For cells trained on noisy labels: the network's fit of the noisy labels on the noisy subset, and its
    accuracy there against the true labels."""
    on = np.asarray(noise_mask, dtype=bool)
    return {"net_fit_noisy": float((pred_train[on] == noisy[on]).mean()) if on.any() else float("nan"),
            "net_acc_noisy_true": float((pred_train[on] == y_true[on]).mean()) if on.any() else float("nan")}
