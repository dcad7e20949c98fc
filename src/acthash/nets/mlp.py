"""A pack of M MLPs (Dense→BN→ReLU blocks + softmax head) stored as one stacked model.

Members that see the same input batches (same seed and training rows: a *group*) share one wide first
layer: their first-layer units sit side by side, so the costly input matmul is one GEMM of
batch × in_dim × Σ widths per group, batched over groups. Deeper layers and the head are per member,
batched over members and zero-padded to the widest member (at least MIN_ROWS units). Every parameter tensor has an *owner* map
(member id per entry, M for padding) that the optimizer uses to freeze stopped members.
Each member is initialised from its own seed in its own shape (Glorot-uniform kernels, zero biases,
BN γ=1 β=0, as Keras), so its weights do not depend on the rest of the pack.

Activations are kept units-major, (…, units, batch): BN reduces along contiguous rows, the wide first
layer is split into members by gathering whole rows, and the head's small matmuls produce (classes, batch)
blocks, a shape the CPU BLAS runs about three times faster than (batch, classes). The wide kernel is stored
(units, in_dim) per group, so the L2 norm of each unit reads one contiguous row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def glorot_uniform(shape: Sequence[int], fan_in: int, fan_out: int, gen: torch.Generator) -> Tensor:
    """Keras' glorot_uniform draw of a kernel of `shape` (float64, from `gen`): U(±sqrt(6 / (fan_in + fan_out)))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 * limit - limit


# Fewest rows of a stacked matrix product. torch's CPU BLAS picks its kernel by shape, and kernels round
# differently: a member's result changes with the pack around it when a matrix has few rows (1 to 3 measured on
# MKL) or when the batch holds one matrix. With at least this many rows and a batch of two or more, each
# member's rows come out the same whatever the batch size and zero padding (tests/test_model.py pins it).
MIN_ROWS = 16


def member_baddbmm(bias: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """`torch.baddbmm` over members in which no member's result depends on how many share the call: a lone
    member (batch 1) is paired with a zero member (its matrices are small: the head and deeper layers)."""
    if a.shape[0] > 1:
        return torch.baddbmm(bias, a, b)
    pair = [torch.cat([t, torch.zeros_like(t)]) for t in (bias, a, b)]
    return torch.baddbmm(*pair)[:1]


def batch_norm(x: Tensor, running_mean: Tensor, running_var: Tensor, weight: Tensor, bias: Tensor, training: bool,
               momentum: float, eps: float, keep: Tensor | None = None, biased_var: bool = False) -> Tensor:
    """torch's fused batch norm over channel dim 1 (PyTorch momentum, unbiased running variance). In training
    the running statistics move only for channels where `keep` (bool, one per channel) is True: a stopped
    member keeps its own; None moves them all. `biased_var`: the running variance moves towards the batch's
    biased variance instead (tf.keras' non-fused layer, no Bessel correction)."""
    cudnn, single = torch.backends.cudnn.enabled, x.numel() == x.shape[1]
    if not training or (keep is None and not single and not biased_var):
        return torch.batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
    mean, var = running_mean.clone(), running_var.clone()
    out = torch.batch_norm(x, weight, bias, mean, var, True, momentum, eps, cudnn)
    with torch.no_grad():
        if single:  # one value per channel: variance 0 (torch's unbiased update would divide by zero)
            var = running_var * (1 - momentum)
        elif biased_var:  # var = (1 − m)·rv + m·s²·n/(n − 1): take the m·s²/(n − 1) back out
            var = var - (var - (1 - momentum) * running_var) / (x.numel() // x.shape[1])
        running_mean.copy_(mean if keep is None else torch.where(keep, mean, running_mean))
        running_var.copy_(var if keep is None else torch.where(keep, var, running_var))
    return out


class WideInput(torch.autograd.Function):
    """The wide first layer, units-major: (G, T, B) = kernel·xᵀ + bias, for x (G, B, D), kernel (G, T, D).

    The backward writes the kernel's gradient with one GEMM straight into `grad_buffer` and makes that the
    kernel's `.grad` (the kernel gradient is *set*, not accumulated: zero the gradients with set_to_none
    before each backward, as the trainer does). Autograd would allocate, zero and add a gradient of
    in_dim × Σ widths every step, as large as the kernel itself. x gets no gradient.

    A single group (G = 1, T even) is computed as two half-height matrices sharing x: a batch of one would
    take another BLAS kernel (see MIN_ROWS), and halves cost no more than the whole.
    """

    @staticmethod
    def _batched(x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """x (G, B, D) and a units-major t (G, T, …) as a batch of at least two: (G', B, D), (G', T', …)."""
        if t.shape[0] > 1:
            return x, t
        return x.expand(2, -1, -1), t.reshape(2, t.shape[1] // 2, *t.shape[2:])

    @staticmethod
    def forward(ctx, x: Tensor, kernel: Tensor, bias: Tensor, grad_buffer: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.kernel, ctx.grad_buffer = kernel, grad_buffer
        xb, kb = WideInput._batched(x, kernel)
        bb = WideInput._batched(x, bias.unsqueeze(2))[1]
        return torch.baddbmm(bb, kb, xb.transpose(1, 2)).reshape(kernel.shape[0], kernel.shape[1], x.shape[1])

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, None, Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        if ctx.needs_input_grad[1]:
            xb, gb = WideInput._batched(x, grad)
            torch.bmm(gb, xb, out=WideInput._batched(x, ctx.grad_buffer)[1])
            ctx.kernel.grad = ctx.grad_buffer
        return None, None, grad.sum(2), None


class StackedMLP(nn.Module):
    """M independent MLPs of equal depth.

    `groups[m]` is the input group of member m. `forward` takes inputs (G, B, in_dim), one batch per
    group, and returns logits (M, B, n_classes) and the post-ReLU hidden activations, each (M, W, B)
    (units-major) with W the widest member or MIN_ROWS (padding units are 0).
    """

    def __init__(self, in_dim: int, n_classes: int, depth: int, widths: Sequence[int], seeds: Sequence[int],
                 groups: Sequence[int] | None, bn: bool, bn_eps: float, bn_momentum: float,
                 dtype: torch.dtype = torch.float32, bn_biased_var: bool = False,
                 bn_zero_debias: bool = False) -> None:
        super().__init__()
        self.depth, self.bn, self.bn_eps, self.bn_momentum = depth, bn, bn_eps, bn_momentum
        self.bn_biased_var, self.bn_zero_debias = bn_biased_var, bn_zero_debias
        self.widths = [int(w) for w in widths]
        self.groups = list(groups) if groups is not None else list(range(len(widths)))
        m, wmax, g = len(self.widths), max(*self.widths, MIN_ROWS), max(self.groups) + 1
        offsets, fill = [], [0] * g
        for grp, w in zip(self.groups, self.widths):
            offsets.append(fill[grp])
            fill[grp] += w
        total = max(*fill, MIN_ROWS if g > 1 else 2 * MIN_ROWS)  # padding units (owner M) are always zero
        total += total % 2 if g == 1 else 0  # one group runs as two halves (WideInput)
        self.offsets = offsets
        owner = torch.full((g, total), m, dtype=torch.long)
        gather = torch.full((m, wmax), g * total, dtype=torch.long)  # g*total: an always-zero row
        for i, (grp, off, w) in enumerate(zip(self.groups, offsets, self.widths)):
            owner[grp, off:off + w] = i
            gather[i, :w] = grp * total + off + torch.arange(w)
        self.register_buffer("wide_owner", owner)
        self.register_buffer("gather_index", gather.flatten())
        self.register_buffer("unit_mask", (torch.arange(wmax)[None, :] < torch.tensor(self.widths)[:, None])
                             .to(dtype).unsqueeze(2))
        shapes = [(g, total, in_dim)] + [(m, wmax, wmax)] * (depth - 1)  # wide kernel: one row per unit
        units = [(g, total)] + [(m, wmax)] * (depth - 1)
        self.kernels = nn.ParameterList([nn.Parameter(torch.zeros(s, dtype=dtype)) for s in shapes])
        self.register_buffer("wide_grad", torch.zeros(shapes[0], dtype=dtype), persistent=False)
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(u, dtype=dtype)) for u in units])
        self.head = nn.Parameter(torch.zeros(m, n_classes, wmax, dtype=dtype))  # (classes, units) per member
        self.head_bias = nn.Parameter(torch.zeros(m, n_classes, dtype=dtype))
        if bn:
            self.gammas = nn.ParameterList([nn.Parameter(torch.ones(u, dtype=dtype)) for u in units])
            self.betas = nn.ParameterList([nn.Parameter(torch.zeros(u, dtype=dtype)) for u in units])
            for i, u in enumerate(units):
                self.register_buffer(f"running_mean{i}", torch.zeros(u, dtype=dtype))
                self.register_buffer(f"running_var{i}", torch.ones(u, dtype=dtype))
                if bn_zero_debias:  # TF's zero-debiased moving averages: biased sums and per-unit step counts
                    self.register_buffer(f"biased_mean{i}", torch.zeros(u, dtype=dtype))
                    self.register_buffer(f"biased_var{i}", torch.zeros(u, dtype=dtype))
                    self.register_buffer(f"debias_steps{i}", torch.zeros(u, dtype=dtype))
        with torch.no_grad():
            for i, seed in enumerate(seeds):
                self._init_member(i, in_dim, n_classes, int(seed))
        self.code_lengths = [depth * w for w in self.widths]
        self.drop_widths = [self.widths] * depth  # dropout sites (after each hidden ReLU), per member

    def _init_member(self, i: int, in_dim: int, n_classes: int, seed: int) -> None:
        g, w = torch.Generator().manual_seed(seed), self.widths[i]
        shapes = [(in_dim, w)] + [(w, w)] * (self.depth - 1) + [(w, n_classes)]
        for layer, (fan_in, fan_out) in enumerate(shapes):
            values = glorot_uniform((fan_in, fan_out), fan_in, fan_out, g)
            if layer == 0:
                off = self.offsets[i]
                self.kernels[0][self.groups[i], off:off + w] = values.T.to(self.kernels[0].dtype)
            elif layer < self.depth:
                self.kernels[layer][i, :w, :w] = values.to(self.kernels[layer].dtype)
            else:
                self.head[i, :, :w] = values.T.to(self.head.dtype)

    def owners(self) -> list[Tensor]:
        """For each tensor of `parameters()`, the member owning each entry (broadcastable; M = padding)."""
        m = len(self.widths)
        member = torch.arange(m, device=self.head.device)
        out = []
        for name, p in self.named_parameters():
            if name.endswith(".0") and not name.startswith("head"):  # first layer: wide layout
                out.append(self.wide_owner.unsqueeze(2) if p.dim() == 3 else self.wide_owner)
            else:
                out.append(member.view((m,) + (1,) * (p.dim() - 1)))
        return out

    def l2_per_member(self) -> Tensor:
        """Σ W² of each member's hidden kernels (Keras `kernel_regularizer`: hidden Dense kernels only), (M,)."""
        m = len(self.widths)
        k0 = self.kernels[0]
        # (G·T,); a norm along the contiguous rows reads the kernel once, with no temporary as large as it
        per_unit = torch.linalg.vector_norm(k0, dim=2).square().flatten()  # index_add keeps NaN to its member
        total = per_unit.new_zeros(m + 1).index_add(0, self.wide_owner.flatten(), per_unit)[:m]
        for k in list(self.kernels)[1:]:
            total = total + (k * k).sum((1, 2))
        return total

    @torch.no_grad()
    def add_l2_grad(self, weight_decay: Tensor) -> None:
        """Add the gradient 2·λ_m·W of the L2 penalty to each member's hidden kernels (`weight_decay`: (M,)).
        Cheaper than differentiating `l2_per_member` and the same Keras semantics."""
        wd = torch.cat([weight_decay, weight_decay.new_zeros(1)]) * 2
        owners = [self.wide_owner.unsqueeze(2)] + [None] * (self.depth - 1)
        for k, own in zip(self.kernels, owners):
            scale = wd[own] if own is not None else wd[:-1].view(-1, 1, 1)
            k.grad.addcmul_(k, scale)

    def member_bits(self, hidden: list[Tensor], i: int, n: int) -> Tensor:
        """Code bits (n, code_lengths[i]) of member i for the first n rows of a forward's hidden activations."""
        return torch.cat([h[i, :self.widths[i], :n].T > 0 for h in hidden], dim=1)

    def _to_members(self, h: Tensor) -> Tensor:
        """(G, T, B) wide activations → (M, W, B) per member, padding 0."""
        flat = torch.cat([h.flatten(0, 1), h.new_zeros(1, h.shape[2])])
        return flat.index_select(0, self.gather_index).view(len(self.widths), -1, h.shape[2])

    def forward(self, x: Tensor, dropout: Sequence[Tensor | None] | None = None,
                active: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """Logits and hidden activations. In training mode BN uses batch statistics and updates the running
        statistics of `active` members (bool (M,); None: every member); `dropout[l]` is a (M, B, W) keep/scale
        mask or None."""
        keep = None if active is None else torch.cat([active, active.new_zeros(1)])  # padding: never
        hidden = []
        h = WideInput.apply(x, self.kernels[0], self.biases[0], self.wide_grad)
        for layer in range(self.depth):
            if layer > 0:
                h = member_baddbmm(self.biases[layer].unsqueeze(2), self.kernels[layer].transpose(1, 2), h)
            if self.bn:
                unit_keep = None if keep is None else (keep[self.wide_owner] if layer == 0
                                                       else keep[:-1, None].expand(-1, h.shape[1]))
                h = self._batch_norm(h, layer, unit_keep)
            h = torch.relu(h)
            h = self._to_members(h) if layer == 0 else h * self.unit_mask
            hidden.append(h)
            if self.training and dropout is not None and dropout[layer] is not None:  # (M, B, widest member)
                mask = dropout[layer].transpose(1, 2)
                h = h * torch.nn.functional.pad(mask, (0, 0, 0, h.shape[1] - mask.shape[1]))
        logits = member_baddbmm(self.head_bias.unsqueeze(2), self.head, h)
        return logits.transpose(1, 2), hidden

    def _batch_norm(self, h: Tensor, layer: int, keep: Tensor | None) -> Tensor:
        """BN of units-major h (…, units, B), each unit a channel; `keep`: bool per unit, or None."""
        rm, rv = getattr(self, f"running_mean{layer}"), getattr(self, f"running_var{layer}")
        debias = self.training and self.bn_zero_debias
        if debias and keep is None:  # the path that normalises with copies: the buffers are rewritten below
            keep = torch.ones(h.shape[:-1], dtype=torch.bool, device=h.device)
        out = batch_norm(h.reshape(1, -1, h.shape[-1]), rm.view(-1), rv.view(-1), self.gammas[layer].flatten(),
                         self.betas[layer].flatten(), self.training, self.bn_momentum, self.bn_eps,
                         None if keep is None else keep.flatten(), self.bn_biased_var)
        if debias:
            self._zero_debias(h, layer, keep)
        return out.view(h.shape)

    @torch.no_grad()
    def _zero_debias(self, h: Tensor, layer: int, keep: Tensor | None) -> None:
        """Replace the running statistics just updated by TF's zero-debiased moving averages (standalone Keras
        2.2's `moving_average_update`): biased ← d·biased + (1 − d)·batch from biased = 0, running = biased /
        (1 − dᵗ) after t updates (d = 1 − momentum), so early running statistics are the batch statistics seen
        so far, not mostly their initial values. Units where `keep` is False are left as they are."""
        rows = h.reshape(-1, h.shape[-1])
        batch = (rows.mean(1), rows.var(1, correction=0 if self.bn_biased_var else 1))
        moved = torch.ones(rows.shape[0], dtype=torch.bool, device=h.device) if keep is None else keep.flatten()
        steps = getattr(self, f"debias_steps{layer}").view(-1)
        steps.add_(moved.to(steps.dtype))
        decay = 1 - self.bn_momentum
        for stat, value in zip(("mean", "var"), batch):
            biased = getattr(self, f"biased_{stat}{layer}").view(-1)
            biased.copy_(torch.where(moved, decay * biased + (1 - decay) * value, biased))
            running = getattr(self, f"running_{stat}{layer}").view(-1)
            running.copy_(torch.where(moved, biased / (1 - decay ** steps), running))

    @torch.no_grad()
    def adopt_batch_statistics(self, x: Tensor) -> None:
        """Set the running statistics to those of the batch x (G, B, in_dim) under the current weights, layer
        after layer as a training-mode forward normalises it (biased variance): eval-mode codes of x are then
        the codes of a training-mode forward of x as one batch. Leaves the model in eval mode."""
        momentum, biased, debias = self.bn_momentum, self.bn_biased_var, self.bn_zero_debias
        self.bn_momentum, self.bn_biased_var, self.bn_zero_debias = 1.0, True, False
        try:
            self.train()
            self(x)
        finally:
            self.bn_momentum, self.bn_biased_var, self.bn_zero_debias = momentum, biased, debias
            self.eval()
