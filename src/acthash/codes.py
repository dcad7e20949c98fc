"""Neural codes: bit-packing (on the device), unpacking, keep-masks and batched extraction from a pack.

A code row holds one bit per hidden ReLU (1 iff its eval-mode output is > 0), layers in order, packed
8 bits per byte, most significant bit first (the layout of `numpy.packbits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_bits(bits: Tensor) -> Tensor:
    """Pack a (N, L) bool tensor into (N, ceil(L/8)) uint8 on its own device, as `numpy.packbits(axis=1)`."""
    n, length = bits.shape
    pad = (-length) % 8
    b = torch.nn.functional.pad(bits.to(torch.uint8), (0, pad)).view(n, -1, 8)
    return (b * _WEIGHTS.to(bits.device)).sum(dim=2, dtype=torch.uint8)


def unpack_bits(packed: np.ndarray, length: int) -> np.ndarray:
    """Inverse of `pack_bits`: (N, nbytes) uint8 → (N, length) uint8 0/1."""
    return np.unpackbits(packed, axis=1, count=length)


def keep_mask(bits_any: np.ndarray, bits_all: np.ndarray) -> np.ndarray:
    """Units that are not constant over a dataset, from their column-wise OR and AND."""
    return np.asarray(bits_any, dtype=bool) & ~np.asarray(bits_all, dtype=bool)


@dataclass
class MemberCodes:
    """Codes of one member on one set: packed rows (N, nbytes) uint8, length in bits, column OR / AND,
    the network's summed cross-entropy and number of correct predictions, and its predictions (N,) int16."""

    packed: np.ndarray
    length: int
    col_any: np.ndarray
    col_all: np.ndarray
    loss_sum: float
    correct: int
    pred: np.ndarray


@torch.no_grad()
def extract(
    model: torch.nn.Module, x: Tensor, index: list[np.ndarray], labels: list[np.ndarray], chunk: int = 4096
) -> list[MemberCodes]:
    """Eval-mode codes of every member of a stacked model.

    `x`: (N, in_dim) inputs on the model's device; `index[g]`: the rows of `x` of input group g (see
    `StackedMLP.groups`); `labels[m]`: member m's labels of its group's rows (for the network's loss and
    accuracy). Works in chunks of `chunk` rows per group, packing on the device, so memory stays bounded
    by chunk × members × width.
    """
    model.eval()
    device, widths, depth, groups = x.device, model.widths, model.depth, model.groups
    lengths = [len(i) for i in index]
    longest = max(lengths)
    padded = np.zeros((len(index), longest), dtype=np.int64)
    for g, rows in enumerate(index):
        padded[g, : len(rows)] = rows
    lab = np.zeros((len(widths), longest), dtype=np.int64)
    for m, y in enumerate(labels):
        lab[m, : len(y)] = y
    padded_t, lab_t = torch.from_numpy(padded).to(device), torch.from_numpy(lab).to(device)
    member_len = torch.tensor([lengths[g] for g in groups], device=device)
    parts: list[list[Tensor]] = [[] for _ in widths]
    preds: list[list[Tensor]] = [[] for _ in widths]
    col_any = [torch.zeros(depth * w, dtype=torch.bool, device=device) for w in widths]
    col_all = [torch.ones(depth * w, dtype=torch.bool, device=device) for w in widths]
    loss_sum = torch.zeros(len(widths), dtype=torch.float64, device=device)
    correct = torch.zeros(len(widths), dtype=torch.int64, device=device)
    for start in range(0, longest, chunk):
        stop = min(start + chunk, longest)
        logits, hidden = model(x[padded_t[:, start:stop]])
        valid = torch.arange(start, stop, device=device).unsqueeze(0) < member_len.unsqueeze(1)
        y = lab_t[:, start:stop]
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        loss_sum += (ce * valid).sum(1).to(torch.float64)
        correct += ((logits.argmax(2) == y) & valid).sum(1)
        for m, w in enumerate(widths):
            n_valid = min(stop, lengths[groups[m]]) - start
            if n_valid <= 0:
                continue
            bits = torch.cat([h[m, :n_valid, :w] > 0 for h in hidden], dim=1)
            parts[m].append(pack_bits(bits))
            preds[m].append(logits[m, :n_valid].argmax(1).to(torch.int16))
            col_any[m] |= bits.any(0)
            col_all[m] &= bits.all(0)
    return [
        MemberCodes(torch.cat(parts[m]).cpu().numpy(), depth * w, col_any[m].cpu().numpy(),
                    col_all[m].cpu().numpy(), float(loss_sum[m]), int(correct[m]), torch.cat(preds[m]).cpu().numpy())
        for m, w in enumerate(widths)
    ]
