"""Each regularisation / noise / probe axis changes what it should, and nothing else (digits, float64)."""

import dataclasses

import numpy as np
import pytest
import torch

from acthash.data.augment import augment_batch
from acthash.data.probes import random_inputs
from acthash.data.sources import load
from acthash.metrics.measure import code_metrics, noise_metrics, random_metrics, recipe
from acthash.nets.train import training_inputs
from acthash.params.cell import Cell

from .conftest import make_trainer
from .synthetic import small_cell
from .test_train import BASE


def test_augmentation_changes_training_batches_but_never_codes():
    plain, aug = (make_trainer([dataclasses.replace(BASE, width=16, augment=a)]) for a in (False, True))
    plain.evaluate(), aug.evaluate()  # epoch 0: same initialisation, codes without augmentation
    np.testing.assert_array_equal(plain.results[0].checkpoints[0].train.packed, aug.results[0].checkpoints[0].train.packed)
    rows = plain.rows[:, :64]
    batch = [training_inputs(t.x, rows, t.cells[0], t.image_shape, t.aug_gens) for t in (plain, aug)]
    assert torch.equal(batch[0], plain.x[rows])
    assert not torch.equal(batch[1], aug.x[rows])
    codes_again = make_trainer([dataclasses.replace(BASE, width=16, augment=True)])
    codes_again.evaluate()  # extraction is deterministic: no augmentation at evaluation
    np.testing.assert_array_equal(codes_again.results[0].checkpoints[0].test.packed, aug.results[0].checkpoints[0].test.packed)
    plain.train_epoch(), aug.train_epoch()
    assert plain.results[0].loss != aug.results[0].loss


def test_augment_batch_is_seeded_moves_images_and_keeps_their_mass():
    """Rotations and shifts of images with an empty border move pixels but keep each image's total
    intensity (bilinear sampling, nothing pushed out of the frame)."""
    x = torch.zeros(32, 1, 28, 28, dtype=torch.float64)
    x[:, :, 8:20, 8:20] = torch.rand(32, 1, 12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = x.reshape(32, -1)
    a = augment_batch(x, (1, 28, 28), "mnist", torch.Generator().manual_seed(1))
    b = augment_batch(x, (1, 28, 28), "mnist", torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape
    moved = (a - x).abs().sum(1) / x.sum(1)
    assert (moved > 0.05).float().mean() > 0.8  # most images are visibly transformed
    np.testing.assert_allclose(a.sum(1).numpy(), x.sum(1).numpy(), rtol=0.03)
    rgb = torch.zeros(64, 3, 32, 32)
    rgb[:, :, 10:22, 6:18] = 1.0  # an off-centre square: a horizontal flip moves it to the other side
    flipped = augment_batch(rgb.reshape(64, -1), (3, 32, 32), "cifar10", torch.Generator().manual_seed(2))
    right = flipped.reshape(64, 3, 32, 32)[:, :, :, 16:].sum((1, 2, 3)) / rgb[0].sum()
    assert 0.2 < (right > 0.5).float().mean() < 0.8  # about half the batch mirrored
    np.testing.assert_allclose(flipped.sum(1).numpy(), rgb.reshape(64, -1).sum(1).numpy(), rtol=0.05)


def test_dropout_is_off_in_codes():
    trainer = make_trainer([dataclasses.replace(BASE, width=16, dropout=0.5)])
    trainer.train_epoch()
    trainer.evaluate()
    trainer.evaluate()
    first, second = trainer.results[0].checkpoints
    np.testing.assert_array_equal(first.train.packed, second.train.packed)


def test_random_inputs_are_seeded_and_measured_at_every_checkpoint():
    x = np.random.default_rng(0).random((100, 1, 8, 8), dtype=np.float32)
    for kind in ("uniform01", "neg_uniform01", "gaussian_like_data"):
        a, b = random_inputs(kind, 50, x, 3), random_inputs(kind, 50, x, 3)
        assert a.shape == (50, 64) and np.array_equal(a, b) and not np.array_equal(a, random_inputs(kind, 50, x, 4))
    assert (random_inputs("neg_uniform01", 10, x, 0) <= 0).all()
    cells = [dataclasses.replace(BASE, width=w, random_inputs="uniform01") for w in (3, 24)]
    results = make_trainer(cells).run()
    for res in results:  # codes of as many random inputs as training rows (600) and as test examples, each checkpoint
        assert [tuple(len(rows) for rows in c.random) for c in res.checkpoints] == [(600, len(c.test.pred))
                                                                                  for c in res.checkpoints]
    narrow, wide = (random_metrics(*r.checkpoints[-1].random)["redundancy_random_test"] for r in results)
    assert narrow > wide  # 3 units cannot give 300 random inputs distinct codes; 24 can
    again = make_trainer(cells).run()
    assert all(np.array_equal(a, b) for a, b in zip(again[0].checkpoints[-1].random, results[0].checkpoints[-1].random))


def test_noise_cells_score_codes_with_the_true_labels_too():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(3), 40)  # three code groups, one per true class, 24 bits each
    codes = (rng.random((120, 72)) < 0.05).astype(np.uint8)
    for g in range(3):
        codes[groups == g, 24 * g: 24 * (g + 1)] = 1
    packed = np.packbits(codes, axis=1)
    y_true = groups
    noisy = np.where(groups == 0, 1 + np.arange(120) % 2, groups)  # class 0's training labels: 1 and 2 alternately
    for backend in ("fast", "reference"):
        out = code_metrics(packed, packed, 72, np.ones(72, bool), noisy, y_true, n_classes=3,
                           **{**recipe(Cell()), "knn_k": 5, "kmeans_n_init": 2}, backend=backend, y_true=y_true)
        assert out["knn_test_true"] == out["logreg_test_true"] == out["kmeans_purity_train_true"] == 1.0
        assert out["knn_test"] == out["logreg_test"] == pytest.approx(2 / 3)  # class 0 is never predicted
        assert out["kmeans_purity_train"] == pytest.approx(5 / 6)  # group 0's cluster: half 1, half 2
    assert "knn_test_true" not in code_metrics(packed, packed, 72, np.ones(72, bool), noisy, y_true, n_classes=3,
                                           **recipe(Cell()))
    mask = np.array([0, 0, 0, 1, 1, 0], bool)
    out = noise_metrics(np.arange(6), np.array([0, 1, 2, 9, 9, 5]), mask, np.array([0, 1, 2, 9, 4, 5]))
    assert out == {"net_fit_noisy": 0.5, "net_acc_noisy_true": 0.5}


def test_a_label_noise_cell_file_scores_its_codes_with_both_labelings(tmp_path):
    import h5py

    from acthash.metrics.knn import knn_predict
    from acthash.run.runner import run_pack
    from acthash.store.cellfile import read_cell, read_codes

    cells = [small_cell(width=24, n_train=600, label_noise=v, checkpoints=(0, 2), early_stopping=False,
                  kmeans_n_init=2) for v in (0.0, 0.6)]
    outs = [tmp_path / f"{i}.h5" for i in range(2)]
    run_pack(cells, outs, ".", tmp_path / "pack", "cpu", "fast", "cpu")
    clean, noisy = (read_cell(p).metrics for p in outs)
    extra = {"knn_test_true", "kmeans_purity_train_true", "logreg_test_true", "net_fit_noisy", "net_acc_noisy_true"}
    assert not extra & set(clean) and extra <= set(noisy)
    with h5py.File(outs[1]) as f:  # the stored scores are those of the stored codes with each labeling
        c, y_test = read_codes(f, 2), f["labels/test"][()]
        for key, labels in (("knn_test", "labels/train"), ("knn_test_true", "labels/train_true")):
            want = (knn_predict(c.train, f[labels][()], c.test, 9) == y_test).mean()
            assert noisy[key][-1] == pytest.approx(want), key
    assert noisy["knn_test_true"][-1] > noisy["knn_test"][-1]


@pytest.mark.slow
def test_fashion_mnist_is_fetched_and_loads(tmp_path):
    from acthash.data.sources import fetch

    fetch("fashion_mnist", tmp_path)
    a = load("fashion_mnist", tmp_path)
    assert a.x_train.shape == (60000, 1, 28, 28) and a.x_test.shape == (10000, 1, 28, 28)
    assert sorted(np.unique(a.y_test)) == list(range(10))


def test_the_random_input_redundancy_is_measured_from_the_codes_the_trainer_stored(tmp_path):
    """The pack file holds each checkpoint's codes of random inputs (sealed with the other codes); the cell file's
    random-input redundancy is computed from them when the cell is measured."""
    import h5py

    from acthash.run.runner import run_pack
    from acthash.store.cellfile import read_cell, read_random_rows

    cell = dataclasses.replace(BASE, width=6, random_inputs="uniform01", checkpoints=(0, 1))
    (out,) = run_pack([cell], [tmp_path / "c.h5"], ".", tmp_path / "pack", "cpu")
    rec = read_cell(out, cell.param_hash)
    with h5py.File(out) as f:
        expected = [random_metrics(*read_random_rows(f, e)) for e in (0, 1)]
    for key in ("redundancy_random_train", "redundancy_random_test"):
        assert rec.metrics[key].tolist() == [e[key] for e in expected] and 0 < rec.metrics[key][0] < 1


def test_a_random_input_cell_that_diverges_before_its_first_checkpoint_is_written(tmp_path):
    """Its file holds the registered random-input metrics (no checkpoint, no values) and no code metrics."""
    from acthash.run.runner import run_pack
    from acthash.store.cellfile import read_cell

    cell = dataclasses.replace(BASE, random_inputs="uniform01", checkpoints=(2,), lr=1e30)
    (out,) = run_pack([cell], [tmp_path / "c.h5"], ".", tmp_path / "pack", "cpu")
    rec = read_cell(out, cell.param_hash)
    assert rec.status == "diverged" and len(rec.epochs) == 0
    assert {"redundancy_random_train", "redundancy_random_test"} <= set(rec.metrics) and "knn_test" not in rec.metrics
