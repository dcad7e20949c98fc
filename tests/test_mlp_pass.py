"""The MLP's training pass by hand against autograd: the same losses, gradients and batch-norm statistics, bit for
bit, and a pack trained through either to the same results."""

import copy
import dataclasses

import pytest
import torch

from acthash.nets import mlp, mlp_pass
from acthash.nets.mlp import StackedMLP
from acthash.nets.train import autograd_loss_and_grads

from .conftest import assert_member_results_equal, make_trainer
from .test_train import MEMBERS, SHARED

CLASSES, IN_DIM = 4, 24


def assert_same(a, b, name):
    """Equal bits but the sign of zero, NaN where the other is NaN (a batch of one row's zero-debiased variance)."""
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True, msg=name)


def stacked(depth, widths, groups, bn, dtype, **bn_options):
    seeds = [11 * i + 3 for i in range(len(widths))]
    model = StackedMLP(IN_DIM, CLASSES, depth, widths, seeds, groups, bn, 1e-3, 0.01, dtype, **bn_options)
    with torch.no_grad():  # every parameter away from its initial value, the running statistics too
        gen = torch.Generator().manual_seed(5)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=dtype) * 0.1)
    return model.train()


CASES = {  # depth, widths, input groups, BN and its options
    "depth1-one-member": (1, [7], [0], True, {}),
    "depth2-one-group": (2, [5, 9, 12], [0, 0, 0], True, {}),
    "depth1-bn": (1, [3, 9, 20, 5], [0, 0, 1, 1], True, {}),
    "depth1-three-groups": (1, [3, 9, 20, 5, 7], [0, 1, 1, 2, 0], True, {}),
    "depth1-no-bn": (1, [6, 17], [0, 1], False, {}),
    "depth2-buckets-ghost": (2, [40, 5, 40, 41], [0, 1, 2, 3], True, {}),
    "depth3-biased-var": (3, [8, 30, 12], [0, 0, 1], True, {"bn_biased_var": True}),
    "depth2-zero-debias": (2, [10, 4, 25], [0, 1, 1], True, {"bn_zero_debias": True}),
    "depth3-no-bn": (3, [16, 33, 9, 50], [0, 1, 0, 1], False, {}),
}


VARIANTS = {  # dtype, batch, a stopped member, dropout
    "f32-b37-dropout": (torch.float32, 37, False, True),
    "f32-b37-stopped": (torch.float32, 37, True, False),
    "f64-b64-stopped-dropout": (torch.float64, 64, True, True),
    "f32-b1": (torch.float32, 1, False, False),
    "f64-b1-stopped": (torch.float64, 1, True, False),
}


@pytest.mark.filterwarnings("ignore:var\\(\\)")  # a batch of one row: no unbiased variance (NaN, as autograd)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_pass_by_hand_has_autograds_losses_gradients_and_statistics(monkeypatch, case, variant):
    """Twice, both models moved by their gradients in between (a gradient left from the first pass would show;
    the running statistics after one update feed the second): the losses, every parameter's gradient and every
    buffer as after autograd's pass."""
    dtype, batch, stopped, dropped = VARIANTS[variant]
    depth, widths, groups, bn, options = CASES[case]
    if case == "depth2-buckets-ghost":  # buckets of similar widths, a ghost beside a lone member
        monkeypatch.setattr(mlp, "BUCKET_CALL_COST", 0)
    ours = stacked(depth, widths, groups, bn, dtype, **options)
    if case == "depth2-buckets-ghost":
        assert len(ours.buckets) > 1 and ours.reordered and any(int(b.ids.max()) == len(widths) for b in ours.buckets)
    ref = copy.deepcopy(ours)
    gen = torch.Generator().manual_seed(len(widths) + batch)
    x = torch.rand(max(groups) + 1, batch, IN_DIM, generator=gen, dtype=dtype)
    y = torch.randint(0, CLASSES, (len(widths), batch), generator=gen)
    weights = torch.ones(len(widths), dtype=torch.bool)
    weights[-1] = not stopped
    active = weights if stopped else None
    dropout = None
    if dropped:
        rate = 0.3
        dropout = [(torch.rand(len(widths), batch, max(widths), generator=gen) >= rate).to(dtype) / (1 - rate)
                   for _ in range(depth)]
    for _ in range(2):
        ce_ref = autograd_loss_and_grads(ref, x, y, weights, active, dropout, ce_clip=0.0)
        ce = mlp_pass.loss_and_grads(ours, x, y, weights, active, dropout)
        assert_same(ce, ce_ref, "loss")
        for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
            assert p.grad is not None, name
            assert_same(p.grad, q.grad, name)
        for (name, b), c in zip(ours.named_buffers(), ref.buffers()):
            assert_same(b, c, name)
        with torch.no_grad():
            for p, q in zip(ours.parameters(), ref.parameters()):
                p.sub_(0.1 * p.grad)
                q.sub_(0.1 * q.grad)


@pytest.mark.parametrize("members,depth", [(MEMBERS, 2), (SHARED, 1)], ids=["own-groups-depth2", "shared-group"])
def test_a_pack_trains_to_the_same_results_by_hand_and_by_autograd(members, depth):
    """Float32 with early stopping, decay, dropout and label noise: the trainer's pass by hand (the CPU default)
    and autograd give every member the same losses, stopping epoch, codes and metrics at every checkpoint."""
    cells = [dataclasses.replace(m, depth=depth, patience=1, lr=5e-2, checkpoints=(0, 1, 4, 8)) for m in members]
    by_hand, by_autograd = make_trainer(cells, torch.float32), make_trainer(cells, torch.float32)
    assert by_hand.by_hand
    by_autograd.by_hand = False
    results = by_hand.run(), by_autograd.run()
    assert any(r.stopped_epoch for r in results[0])  # early stopping froze a member part of the way
    for a, b in zip(*results):
        assert_member_results_equal(a, b)


def test_the_pass_by_hand_applies_to_cpu_mlps_without_the_clipped_loss_in_training_mode():
    cell = dataclasses.replace(MEMBERS[0], checkpoints=(0, 1))
    assert make_trainer([cell]).by_hand
    assert not make_trainer([dataclasses.replace(cell, ce_clip=1e-7)]).by_hand
    model = stacked(1, [3, 5], [0, 1], True, torch.float32).eval()
    x, y, weights = torch.rand(2, 4, IN_DIM), torch.zeros(2, 4, dtype=torch.long), torch.ones(2, dtype=torch.bool)
    with pytest.raises(ValueError, match="training mode"):
        mlp_pass.loss_and_grads(model, x, y, weights, None, None)
