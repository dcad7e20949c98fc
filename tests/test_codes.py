"""Packed codes against unpacked ones; eval-mode codes; chunked extraction."""

import numpy as np
import pytest
import torch

from acthash.nets.codes import extract, pack_bits
from acthash.nets.mlp import StackedMLP
from acthash.params.cell import Cell
from acthash.store.bits import keep_mask, unpack_bits


@pytest.mark.parametrize("length", [1, 7, 8, 9, 40, 1001])
def test_pack_bits_matches_numpy_and_round_trips(length):
    rng = np.random.default_rng(length)
    bits = rng.random((37, length)) > 0.5
    packed = pack_bits(torch.from_numpy(bits)).numpy()
    np.testing.assert_array_equal(packed, np.packbits(bits, axis=1))
    np.testing.assert_array_equal(unpack_bits(packed, length), bits.astype(np.uint8))


def test_keep_mask_drops_constant_units():
    codes = np.array([[1, 0, 1, 1], [1, 0, 0, 1], [1, 0, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(keep_mask(codes.any(0), codes.all(0)), [False, False, True, False])


def _trained_bn_model():
    torch.manual_seed(0)
    model = StackedMLP(5, 3, depth=2, widths=[6, 4], seeds=[1, 2], groups=None, bn=True, bn_eps=Cell().bn_eps,
                       bn_momentum=Cell().bn_momentum)
    model.train()
    with torch.no_grad():
        for _ in range(3):  # move the running statistics away from their initial values
            model(torch.randn(2, 64, 5) * 3 + 1)
    return model


def test_eval_mode_codes_differ_from_train_mode_with_bn():
    model = _trained_bn_model()
    x = torch.randn(200, 5)
    idx = [np.arange(200), np.arange(200)]
    codes = extract(model, x, idx, [np.zeros(200, dtype=np.int64)] * 2)
    model.train()
    with torch.no_grad():
        _, hidden = model(x[torch.from_numpy(np.stack(idx))])
    train_bits = model.member_bits(hidden, 0, 200).numpy()
    eval_bits = unpack_bits(codes[0].packed, codes[0].length)
    assert eval_bits.shape == train_bits.shape == (200, 12)
    assert (eval_bits != train_bits).mean() > 0.01


def test_chunked_extraction_equals_one_chunk_and_member_lengths():
    model = _trained_bn_model()
    x = torch.randn(300, 5)
    idx = [np.arange(300), np.arange(50, 170)]
    labels = [np.zeros(300, dtype=np.int64), np.ones(120, dtype=np.int64)]
    big = extract(model, x, idx, labels, chunk=10_000)
    small = extract(model, x, idx, labels, chunk=7)
    for a, b in zip(big, small):
        np.testing.assert_array_equal(a.packed, b.packed)
        np.testing.assert_array_equal(a.col_any, b.col_any)
        assert a.correct == b.correct and a.loss_sum == pytest.approx(b.loss_sum, rel=1e-5)
    assert big[0].packed.shape == (300, 2) and big[1].packed.shape == (120, 1)  # 12 bits, 8 bits
