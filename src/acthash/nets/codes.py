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
    n_members = len(lengths_m)
    units = units or [None] * n_members
    units_t = [None if u is None else torch.as_tensor(u, device=device) for u in units]
    chunk = chunk or chunk_rows(sum(lengths_m))
    lengths = [len(i) for i in index]
    longest = max(lengths)
    padded = np.zeros((len(index), longest), dtype=np.int64)
    for g, rows in enumerate(index):
        padded[g, : len(rows)] = rows
    lab = np.zeros((n_members, longest), dtype=np.int64)
    for m, y in enumerate(labels):
        lab[m, : len(y)] = y
    padded_t, lab_t = torch.from_numpy(padded).to(device), torch.from_numpy(lab).to(device)
    member_len = torch.tensor([lengths[g] for g in groups], device=device)
    parts: list[list[Tensor]] = [[] for _ in range(n_members)]
    hashes: list[list[np.ndarray]] = [[] for _ in range(n_members)]
    preds: list[list[Tensor]] = [[] for _ in range(n_members)]
    col_any = [torch.zeros(n, dtype=torch.bool, device=device) for n in lengths_m]
    col_all = [torch.ones(n, dtype=torch.bool, device=device) for n in lengths_m]
    loss_sum = torch.zeros(n_members, dtype=torch.float64, device=device)
    correct = torch.zeros(n_members, dtype=torch.int64, device=device)
    for start in range(0, longest, chunk):
        stop = min(start + chunk, longest)
        logits, hidden = model(x[padded_t[:, start:stop]])
        valid = torch.arange(start, stop, device=device).unsqueeze(0) < member_len.unsqueeze(1)
        y = lab_t[:, start:stop]
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        loss_sum += (ce * valid).sum(1).to(torch.float64)
        correct += ((logits.argmax(2) == y) & valid).sum(1)
        for m in range(n_members):
            n_valid = min(stop, lengths[groups[m]]) - start
            if n_valid <= 0:
                continue
            bits = model.member_bits(hidden, m, n_valid)
            col_any[m] |= bits.any(0)
            col_all[m] &= bits.all(0)
            if units_t[m] is None:
                parts[m].append(pack_bits(bits))
            else:
                parts[m].append(pack_bits(bits[:, units_t[m]]))
                hashes[m].append(row_hashes(pack_bits(bits).cpu().numpy()))
            preds[m].append(logits[m, :n_valid].argmax(1).to(torch.int16))
        del hidden
    return [
        MemberCodes(torch.cat(parts[m]).cpu().numpy(), lengths_m[m], col_any[m].cpu().numpy(),
                    col_all[m].cpu().numpy(), float(loss_sum[m]), int(correct[m]), torch.cat(preds[m]).cpu().numpy(),
                    np.concatenate(hashes[m]) if units[m] is not None else None)
        for m in range(n_members)
    ]
