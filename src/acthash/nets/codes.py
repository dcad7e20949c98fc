"""Neural codes: bit-packing on the device and batched extraction from a pack (the numpy side of the format,
unpacking, keep-masks and row digests, is `acthash.store.bits`).

A code row holds one bit per hidden ReLU (1 iff its eval-mode output is > 0), layers in order, packed
8 bits per byte, most significant bit first (the layout of `numpy.packbits`). Long codes (CNNs, 10^5–10^6
bits) are never kept whole: extraction keeps a seeded sample of units for the metrics and a 128-bit digest
of every whole row for the redundancy ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from acthash.store.bits import row_hashes

_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_bits(bits: Tensor) -> Tensor:
    """Pack a (N, L) bool tensor into (N, ceil(L/8)) uint8 on its own device, as `numpy.packbits(axis=1)`."""
    n, length = bits.shape
    pad = (-length) % 8
    b = torch.nn.functional.pad(bits.to(torch.uint8), (0, pad)).view(n, -1, 8)
    return (b * _WEIGHTS.to(bits.device)).sum(dim=2, dtype=torch.uint8)


def sample_units(length: int, n_units: int, seed: int) -> np.ndarray | None:
    """The sorted, seeded random subset of `n_units` code units kept for the metrics of a long code (CNNs),
    or None when the code has at most `n_units` bits (or `n_units` is 0) and is kept whole."""
    if n_units <= 0 or length <= n_units:
        return None
    return np.sort(np.random.default_rng(seed).choice(length, n_units, replace=False))


@dataclass
class MemberCodes:
    """Codes of one member on one set.

    `packed` (N, nbytes) uint8 holds every unit of the code, or only the sampled units when the code is
    long (then `hashes` (N, 16) holds digests of the whole rows, for redundancy). `length` is the whole code's
    bit count; `col_any` / `col_all` its column-wise OR / AND over the set. Also the network's summed
    cross-entropy, number of correct predictions and predictions (N,) int16.
    """

    packed: np.ndarray
    length: int
    col_any: np.ndarray
    col_all: np.ndarray
    loss_sum: float
    correct: int
    pred: np.ndarray
    hashes: np.ndarray | None = None

    @property
    def rows_for_redundancy(self) -> np.ndarray:
        """Whole packed rows, or their digests when only sampled units are kept (same distinct count)."""
        return self.packed if self.hashes is None else self.hashes


def chunk_rows(bits_per_row: int, budget: int = 2**27, most: int = 4096) -> int:
    """Rows per extraction chunk so that a chunk's hidden activations hold about `budget` values."""
    return max(1, min(most, budget // max(1, bits_per_row)))


def _padded(rows: list[np.ndarray], device: torch.device) -> Tensor:
    """Integer arrays of unequal lengths as one zero-padded (len(rows), longest) int64 tensor on `device`."""
    out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return torch.from_numpy(out).to(device)


class _Collected:
    """What extraction gathers of one member, chunk after chunk: packed codes (sampled units and whole-row digests
    where `units` is given), the units' column-wise OR and AND, and the network's predictions."""

    def __init__(self, length: int, units: Tensor | None, device: torch.device) -> None:
        self.length, self.units = length, units
        self.parts: list[Tensor] = []
        self.hashes: list[np.ndarray] = []
        self.preds: list[Tensor] = []
        self.col_any = torch.zeros(length, dtype=torch.bool, device=device)
        self.col_all = torch.ones(length, dtype=torch.bool, device=device)

    def add(self, bits: Tensor, pred: Tensor) -> None:
        self.col_any |= bits.any(0)
        self.col_all &= bits.all(0)
        if self.units is None:
            self.parts.append(pack_bits(bits))
        else:
            self.parts.append(pack_bits(bits[:, self.units]))
            self.hashes.append(row_hashes(pack_bits(bits).cpu().numpy()))
        self.preds.append(pred.to(torch.int16))

    def codes(self, loss: float, correct: int) -> MemberCodes:
        return MemberCodes(torch.cat(self.parts).cpu().numpy(), self.length, self.col_any.cpu().numpy(),
                           self.col_all.cpu().numpy(), loss, correct, torch.cat(self.preds).cpu().numpy(),
                           np.concatenate(self.hashes) if self.units is not None else None)


@torch.no_grad()
def extract(
    model: torch.nn.Module, x: Tensor, index: list[np.ndarray], labels: list[np.ndarray], chunk: int | None = None,
    units: list[np.ndarray | None] | None = None,
) -> list[MemberCodes]:
    """Eval-mode codes of every member of a stacked model (`StackedMLP` or `StackedCNN`).

    `x`: (N, in_dim) inputs on the model's device; `index[g]`: the rows of `x` of input group g (see the
    model's `groups`); `labels[m]`: member m's labels of its group's rows (for the network's loss and
    accuracy); `units[m]`: member m's kept units (`sample_units`) or None for the whole code. Works in chunks
    of `chunk` rows per group (default: `chunk_rows` of the pack's code size), packing and hashing each
    chunk, so memory stays bounded by the chunk whatever the code length.
    """
    model.eval()
    device, groups, lengths_m = x.device, model.groups, model.code_lengths
    units = units or [None] * len(lengths_m)
    members = [_Collected(n, None if u is None else torch.as_tensor(u, device=device), device)
               for n, u in zip(lengths_m, units)]
    chunk = chunk or chunk_rows(sum(lengths_m))
    lengths = [len(i) for i in index]
    padded_t, lab_t = _padded(index, device), _padded(labels, device)
    member_len = torch.tensor([lengths[g] for g in groups], device=device)
    loss_sum = torch.zeros(len(members), dtype=torch.float64, device=device)
    correct = torch.zeros(len(members), dtype=torch.int64, device=device)
    for start in range(0, max(lengths), chunk):
        stop = min(start + chunk, max(lengths))
        logits, hidden = model(x[padded_t[:, start:stop]])
        valid = torch.arange(start, stop, device=device).unsqueeze(0) < member_len.unsqueeze(1)
        y = lab_t[:, start:stop]
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        loss_sum += (ce * valid).sum(1).to(torch.float64)
        correct += ((logits.argmax(2) == y) & valid).sum(1)
        for m, member in enumerate(members):
            n_valid = min(stop, lengths[groups[m]]) - start
            if n_valid > 0:
                member.add(model.member_bits(hidden, m, n_valid), logits[m, :n_valid].argmax(1))
        del hidden
    return [member.codes(float(loss_sum[m]), int(correct[m])) for m, member in enumerate(members)]
