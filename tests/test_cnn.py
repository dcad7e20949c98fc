"""CNN packs: reference code lengths, the stacked CNN against training each member alone, chunked and
sampled code extraction against an unchunked whole-code reference, and cell files of CNN cells."""

import dataclasses

import numpy as np
import pytest
import torch

from acthash.data.augment import policy
from acthash.nets.cnn import StackedCNN
from acthash.nets.codes import extract, sample_units
from acthash.params.cell import ARCHS, Cell
from acthash.run.pack import measure_member, train_pack
from acthash.store.cellfile import open_checked, read_codes

BN = {"bn_eps": Cell().bn_eps, "bn_momentum": Cell().bn_momentum}

from .conftest import assert_pack_equals_alone, make_trainer
from .synthetic import small_cell


@pytest.mark.parametrize("arch, width, bits", [("vgg16", 64, 277504), ("resnet18", 64, 557056),
                                                ("resnet20", 16, 188416)])
def test_code_lengths_of_the_reference_networks(arch, width, bits):
    """docs/spec.md Part B §2.5 counts the bits of every ReLU of the reference networks on 32×32 CIFAR-10."""
    assert StackedCNN(arch, (3, 32, 32), 10, width, [0], None, **BN).code_lengths == [bits]
    if arch == "vgg16":  # 28×28 digits are padded to 32×32, so VGG's five poolings are defined
        assert StackedCNN(arch, (1, 28, 28), 10, width, [0], None, **BN).code_lengths == [bits]


@pytest.mark.parametrize("arch", [a for a in ARCHS if a != "mlp"])
def test_every_cnn_arch_a_cell_accepts_is_built_and_codes_its_images(arch):
    """Each CNN a Cell accepts builds as a pack of two members on CIFAR-shaped images: logits of each member for
    each image, and codes of its declared length (every ReLU of its blocks)."""
    model = StackedCNN(arch, (3, 32, 32), 10, 2, [0, 1], None, Cell().bn_eps, Cell().bn_momentum).eval()
    x = torch.rand(5, 3 * 32 * 32)
    with torch.no_grad():
        logits, hidden = model(x.expand(2, -1, -1))
    assert logits.shape == (2, 5, 10) and torch.isfinite(logits).all()
    relus = sum(h[0].numel() for h in hidden) // 2  # every ReLU output of one image, split over the 2 members
    assert model.code_lengths == [relus, relus] and model.member_bits(hidden, 1, 5).shape == (5, relus)
    codes = extract(model, x, [np.arange(5)] * 2, [np.zeros(5, dtype=np.int64)] * 2)
    assert codes[1].packed.shape == (5, -(-relus // 8))


def test_cnn_recipe_checks_and_augmentation_policy():
    with pytest.raises(ValueError, match="depth"):
        Cell(arch="resnet20", depth=2)
    with pytest.raises(ValueError, match="dropout"):
        Cell(arch="resnet18", dropout=0.5)
    with pytest.raises(ValueError, match="arch"):
        Cell(arch="vgg11")
    assert policy("mnist", 28, cnn=True) == (15.0, 3, False)  # digits are never flipped
    assert policy("cifar10", 32, cnn=True)[2] and policy("fashion_mnist", 28, cnn=True)[2]
    assert not policy("svhn", 32, cnn=True)[2]


BASE = small_cell(arch="resnet20", width=3, checkpoints=(0, 1, 2), batch_size=32, lr=5e-3, code_units=200,
                  augment=True)


def member_state(trainer, i):
    """Member i's weights, BN statistics and head, sliced out of the grouped layers."""
    model, parts = trainer.model, []
    for layer in list(model.layers) + list(model.fc):
        c = layer.cout
        for t in (layer.weight, layer.gamma, layer.running_mean, layer.running_var):
            parts.append(t[i * c:(i + 1) * c].flatten())
    k = model.n_classes
    return torch.cat(parts + [model.head[i * k:(i + 1) * k].flatten()])


@pytest.mark.parametrize("arch", ["resnet20", "vgg16"])
def test_each_member_of_a_cnn_pack_equals_training_it_alone(arch):
    """Float64: grouped convolutions regroup sums (unlike the MLP's stacked layers, a CNN member is not
    bit-identical to itself trained alone; docs/determinism.md), so members match to 1e-9. The members differ
    in seed, weight decay, label noise and (VGG) dropout; two share a seed, so they share input batches."""
    base = dataclasses.replace(BASE, arch=arch, width=2 if arch == "vgg16" else 3, n_train=150)
    members = [dataclasses.replace(base, seed=1), dataclasses.replace(base, seed=1, weight_decay=1e-3),
               dataclasses.replace(base, seed=2, label_noise=0.3, dropout=0.3 if arch == "vgg16" else 0.0)]
    assert_pack_equals_alone(members, member_state, torch.float64)


@pytest.mark.parametrize("arch", ["vgg19", "resnet18"])
def test_chunked_sampled_extraction_equals_the_unchunked_whole_code(arch):
    model = StackedCNN(arch, (1, 8, 8), 10, 2, seeds=[3, 4, 5], groups=[0, 1, 1], **BN).double()
    model.train()
    x = torch.rand(2, 64, 64, dtype=torch.float64)
    model(x, None, torch.tensor([True, True, True]))  # one training step's statistics, so eval codes vary
    xs = torch.rand(50, 64, dtype=torch.float64)
    xs[40:] = xs[:10]  # ten repeated inputs: redundancy 0.2 at least
    index = [np.arange(50), np.arange(50)[::-1].copy()]
    labels = [np.zeros(50, dtype=np.int64)] * 3
    length = model.code_lengths[0]
    units = [sample_units(length, 300, s) for s in (0, 1, 2)]
    got = extract(model, xs, index, labels, chunk=7, units=units)
    model.eval()
    with torch.no_grad():
        _, hidden = model(xs[torch.as_tensor(np.stack(index))])  # every row at once
    for m, g in enumerate(model.groups):
        whole = model.member_bits(hidden, m, 50).numpy()
        assert whole.shape == (50, length) and got[m].length == length
        np.testing.assert_array_equal(np.unpackbits(got[m].packed, axis=1, count=300), whole[:, units[m]])
        np.testing.assert_array_equal(got[m].col_any, whole.any(0))
        np.testing.assert_array_equal(got[m].col_all, whole.all(0))
        distinct_digests = len(np.unique(got[m].hashes, axis=0))
        assert distinct_digests == len(np.unique(whole, axis=0)) <= 40
        same_rows = (whole[:, None] == whole[None]).all(-1)  # digests equal exactly where whole rows are equal
        same_digests = (got[m].hashes[:, None] == got[m].hashes[None]).all(-1)
        np.testing.assert_array_equal(same_digests, same_rows)
    assert sample_units(100, 300, 0) is None and sample_units(1000, 0, 0) is None


def test_cnn_cell_file_keeps_sampled_units_and_whole_code_redundancy(tmp_path):
    cell = dataclasses.replace(BASE, checkpoints=(0, 2), kmeans_n_init=2)
    pack = train_pack([cell], ".", tmp_path / "pack.h5", device="cpu")
    metrics = measure_member(pack, cell, tmp_path / "cell.h5")
    with open_checked(tmp_path / "cell.h5") as f:
        assert f.attrs["code_length"] == 188416 * 3 // 16 and f["code_units"].shape == (200,)
        codes = read_codes(f, 2)
        assert codes.train.shape == (300, 25) and codes.hashes[0].shape == (300, 16)
        n = len(codes.hashes[0])
        assert metrics["redundancy_train"][1] == (n - len(np.unique(codes.hashes[0], axis=0))) / n
        assert metrics["code_bits"][1] == codes.stored_keep.sum() <= 200
        assert metrics["code_bits_total"][1] == codes.keep.sum() > 200
    for key in ("knn_test", "logreg_test", "kmeans_purity_train", "kmeans_hungarian_test"):
        assert np.isfinite(metrics[key]).all(), key
    assert metrics["knn_test"][1] > 0.3  # two epochs on digits: well above chance


def test_a_stopped_cnn_member_keeps_its_weights_and_bn_statistics():
    """Early stopping freezes a member: from its stop on, its weights and BN running statistics stay
    bit-identical while the others go on training. Which member stops when is set through the best losses the
    trainer compares with (member 0 cannot improve after epoch 3, the others always do), not left to training."""
    base = dataclasses.replace(BASE, width=2, n_train=150, checkpoints=(0, 8), patience=1, augment=False)
    pack = make_trainer([dataclasses.replace(base, seed=s) for s in (1, 2, 3)])
    states = []
    for epoch in range(8):
        pack.best = [float("-inf") if epoch == 3 else float("inf"), float("inf"), float("inf")]
        pack.train_epoch()
        states.append([member_state(pack, i).clone() for i in range(3)])
    stops = [r.stopped_epoch for r in pack.results]
    assert stops == [4, None, None], stops
    for i, stop in enumerate(stops):
        later = [e[i] for e in states[(stop or 8) - 1:]]
        assert all(torch.equal(later[0], t) for t in later), f"member {i} changed after stopping at {stop}"
    for i in (1, 2):
        assert not torch.equal(states[-2][i], states[-1][i])  # the members still training did change


def test_a_training_state_saved_before_the_cnn_bodies_still_loads():
    """States of acthash < 0.3.0 name the layers `layers.*` / `fc.*`; they load into today's `body.*`."""
    model = StackedCNN("vgg16", (3, 32, 32), 10, 2, [0], None, **BN)
    old = {k.removeprefix("body."): v for k, v in model.state_dict().items()}
    assert any(k.startswith("layers.") for k in old) and any(k.startswith("fc.") for k in old)
    again = StackedCNN("vgg16", (3, 32, 32), 10, 2, [1], None, **BN)  # other weights
    again.load_state_dict(old)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))
