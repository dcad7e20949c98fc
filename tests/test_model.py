"""The stacked model's matrix products: each member's rows come out bit for bit the same whatever shares the
batch (how many members, how wide the widest, a lone group or several), the premise of per-member arithmetic."""

import pytest
import torch

from acthash.nets.mlp import MIN_ROWS, WideInput, member_baddbmm


def _embed(member: torch.Tensor, batch: int, rows: int, at: int, gen: torch.Generator) -> torch.Tensor:
    """`member` (r, c) as the rows of batch entry `at` of a random (batch, rows, c) tensor, zero-padded below."""
    out = torch.randn(batch, rows, member.shape[1], generator=gen)
    out[at] = 0
    out[at, : member.shape[0]] = member
    return out


@pytest.mark.parametrize("width", [1, 3, 7, 40])
def test_a_members_head_and_deeper_products_do_not_depend_on_its_pack(width):
    """Head (classes × W) and deeper-layer (W × W) products, forward: alone (batch 1, W padded to MIN_ROWS
    as the model does) against batches of 2–64 members padded to 16–128 units."""
    gen = torch.Generator().manual_seed(width)
    kernel, h = torch.randn(10, width, generator=gen), torch.randn(width, 64, generator=gen)
    bias = torch.randn(10, 1, generator=gen)

    def product(batch: int, units: int, at: int) -> torch.Tensor:
        k = _embed(kernel.T, batch, units, at, gen).transpose(1, 2)  # (batch, 10, units)
        x = _embed(h, batch, units, at, gen)
        b = torch.randn(batch, 10, 1, generator=gen)
        b[at] = bias
        return member_baddbmm(b, k, x)[at]

    padded = max(width, MIN_ROWS)
    alone = product(1, padded, 0)
    for batch, units, at in [(2, padded, 1), (7, 100, 3), (64, 128, 63), (3, padded + 1, 0)]:
        assert torch.equal(product(batch, units, at), alone), (batch, units)


@pytest.mark.parametrize("in_dim", [64, 784])
def test_a_members_first_layer_rows_do_not_depend_on_its_group_or_pack(in_dim):
    """The wide first layer, forward and the kernel's gradient: a member's rows alone in one group (the model
    pads it to 2·MIN_ROWS units) against the same rows at other offsets in other groups of other sizes."""
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

    alone = layer(1, 2 * MIN_ROWS, 0, 0)
    for groups, units, at, offset in [(2, 16, 0, 0), (2, 40, 1, 30), (5, 1100, 4, 777), (1, 1100, 0, 600)]:
        got = layer(groups, units, at, offset)
        assert torch.equal(got[0], alone[0]) and torch.equal(got[1], alone[1]), (groups, units)

