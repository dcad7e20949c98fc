"""Training rows: split, subsets, tiling, label noise."""

import numpy as np
import pytest

from acthash.data.samples import cell_samples, noisy_labels, subset_indices, tile_rows
from acthash.params.cell import Cell


@pytest.mark.parametrize("n", [10, 30, 1000, 20000, 48000])
def test_tiling_gives_n_times_floor_rows(n):
    rows = tile_rows(n, 48000, tile=True)
    assert len(rows) == n * (48000 // n)
    assert np.bincount(rows).min() == np.bincount(rows).max() == 48000 // n


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.6, 1.0])
def test_symmetric_noise_rate_mask_and_other_class(rate):
    y = np.random.default_rng(0).integers(0, 10, 5000)
    noisy, mask = noisy_labels(y, rate, "symmetric_other", 10, seed=3)
    assert mask.sum() == int(rate * 5000)
    assert np.all(noisy[mask] != y[mask]) and np.all(noisy[~mask] == y[~mask])
    assert np.array_equal(noisy_labels(y, rate, "symmetric_other", 10, seed=3)[0], noisy)  # seeded


def test_permute_subset_keeps_label_counts_of_the_subset():
    y = np.random.default_rng(1).integers(0, 10, 2000)
    noisy, mask = noisy_labels(y, 0.5, "permute_subset", 10, seed=0)
    assert np.array_equal(np.sort(noisy[mask]), np.sort(y[mask]))
    assert 0.8 < (noisy[mask] != y[mask]).mean() < 0.95  # about 10 % keep their label by chance


def test_cell_samples_first_n_of_the_80_percent_split():
    y = np.arange(60000) % 10
    s = cell_samples(Cell(n_train=100, label_noise=0.3), y, 10)
    assert np.array_equal(s.index, np.arange(100)) and len(s.rows) == 100 * 480
    assert s.noise_mask.sum() == 30 and np.array_equal(s.true_labels, y[:100])
    with pytest.raises(ValueError, match="exceeds the training split size 48000"):
        subset_indices(y[:48000], 50000, "first_n", 0)


def test_stratified_subset_is_balanced_and_seeded():
    y = np.random.default_rng(2).integers(0, 10, 48000)
    idx = subset_indices(y, 1000, "stratified_random", seed=5)
    assert len(np.unique(idx)) == 1000 and np.bincount(y[idx]).min() >= 90
    assert np.array_equal(idx, subset_indices(y, 1000, "stratified_random", seed=5))
