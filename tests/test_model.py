"""The stacked model's matrix products: each member's rows come out bit for bit the same whatever shares the
batch (how many members, how wide the widest, a lone group or several), the premise of per-member arithmetic."""

import pytest
import torch

from acthash.nets.layers import MemberLinear, WideInput
from acthash.nets.mlp import MIN_ROWS, width_buckets


def _embed(member: torch.Tensor, batch: int, rows: int, at: int, gen: torch.Generator) -> torch.Tensor:
    """`member` (r, c) as the rows of batch entry `at` of a random (batch, rows, c) tensor, zero-padded below."""
    out = torch.randn(batch, rows, member.shape[1], generator=gen)
    out[at] = 0
    out[at, : member.shape[0]] = member
    return out


@pytest.mark.parametrize("width", [1, 3, 7, 40])
def test_a_members_deeper_layer_and_head_do_not_depend_on_its_bucket(width):
    """A deeper layer (W × W: forward, the input's and the kernel's gradients) and the head (classes × W):
    alone (beside a ghost, padded to MIN_ROWS units, as the model does) against buckets of 2–64 members padded
    to 16–128 units."""
    gen = torch.Generator().manual_seed(width)
    kernel, head, h = (torch.randn(width, width, generator=gen), torch.randn(10, width, generator=gen),
                       torch.randn(width, 64, generator=gen))
    upstream = torch.randn(width, 64, generator=gen)

    def products(batch: int, units: int, at: int) -> tuple[torch.Tensor, ...]:
        k = torch.randn(batch, units, units, generator=gen)  # (in, out) per member, as the model stores it
        k[at] = 0
        k[at, :width, :width] = kernel
        k.requires_grad_(True)
        x = _embed(h, batch, units, at, gen).requires_grad_(True)
        out = MemberLinear.apply(x, k, torch.zeros(batch, units), torch.zeros(batch, units, units))
        grad = torch.zeros_like(out)
        grad[at, :width] = upstream
        out.backward(grad)
        hd = torch.randn(batch, 10, units, generator=gen)
        hd[at] = 0
        hd[at, :, :width] = head
        logits = torch.baddbmm(torch.zeros(batch, 10, 1), hd, x.detach())
        return out[at, :width].detach(), x.grad[at, :width], k.grad[at, :width, :width], logits[at]

    alone = products(2, max(width, MIN_ROWS), 0)
    for batch, units, at in [(2, max(width, MIN_ROWS), 1), (7, 100, 3), (64, 128, 63), (3, max(width, MIN_ROWS) + 1, 0)]:
        for got, want in zip(products(batch, units, at), alone):
            assert torch.equal(got, want), (batch, units)


@pytest.mark.parametrize("in_dim", [64, 784])
def test_a_members_first_layer_rows_do_not_depend_on_its_group_or_pack(in_dim):
    """The wide first layer, forward and the kernel's gradient: a member's rows alone in one group (padded to
    MIN_ROWS units) against the same rows at other offsets in other groups of other sizes."""
    gen = torch.Generator().manual_seed(in_dim)
    rows, x, grad = (torch.randn(5, in_dim, generator=gen), torch.randn(1, 32, in_dim, generator=gen),
                     torch.randn(5, 32, generator=gen))

    def layer(groups: int, units: int, at: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        kernel = torch.randn(groups, units, in_dim, generator=gen)
        kernel[at] = 0
        kernel[at, offset:offset + 5] = rows
        xs = torch.randn(groups, 32, in_dim, generator=gen)
        xs[at] = x[0]
        kernel.requires_grad_(True)
        out = WideInput.apply(xs, kernel, torch.zeros(groups, units), torch.zeros(groups, units, in_dim))
        upstream = torch.zeros_like(out)
        upstream[at, offset:offset + 5] = grad
        out.backward(upstream)
        return out[at, offset:offset + 5].detach(), kernel.grad[at, offset:offset + 5]

    alone = layer(1, MIN_ROWS, 0, 0)
    for groups, units, at, offset in [(2, 16, 0, 0), (2, 40, 1, 30), (3, 1100, 1, 777), (5, 1100, 4, 777),
                                      (1, 1100, 0, 600)]:
        got = layer(groups, units, at, offset)
        assert torch.equal(got[0], alone[0]) and torch.equal(got[1], alone[1]), (groups, units)


def test_width_buckets_are_runs_of_ascending_width_that_cut_padding():
    """Buckets cover every member once, in ascending width; depth 1 is one bucket; the paper's CIFAR-10 grid
    (widths 10…200, 3 seeds, depth 5) is split so that its deeper products pad less than half as much as one
    bucket padded to 200 units."""
    widths = [w for _ in range(3) for w in range(10, 201, 10)]
    assert width_buckets(widths, 1, 10) == [list(range(60))]  # depth 1: one bucket, in member order
    buckets = width_buckets(widths, 5, 10)
    assert sorted(i for b in buckets for i in b) == list(range(60))
    flat = [widths[i] for b in buckets for i in b]
    assert flat == sorted(flat) and len(buckets) > 1
    padded = sum(len(b) * max(widths[i] for i in b) ** 2 for b in buckets)
    assert padded < 0.5 * 60 * 200**2
