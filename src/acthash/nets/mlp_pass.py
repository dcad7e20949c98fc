"""A `StackedMLP`'s training pass by hand on the CPU: the forward keeps what the backward needs, and the backward
calls the ATen kernels autograd calls for `StackedMLP.forward` and the trainer's cross-entropy, on the same
operands, so the losses and every gradient have autograd's bits (tests/test_mlp_pass.py compares them over
depths, buckets, groups, batch norm's options, dropout and stopped members). What it leaves out is autograd's
bookkeeping around those kernels: on the small products of a depth-1 pack that bookkeeping was about a quarter
of the forward and backward (docs/benchmarks.md; `benchmarks/pass_by_hand.py` times both and compares them).

Autograd is kept where this pass does not apply (`applies`): on a GPU, whose batch norm is cuDNN's kernel, and for
Keras' clipped cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from acthash.nets.layers import UnitBatchNorm, member_grads, member_product, wide_kernel_grad, wide_product
from acthash.nets.mlp import StackedMLP, member_logits


def applies(model: torch.nn.Module, ce_clip: float) -> bool:
    """Whether `loss_and_grads` trains this model: a stacked MLP on the CPU, the plain cross-entropy."""
    return isinstance(model, StackedMLP) and model.kernel0.device.type == "cpu" and not ce_clip


def _normalised(norm: UnitBatchNorm | None, h: Tensor, keep: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Batch norm of h (…, units, B) with its saved statistics, or h itself where the model has none."""
    if norm is None:
        return h, ()
    out, mean, invstd = norm.with_statistics(h, keep)
    return out, (mean, invstd)


def _denormalised(norm: UnitBatchNorm | None, grad: Tensor, h: Tensor,
                  saved: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Batch norm's backward: the gradients of its input, γ and β (the input's alone where there is no norm)."""
    if norm is None:
        return (grad,)
    flat = grad.reshape(1, -1, grad.shape[-1])
    g, gamma, beta = torch.ops.aten.native_batch_norm_backward(
        flat, h.reshape(flat.shape), norm.gamma.flatten(), norm.running_mean.view(-1), norm.running_var.view(-1),
        *saved, True, norm.settings.eps, [True, True, True])
    return g.view(h.shape), gamma.view(norm.gamma.shape), beta.view(norm.beta.shape)


@dataclass
class _Forward:
    """What the backward needs of a forward: the inputs, the wide layer's product, BN statistics and ReLU output,
    its rows with the zero row, per deeper layer and bucket (input, product, BN statistics, ReLU output), the
    last activations, the dropout masks per site and bucket, the logits of the buckets' rows and the members'
    log-probabilities."""

    x: Tensor
    pre0: Tensor
    saved0: tuple[Tensor, ...]
    act0: Tensor
    flat: Tensor
    layers: list[list[tuple[Tensor, Tensor, tuple[Tensor, ...], Tensor]]]
    last: list[Tensor]
    masks: list[list[Tensor] | None]
    logits: Tensor
    logp: Tensor


def _forward(model: StackedMLP, x: Tensor, keep: Tensor | None, masks: list[list[Tensor] | None]) -> _Forward:
    """`StackedMLP.forward` in training, keeping what the backward needs."""
    pre0 = wide_product(x, model.kernel0, model.bias0)
    norm0, saved0 = _normalised(model.norm0, pre0, None if keep is None else keep[model.wide_owner])
    act0 = torch.relu(norm0)
    flat = torch.cat([act0.flatten(0, 1), act0.new_zeros(1, x.shape[1])])
    hs = [flat.index_select(0, getattr(model, f"gather{b}")).view(len(bk.ids), bk.cap, -1)
          for b, bk in enumerate(model.buckets)]
    layers = []
    for layer in range(model.depth):
        if layer > 0:
            outs = []
            for bk, h in zip(model.buckets, hs):
                pre = member_product(h, bk.kernels[layer - 1], bk.biases[layer - 1])
                norm = bk.norms[layer - 1] if bk.norms else None
                z, saved = _normalised(norm, pre, None if keep is None else keep[bk.ids, None].expand(-1, bk.cap))
                outs.append((h, pre, saved, torch.relu(z)))
            layers.append(outs)
            hs = [relu * bk.unit_mask for bk, (_, _, _, relu) in zip(model.buckets, outs)]
        if masks[layer] is not None:
            hs = [h * mask for h, mask in zip(hs, masks[layer])]
    logits = torch.cat([torch.baddbmm(bk.head_bias.unsqueeze(2), bk.head, h) for bk, h in zip(model.buckets, hs)])
    logp = torch.log_softmax(member_logits(model, logits), 1)  # (M, classes, B)
    return _Forward(x, pre0, saved0, act0, flat, layers, hs, masks, logits, logp)


def _backward(model: StackedMLP, f: _Forward, g_logp: Tensor) -> dict[Tensor, Tensor]:
    """Every parameter's gradient from the log-probabilities' gradient, layer after layer from the head."""
    g_members = torch._log_softmax_backward_data(g_logp, f.logp, 1, f.logp.dtype)
    g_logits = torch.zeros_like(f.logits)
    if model.reordered:
        g_logits.index_add_(0, model.member_rows, g_members)
    else:
        g_logits[:len(model.widths)] = g_members
    grads, gs, row = {}, [], 0
    for bk, h in zip(model.buckets, f.last):
        g = g_logits[row:row + len(bk.ids)]
        row += len(bk.ids)
        grads[bk.head], grads[bk.head_bias] = torch.bmm(g, h.transpose(1, 2)), g.sum(2)
        gs.append(torch.bmm(bk.head.transpose(1, 2), g))
    for layer in reversed(range(model.depth)):
        if f.masks[layer] is not None:
            gs = [g * mask for g, mask in zip(gs, f.masks[layer])]
        if layer == 0:
            break
        for i, (bk, (h, pre, saved, relu)) in enumerate(zip(model.buckets, f.layers[layer - 1])):
            g = torch.ops.aten.threshold_backward(gs[i] * bk.unit_mask, relu, 0)
            norm = bk.norms[layer - 1] if bk.norms else None
            g, *bn = _denormalised(norm, g, pre, saved)
            if bn:
                grads[norm.gamma], grads[norm.beta] = bn
            kernel_grad = getattr(bk, f"grad{layer}")
            gs[i], grads[bk.biases[layer - 1]] = member_grads(h, bk.kernels[layer - 1], g, kernel_grad)
            grads[bk.kernels[layer - 1]] = kernel_grad
    g_flat = f.flat.new_zeros(f.flat.shape)
    for b, g in enumerate(gs):
        g_flat.index_add_(0, getattr(model, f"gather{b}"), g.flatten(0, 1))
    g = torch.ops.aten.threshold_backward(g_flat[:-1].view(f.act0.shape), f.act0, 0)
    g, *bn = _denormalised(model.norm0, g, f.pre0, f.saved0)
    if bn:
        grads[model.norm0.gamma], grads[model.norm0.beta] = bn
    grads[model.kernel0], grads[model.bias0] = wide_kernel_grad(g, f.x, model.wide_grad), g.sum(2)
    return grads


@torch.no_grad()
def loss_and_grads(model: StackedMLP, x: Tensor, y: Tensor, weights: Tensor, active: Tensor | None,
                   dropout: Sequence[Tensor | None] | None) -> Tensor:
    """Each member's mean cross-entropy (M,) on inputs x (G, B, D) and labels y (M, B), the model in training
    mode; sets every parameter's `.grad` to the gradient of Σ_m weights[m]·ce[m] (`weights`: the active members,
    bool (M,)). `active` and `dropout` as `StackedMLP.forward` takes them."""
    if not model.training:
        raise ValueError("the training pass needs the model in training mode (batch statistics)")
    keep = None if active is None else torch.cat([active, active.new_zeros(1)])
    masks = [None if m is None else model.bucket_masks(m) for m in (dropout or [None] * model.depth)]
    f = _forward(model, x, keep, masks)
    ce = torch.nn.functional.nll_loss(f.logp, y, reduction="none").mean(1)
    # the backward of the mean and of the weighted sum, then of the negative log-likelihood
    g_nll = weights.to(ce.dtype).unsqueeze(1).expand(*y.shape) / y.shape[1]
    grads = _backward(model, f, torch.zeros_like(f.logp).scatter_(1, y.unsqueeze(1), -g_nll.unsqueeze(1)))
    for p in model.parameters():
        p.grad = grads[p]
    return ce
