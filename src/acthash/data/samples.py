"""Training examples of one cell: the 80 % split, first-n or stratified subsets, tiling and label noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acthash.params.cell import Cell
from acthash.params.datasets import DATASETS, split_size


@dataclass(frozen=True)
class Samples:
    """Which training rows a cell sees and with which labels.

    `index`: (n,) int64 rows of the official training split (the n examples, untiled);
    `labels`: (n,) int64 labels used for training (noisy where `noise_mask`); `true_labels`: (n,) clean;
    `rows`: (n·⌊N/n⌋,) int64 positions into `index` making one tiled epoch.
    """

    index: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    noise_mask: np.ndarray
    rows: np.ndarray


def stream_seed(seed: int, stream: int) -> int:
    """An independent 63-bit seed for random stream `stream` of a cell with `seed` (data order, augmentation,
    dropout, ...), so that streams of different cells never coincide."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def subset_indices(y: np.ndarray, n: int, mode: str, seed: int) -> np.ndarray:
    """The n training examples: the first n (`first_n`, the reference) or a seeded class-stratified draw."""
    if n > len(y):
        raise ValueError(f"n_train={n} exceeds the training split size {len(y)}")
    if mode == "first_n":
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([seed, 11])
    classes, counts = np.unique(y, return_counts=True)
    quota = np.floor(counts / counts.sum() * n).astype(int)
    for i in np.argsort(-(counts / counts.sum() * n - quota))[: n - quota.sum()]:
        quota[i] += 1
    picks = [rng.choice(np.flatnonzero(y == c), q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def tile_rows(n: int, n_split: int, tile: bool) -> np.ndarray:
    """Positions 0..n-1 repeated ⌊n_split/n⌋ times (np.tile), so an epoch has about a full split's steps."""
    reps = max(1, n_split // n) if tile else 1
    return np.tile(np.arange(n, dtype=np.int64), reps)


def noisy_labels(
    y: np.ndarray, rate: float, mode: str, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a seeded random subset of ⌊rate·n⌋ labels; return (labels, mask of the chosen subset).

    `symmetric_other`: each chosen label becomes one of the other classes, uniformly.
    `permute_subset`: the chosen labels are shuffled among themselves (what the reference helper meant to do).
    """
    rng = np.random.default_rng([seed, 7])
    k = int(np.floor(rate * len(y)))
    chosen = rng.choice(len(y), k, replace=False)
    out = y.copy()
    if mode == "symmetric_other":
        shift = rng.integers(1, n_classes, size=k)
        out[chosen] = (y[chosen] + shift) % n_classes
    else:
        out[chosen] = y[rng.permutation(chosen)]
    mask = np.zeros(len(y), dtype=bool)
    mask[chosen] = True
    return out, mask


def cell_samples(cell: Cell, y_train_official: np.ndarray, n_classes: int) -> Samples:
    """Everything about the training rows of `cell`, from the official training labels."""
    n_split = split_size(cell.dataset, cell.train_fraction)
    if len(y_train_official) != DATASETS[cell.dataset].train_size:
        raise ValueError(f"{cell.dataset}: {len(y_train_official)} training labels, "
                         f"expected {DATASETS[cell.dataset].train_size}")
    y_split = y_train_official[:n_split]
    index = subset_indices(y_split, cell.n_train, cell.subset, cell.seed)
    true = y_split[index]
    labels, mask = noisy_labels(true, cell.label_noise, cell.noise_mode, n_classes, cell.seed)
    return Samples(index, labels, true, mask, tile_rows(cell.n_train, n_split, cell.tile))
