"""The Hamming K-NN on packed codes (tested against `acthash.metrics.reference`): a numba kernel over 64-bit
words, distances by popcount of XOR (vectorised over training rows), then one scan for the k nearest; equal test
rows are searched once. Ties at the k-th neighbour go to the lower training index; vote ties to the smallest
label."""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from acthash.metrics.distinct import unique_rows


def as_words(packed: np.ndarray) -> np.ndarray:
    """(N, nbytes) uint8 → (N, ceil(nbytes/8)) uint64, zero-padded (padding never changes a distance)."""
    n, nbytes = packed.shape
    out = np.zeros((n, (nbytes + 7) // 8 * 8), dtype=np.uint8)
    out[:, :nbytes] = packed
    return out.view(np.uint64)


@intrinsic
def _popcount(typingctx, x):  # noqa: ANN001 - numba intrinsic signature
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # noqa: ANN001
        return builder.ctpop(args[0])

    return sig, codegen


@numba.njit(parallel=True, cache=True)
def _knn_kernel(train_t: np.ndarray, test: np.ndarray, k: int,
                dist_type: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each test row: Hamming distances to all training rows (`train_t`: words × rows, so the popcount
    loop runs over contiguous words and vectorises), in `dist_type`'s dtype, then one scan for the k smallest
    (ties → lower training index)."""
    n_words, n_train = train_t.shape
    n_test = test.shape[0]
    idx = np.empty((n_test, k), dtype=np.int64)
    dist = np.empty((n_test, k), dtype=np.int64)
    for i in numba.prange(n_test):
        d = np.zeros(n_train, dtype=dist_type.dtype)
        for w in range(n_words):
            q, words = test[i, w], train_t[w]
            for j in range(n_train):
                d[j] += _popcount(words[j] ^ q)
        best_d = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
        best_i = np.full(k, -1, dtype=np.int64)
        worst = best_d[k - 1]
        for j in range(n_train):
            dj = d[j]
            if dj < worst:
                pos = k - 1
                while pos > 0 and best_d[pos - 1] > dj:
                    best_d[pos] = best_d[pos - 1]
                    best_i[pos] = best_i[pos - 1]
                    pos -= 1
                best_d[pos] = dj
                best_i[pos] = j
                worst = best_d[k - 1]
        idx[i] = best_i
        dist[i] = best_d
    return idx, dist


def knn_neighbors(train_packed: np.ndarray, test_packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Hamming distances (n_test, k) of each test row's k nearest training rows."""
    k = min(k, len(train_packed))
    train, test = as_words(train_packed), as_words(test_packed)
    dist_type = np.zeros(1, np.int16 if 64 * train.shape[1] <= np.iinfo(np.int16).max else np.int32)
    return _knn_kernel(np.ascontiguousarray(train.T), test, k, dist_type)


def knn_predict(train_packed: np.ndarray, y_train: np.ndarray, test_packed: np.ndarray, k: int) -> np.ndarray:
    """K-NN prediction with uniform votes; vote ties → smallest label. Equal test rows are searched once."""
    first, inverse = unique_rows(test_packed)
    idx, _ = knn_neighbors(train_packed, test_packed[first], k)
    votes = y_train[idx]
    n_labels = int(y_train.max()) + 1
    counts = np.zeros((len(votes), n_labels), dtype=np.int64)
    np.add.at(counts, (np.arange(len(votes))[:, None], votes), 1)
    return counts.argmax(1)[inverse]
