"""The code format in numpy: a code row is one bit per hidden ReLU, packed 8 to a byte (`numpy.packbits` order,
layers in order); a long code keeps sampled units and a BLAKE2b digest of each whole row. The trainer packs on
its device (`acthash.nets.codes.pack_bits`); everything that reads codes unpacks and digests here."""

from __future__ import annotations

import hashlib

import numpy as np


def unpack_bits(packed: np.ndarray, length: int) -> np.ndarray:
    """Inverse of `pack_bits`: (N, nbytes) uint8 → (N, length) uint8 0/1."""
    return np.unpackbits(packed, axis=1, count=length)


def keep_mask(bits_any: np.ndarray, bits_all: np.ndarray) -> np.ndarray:
    """Units that are not constant over a dataset, from their column-wise OR and AND."""
    return np.asarray(bits_any, dtype=bool) & ~np.asarray(bits_all, dtype=bool)


def row_hashes(packed: np.ndarray) -> np.ndarray:
    """A 128-bit BLAKE2b digest of each packed row, (N, 16) uint8: equal rows give equal digests, and distinct
    rows collide with probability about N²·2⁻¹²⁹, so counting distinct digests counts distinct codes."""
    out = np.empty((len(packed), 16), dtype=np.uint8)
    for i, row in enumerate(np.ascontiguousarray(packed)):
        out[i] = np.frombuffer(hashlib.blake2b(row.data, digest_size=16).digest(), dtype=np.uint8)
    return out
