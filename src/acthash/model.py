"""A pack of M MLPs (Dense→BN→ReLU blocks + softmax head) stored as one stacked model.

Every parameter has a leading member dimension M; a member narrower than the pack's widest layer is
zero-padded and its extra units are masked to 0 after the ReLU, so they never receive a gradient. Each
member is initialised from its own seed in its own shape (Glorot-uniform kernels, zero biases, BN γ=1 β=0,
as Keras), so a member's weights do not depend on the rest of the pack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


class StackedMLP(nn.Module):
    """M independent MLPs of equal depth evaluated with batched matmuls.

    Inputs are (M, B, in_dim) float tensors; `forward` returns logits (M, B, n_classes) and the list of
    post-ReLU hidden activations, each (M, B, W) with W the pack's widest layer.
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        depth: int,
        widths: Sequence[int],
        seeds: Sequence[int],
        bn: bool = True,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.01,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.depth, self.bn, self.bn_eps, self.bn_momentum = depth, bn, bn_eps, bn_momentum
        self.widths = [int(w) for w in widths]
        m, wmax = len(self.widths), max(self.widths)
        self.register_buffer("unit_mask", torch.zeros(m, 1, wmax, dtype=dtype))
        for i, w in enumerate(self.widths):
            self.unit_mask[i, 0, :w] = 1
        dims = [in_dim] + [wmax] * depth
        self.kernels = nn.ParameterList([nn.Parameter(torch.zeros(m, dims[i], wmax, dtype=dtype)) for i in range(depth)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(m, wmax, dtype=dtype)) for _ in range(depth)])
        self.head = nn.Parameter(torch.zeros(m, wmax, n_classes, dtype=dtype))
        self.head_bias = nn.Parameter(torch.zeros(m, n_classes, dtype=dtype))
        if bn:
            self.gammas = nn.ParameterList([nn.Parameter(torch.ones(m, wmax, dtype=dtype)) for _ in range(depth)])
            self.betas = nn.ParameterList([nn.Parameter(torch.zeros(m, wmax, dtype=dtype)) for _ in range(depth)])
            for i in range(depth):
                self.register_buffer(f"running_mean{i}", torch.zeros(m, wmax, dtype=dtype))
                self.register_buffer(f"running_var{i}", torch.ones(m, wmax, dtype=dtype))
        with torch.no_grad():
            for i, (w, seed) in enumerate(zip(self.widths, seeds)):
                self._init_member(i, w, in_dim, n_classes, int(seed))

    def _init_member(self, i: int, w: int, in_dim: int, n_classes: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        shapes = [(in_dim, w)] + [(w, w)] * (self.depth - 1) + [(w, n_classes)]
        targets = list(self.kernels) + [self.head]
        for (fan_in, fan_out), target in zip(shapes, targets):
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            values = torch.rand(fan_in, fan_out, generator=g, dtype=torch.float64) * 2 * limit - limit
            target[i, :fan_in, :fan_out] = values.to(target.dtype)

    def hidden_kernels(self) -> list[Tensor]:
        """The kernels that carry the L2 penalty (Keras `kernel_regularizer` on hidden Dense layers only)."""
        return list(self.kernels)

    def forward(
        self, x: Tensor, dropout: Sequence[Tensor | None] | None = None, active: Tensor | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """Logits and hidden activations. In training mode BN uses batch statistics and updates the running
        statistics of `active` members (bool (M,)); `dropout[l]` is a (M, B, W) keep/scale mask or None."""
        hidden = []
        h = x
        for layer in range(self.depth):
            h = torch.baddbmm(self.biases[layer].unsqueeze(1), h, self.kernels[layer])
            if self.bn:
                h = self._batch_norm(h, layer, active)
            h = torch.relu(h) * self.unit_mask
            hidden.append(h)
            if self.training and dropout is not None and dropout[layer] is not None:
                h = h * dropout[layer]
        logits = torch.baddbmm(self.head_bias.unsqueeze(1), h, self.head)
        return logits, hidden

    def _batch_norm(self, h: Tensor, layer: int, active: Tensor | None) -> Tensor:
        rm, rv = getattr(self, f"running_mean{layer}"), getattr(self, f"running_var{layer}")
        if self.training:
            mean = h.mean(dim=1)
            var = h.var(dim=1, unbiased=False)
            with torch.no_grad():
                b = h.shape[1]
                unbiased = var * (b / max(b - 1, 1))
                mom = self.bn_momentum if active is None else self.bn_momentum * active.to(h.dtype).unsqueeze(1)
                rm.mul_(1 - mom).add_(mom * mean)
                rv.mul_(1 - mom).add_(mom * unbiased)
        else:
            mean, var = rm, rv
        scale = self.gammas[layer] / torch.sqrt(var + self.bn_eps)
        return (h - mean.unsqueeze(1)) * scale.unsqueeze(1) + self.betas[layer].unsqueeze(1)
