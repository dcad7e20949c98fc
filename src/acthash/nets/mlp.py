"""A pack of M MLPs (Dense→BN→ReLU blocks + softmax head) stored as one stacked model.

Members that see the same input batches (same seed and training rows: a *group*) share one wide first
layer: their first-layer units sit side by side, so the costly input matmul is one GEMM of
batch × in_dim × Σ widths per group, batched over groups. Deeper layers and the head are per member, in
*buckets*: members of similar width, batched together and zero-padded to the bucket's widest member (at least
MIN_ROWS units, and at least two members: a lone member is paired with an all-zero *ghost*), so the products
of a grid of widths 10…200 are not all padded to 200 (`width_buckets`). Every parameter tensor has an *owner*
map (member id per entry, M for padding and ghosts) that the optimizer uses to freeze stopped members.
Each member is initialised from its own seed in its own shape (Glorot-uniform kernels, zero biases,
BN γ=1 β=0, as Keras), so its weights do not depend on the rest of the pack; nor does its arithmetic: a
product's rows come out the same whatever the batch and padding around them (tests/test_model.py).

Activations are kept units-major, (…, units, batch): BN reduces along contiguous rows, the wide first
layer is split into buckets by gathering whole rows, and the head's small matmuls produce (classes, batch)
blocks, a shape the CPU BLAS runs about three times faster than (batch, classes). The wide kernel is stored
(units, in_dim) per group, so the L2 norm of each unit reads one contiguous row; deeper kernels (in, out).

On the CPU the trainer does not differentiate `forward` through autograd: `acthash.nets.mlp_pass` runs the same
forward and its backward by hand (tests/test_mlp_pass.py fails when the two part).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from acthash.nets.layers import BNSettings, MemberLinear, UnitBatchNorm, WideInput, glorot_uniform
from acthash.params.cell import FIELDS

# Fewest rows of a stacked matrix product. torch's CPU BLAS picks its kernel by shape, and kernels round
# differently: a member's result changes with the pack around it when a matrix has few rows (1 to 3 measured on
# MKL) or when a batched product holds one matrix. With at least this many rows, each member's rows come out the
# same whatever the batch size and zero padding in a batched product of two or more matrices (buckets: a ghost
# row beside a lone member) and in the first layer's one product per group (tests/test_model.py pins both).
MIN_ROWS = 16

# What one more bucket costs a training step, in multiply-adds of the products it saves, per layer it runs (each
# deeper layer and the head): a dozen extra calls (forward, backward, BN, ReLU, mask) of several µs each on a
# CPU doing about 70 G multiply-adds per second, i.e. some millions; a round figure in that range. Only speed
# depends on it, never a number (`width_buckets`).
BUCKET_CALL_COST = 5_000_000
BUCKET_BATCH = FIELDS["batch_size"].default  # the batch `width_buckets` plans for: the recipe's


def width_buckets(widths: Sequence[int], depth: int, n_classes: int) -> list[list[int]]:
    """Members (indices into `widths`) in buckets of consecutive widths, each bucket in ascending width, that
    minimise the products of the deeper layers and the head, padded to each bucket's widest member (and to two
    members at least), plus BUCKET_CALL_COST per bucket and layer it runs: an exact dynamic programme over the
    members sorted by width. Depth 1 (only the small head is per member) is one bucket, in member order."""
    if depth == 1:  # in member order: the logits need no reordering
        return [list(range(len(widths)))]
    order = sorted(range(len(widths)), key=lambda i: (widths[i], i))

    def cost(a: int, b: int) -> float:
        cap = max(widths[order[b - 1]], MIN_ROWS)
        macs = max(b - a, 2) * (cap * cap * (depth - 1) + cap * n_classes) * 3 * BUCKET_BATCH
        return macs + BUCKET_CALL_COST * depth

    best, cut = [0.0] + [math.inf] * len(order), [0] * (len(order) + 1)
    for b in range(1, len(order) + 1):
        for a in range(b):
            if best[a] + cost(a, b) < best[b]:
                best[b], cut[b] = best[a] + cost(a, b), a
    bounds, b = [], len(order)
    while b:
        bounds.append((cut[b], b))
        b = cut[b]
    return [order[a:b] for a, b in reversed(bounds)]


class Bucket(nn.Module):
    """The deeper layers and the head of some members of a `StackedMLP`, batched over rows: `members` (ids, with
    M for a ghost row) of widths `widths` (0 for a ghost), each padded to `cap` units."""

    def __init__(self, members: Sequence[int], widths: Sequence[int], cap: int, depth: int, n_classes: int,
                 bn: BNSettings | None, dtype: torch.dtype) -> None:
        super().__init__()
        rows = len(members)
        self.cap = cap
        self.register_buffer("ids", torch.tensor(list(members)))
        self.register_buffer("unit_mask", (torch.arange(cap)[None, :] < torch.tensor(list(widths))[:, None])
                             .to(dtype).unsqueeze(2), persistent=False)
        self.kernels = nn.ParameterList([nn.Parameter(torch.zeros(rows, cap, cap, dtype=dtype))
                                         for _ in range(depth - 1)])  # (in, out) per row
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(rows, cap, dtype=dtype)) for _ in range(depth - 1)])
        self.norms = nn.ModuleList([UnitBatchNorm((rows, cap), bn, dtype) for _ in range(depth - 1)] if bn else [])
        self.head = nn.Parameter(torch.zeros(rows, n_classes, cap, dtype=dtype))  # (classes, units) per row
        self.head_bias = nn.Parameter(torch.zeros(rows, n_classes, dtype=dtype))
        for layer in range(1, depth):  # the kernels' gradients (MemberLinear)
            self.register_buffer(f"grad{layer}", torch.zeros(rows, cap, cap, dtype=dtype), persistent=False)

    def layer(self, h: Tensor, layer: int, keep: Tensor | None) -> Tensor:
        """Deeper layer `layer` (1-based after the wide one) on this bucket's activations (rows, cap, B);
        `keep`: bool per member id (and a last False for ghosts), or None."""
        h = MemberLinear.apply(h, self.kernels[layer - 1], self.biases[layer - 1], getattr(self, f"grad{layer}"))
        if self.norms:
            h = self.norms[layer - 1](h, None if keep is None else keep[self.ids, None].expand(-1, self.cap))
        return torch.relu(h) * self.unit_mask

    def logits(self, h: Tensor) -> Tensor:
        """The head: (rows, classes, B)."""
        return torch.baddbmm(self.head_bias.unsqueeze(2), self.head, h)


class StackedMLP(nn.Module):
    """M independent MLPs of equal depth.

    `groups[m]` is the input group of member m. `forward` takes inputs (G, B, in_dim), one batch per
    group, and returns logits (M, B, n_classes) and the post-ReLU hidden activations: per layer, one
    (rows, cap, B) tensor per bucket (units-major; padding units and ghost rows are 0; `member_bits` reads a
    member's).
    """

    def __init__(self, in_dim: int, n_classes: int, depth: int, widths: Sequence[int], seeds: Sequence[int],
                 groups: Sequence[int] | None, bn: bool, bn_eps: float, bn_momentum: float,
                 dtype: torch.dtype = torch.float32, bn_biased_var: bool = False,
                 bn_zero_debias: bool = False) -> None:
        super().__init__()
        self.depth = depth
        self.bn_settings = BNSettings(bn_eps, bn_momentum, bn_biased_var, bn_zero_debias)
        self.widths = [int(w) for w in widths]
        self.groups = list(groups) if groups is not None else list(range(len(widths)))
        m, g = len(self.widths), max(self.groups) + 1
        offsets, fill = [], [0] * g
        for grp, w in zip(self.groups, self.widths):
            offsets.append(fill[grp])
            fill[grp] += w
        total = max(*fill, MIN_ROWS)  # padding units (owner M) are always zero
        self.offsets = offsets
        owner = torch.full((g, total), m, dtype=torch.long)
        for i, (grp, off, w) in enumerate(zip(self.groups, offsets, self.widths)):
            owner[grp, off:off + w] = i
        self.register_buffer("wide_owner", owner)
        self.kernel0 = nn.Parameter(torch.zeros(g, total, in_dim, dtype=dtype))  # one row per unit
        self.register_buffer("wide_grad", torch.zeros(g, total, in_dim, dtype=dtype), persistent=False)
        self.bias0 = nn.Parameter(torch.zeros(g, total, dtype=dtype))
        self.norm0 = UnitBatchNorm((g, total), self.bn_settings, dtype) if bn else None
        self.where: list[tuple[int, int]] = [(0, 0)] * m  # member → (bucket, row)
        buckets = []
        for b, members in enumerate(width_buckets(self.widths, depth, n_classes)):
            rows = members + [m] * (len(members) < 2)  # a ghost row beside a lone member
            for r, i in enumerate(members):
                self.where[i] = (b, r)
            cap = max(MIN_ROWS, *(self.widths[i] for i in members))
            buckets.append(Bucket(rows, [self.widths[i] if i < m else 0 for i in rows], cap, depth, n_classes,
                                  self.bn_settings if bn else None, dtype))
        self.buckets = nn.ModuleList(buckets)
        # layer 0's rows of each bucket in the flattened wide activations (g*total: an always-zero row)
        for b, bucket in enumerate(self.buckets):
            gather = torch.full((len(bucket.ids), bucket.cap), g * total, dtype=torch.long)
            for r, i in enumerate(bucket.ids.tolist()):
                if i < m:
                    gather[r, :self.widths[i]] = self.groups[i] * total + offsets[i] + torch.arange(self.widths[i])
            self.register_buffer(f"gather{b}", gather.flatten(), persistent=False)
        rows = [sum(len(bk.ids) for bk in buckets[:b]) + r for b, r in self.where]
        self.register_buffer("member_rows", torch.tensor(rows), persistent=False)
        self.reordered = rows != list(range(m))  # the buckets' rows are not the members in order
        with torch.no_grad():
            for i, seed in enumerate(seeds):
                self._init_member(i, in_dim, n_classes, int(seed))
        self.code_lengths = [depth * w for w in self.widths]
        self.drop_widths = [self.widths] * depth  # dropout sites (after each hidden ReLU), per member

    def member_layers(self, i: int) -> list[Tensor]:
        """Member i's kernels, (out, in) views of the stacked parameters: the first layer, the deeper ones, the head."""
        w, (b, r) = self.widths[i], self.where[i]
        bucket = self.buckets[b]
        first = self.kernel0[self.groups[i], self.offsets[i]:self.offsets[i] + w]
        return [first] + [k[r, :w, :w].T for k in bucket.kernels] + [bucket.head[r, :, :w]]

    def _init_member(self, i: int, in_dim: int, n_classes: int, seed: int) -> None:
        g, w = torch.Generator().manual_seed(seed), self.widths[i]
        shapes = [(in_dim, w)] + [(w, w)] * (self.depth - 1) + [(w, n_classes)]
        for (fan_in, fan_out), kernel in zip(shapes, self.member_layers(i)):
            kernel.copy_(glorot_uniform((fan_in, fan_out), fan_in, fan_out, g).T)

    def owners(self) -> list[Tensor]:
        """For each tensor of `parameters()`, the member owning each entry (broadcastable; M = padding)."""
        out = []
        for name, p in self.named_parameters():
            if name.startswith("buckets."):
                ids = self.buckets[int(name.split(".")[1])].ids
                out.append(ids.view((len(ids),) + (1,) * (p.dim() - 1)))
            else:  # the wide first layer: (G, T) units
                out.append(self.wide_owner.view(self.wide_owner.shape + (1,) * (p.dim() - 2)))
        return out

    def decayed(self) -> list[tuple[Tensor, Tensor]]:
        """The hidden kernels (Keras `kernel_regularizer`: the L2 penalty's), each with the member owning each of
        its rows, (rows,) (the optimizer adds the penalty's gradient)."""
        out = [(self.kernel0, self.wide_owner.flatten())]
        for bucket in self.buckets:
            out += [(k, bucket.ids) for k in bucket.kernels]
        return out

    def l2_per_member(self) -> Tensor:
        """Σ W² of each member's hidden kernels (Keras `kernel_regularizer`: hidden Dense kernels only), (M,)."""
        m = len(self.widths)
        total = self.kernel0.new_zeros(m + 1)
        for k, rows in self.decayed():  # a norm along contiguous rows reads a kernel once, with no temporary
            per_row = torch.linalg.vector_norm(k.flatten(0, -2) if k is self.kernel0 else k.flatten(1), dim=1).square()
            total = total.index_add(0, rows, per_row)  # index_add keeps NaN to its member
        return total[:m]

    def member_bits(self, hidden: list[list[Tensor]], i: int, n: int) -> Tensor:
        """Code bits (n, code_lengths[i]) of member i for the first n rows of a forward's hidden activations."""
        b, r = self.where[i]
        return torch.cat([h[b][r, :self.widths[i], :n].T > 0 for h in hidden], dim=1)

    def forward(self, x: Tensor, dropout: Sequence[Tensor | None] | None = None,
                active: Tensor | None = None) -> tuple[Tensor, list[list[Tensor]]]:
        """Logits and hidden activations. In training mode BN uses batch statistics and updates the running
        statistics of `active` members (bool (M,); None: every member); `dropout[l]` is a (M, B, W) keep/scale
        mask or None."""
        keep = None if active is None else torch.cat([active, active.new_zeros(1)])  # padding: never
        h = WideInput.apply(x, self.kernel0, self.bias0, self.wide_grad)
        if self.norm0 is not None:
            h = self.norm0(h, None if keep is None else keep[self.wide_owner])
        flat = torch.relu(h).flatten(0, 1)
        flat = torch.cat([flat, flat.new_zeros(1, flat.shape[1])])
        hs = [flat.index_select(0, getattr(self, f"gather{b}")).view(len(bk.ids), bk.cap, -1)
              for b, bk in enumerate(self.buckets)]
        hidden = [hs]
        for layer in range(self.depth):
            if layer > 0:
                hs = [bk.layer(h, layer, keep) for bk, h in zip(self.buckets, hs)]
                hidden.append(hs)
            if self.training and dropout is not None and dropout[layer] is not None:
                hs = [h * m for h, m in zip(hs, self.bucket_masks(dropout[layer]))]
        logits = [bk.logits(h) for bk, h in zip(self.buckets, hs)]
        logits = logits[0] if len(logits) == 1 else torch.cat(logits)
        return member_logits(self, logits).transpose(1, 2), hidden

    def bucket_masks(self, mask: Tensor) -> list[Tensor]:
        """Each bucket's rows (rows, cap, B) of one dropout site's (M, B, widest) keep/scale mask (ghost rows: 0)."""
        cap = max(bk.cap for bk in self.buckets)
        mask = torch.nn.functional.pad(mask.transpose(1, 2), (0, 0, 0, cap - mask.shape[2], 0, 1))
        return [mask.index_select(0, bk.ids)[:, :bk.cap] for bk in self.buckets]

    @torch.no_grad()
    def adopt_batch_statistics(self, x: Tensor) -> None:
        """Set the running statistics to those of the batch x (G, B, in_dim) under the current weights, layer
        after layer as a training-mode forward normalises it (biased variance): eval-mode codes of x are then
        the codes of a training-mode forward of x as one batch. Leaves the model in eval mode."""
        s = self.bn_settings
        saved = dataclasses.replace(s)
        s.momentum, s.biased_var, s.zero_debias = 1.0, True, False
        try:
            self.train()
            self(x)
        finally:
            s.momentum, s.biased_var, s.zero_debias = saved.momentum, saved.biased_var, saved.zero_debias
            self.eval()


def member_logits(model: StackedMLP, logits: Tensor) -> Tensor:
    """The buckets' stacked logits (bucket rows, classes, B) as the members' (M, classes, B), in member order (a
    slice where the buckets keep that order, no copy)."""
    return logits.index_select(0, model.member_rows) if model.reordered else logits[:len(model.widths)]
