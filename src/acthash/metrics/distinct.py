"""Distinct rows of codes, compared exactly through their packed bytes (like `np.unique(axis=0)`; tested against
`acthash.metrics.reference`): the redundancy ratio, the share of codes shared, and distinct rows with label counts
(what K-Means and the logistic regression work on)."""

from __future__ import annotations

import collections

import numpy as np


def _row_keys(packed: np.ndarray) -> np.ndarray:
    """Each row of a (N, nbytes) uint8 array as one opaque value: equal rows, equal keys."""
    packed = np.ascontiguousarray(packed)
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def unique_rows(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a (N, nbytes) uint8 array → (index of each distinct row's first occurrence, index (N,)
    of each row's distinct row)."""
    _, first, inverse = np.unique(_row_keys(packed), return_index=True, return_inverse=True)
    return first, inverse


def distinct_rows(packed: np.ndarray) -> int:
    """Number of distinct rows of a (N, nbytes) uint8 array."""
    return len(set(_row_keys(packed).tolist())) if len(packed) else 0


def redundancy_ratio_packed(packed: np.ndarray) -> float:
    """R = (N − #distinct rows) / N on packed rows."""
    n = len(packed)
    return (n - distinct_rows(packed)) / n if n else float("nan")


def shared_fraction_packed(packed: np.ndarray) -> float:
    """The fraction of rows equal to at least one other row, on packed rows (between R and 2R)."""
    n = len(packed)
    counts = collections.Counter(_row_keys(packed).tolist())
    return sum(c for c in counts.values() if c > 1) / n if n else float("nan")


def distinct_counts(codes01: np.ndarray, labels: np.ndarray,
                    n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of a 0/1 array (N, L), compared exactly through their packed bytes → (rows (M, L), counts
    (M, n_labels) of each row with each label, index (N,) of each input row's distinct row)."""
    codes01 = np.asarray(codes01, dtype=np.uint8)
    first, inverse = unique_rows(np.packbits(codes01, axis=1))
    counts = np.bincount(inverse * n_labels + labels, minlength=len(first) * n_labels).reshape(len(first), n_labels)
    return codes01[first], counts, inverse
