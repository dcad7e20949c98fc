"""Codes as data: one cell's stored neural codes, train and test, at any checkpoint, as arrays (no torch).

A cell file (`results/cells/<hash>.h5`, layout in `acthash.store.cellfile`) keeps, per checkpoint epoch, the codes of
its training rows and of the test set, one row per example and one bit per hidden ReLU (1 iff its output is
> 0; layers in order), packed 8 bits per byte, most significant bit first (`numpy.packbits(axis=1)`). For
long codes (CNNs) only a seeded sample of units is stored, with a 128-bit digest of every whole row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acthash.params.layout import RESULTS, Layout
from acthash.store.cellfile import open_checked, read_codes, read_epochs, read_labels, read_predictions


@dataclass(frozen=True)
class CellCodes:
    """One cell's codes at one checkpoint epoch.

    `train` (n, bits) and `test` (N_test, bits): 0/1 uint8, or packed bytes (n, ceil(bits/8)) with
    `packed=True`. `bits`: units per stored row (the whole code, or `units` of it). `keep`: bool per unit of
    the whole code, True where the unit is not constant over train and test. `units`: the stored units of a
    long code (None: all). `hashes`: whole-row digests (train, test) of a long code, else None. Labels:
    `y_train` as trained on (noisy where `noise_mask`), `y_train_true`, `y_test`; `pred_train`/`pred_test`:
    the network's predictions.
    """

    path: Path
    epoch: int
    train: np.ndarray
    test: np.ndarray
    bits: int
    packed: bool
    keep: np.ndarray
    units: np.ndarray | None
    hashes: tuple[np.ndarray, np.ndarray] | None
    y_train: np.ndarray
    y_train_true: np.ndarray
    y_test: np.ndarray
    noise_mask: np.ndarray
    pred_train: np.ndarray
    pred_test: np.ndarray

    def __repr__(self) -> str:
        kind = "packed bytes" if self.packed else "0/1"
        return (f"CellCodes({self.path.name}, epoch {self.epoch}: train {self.train.shape} and test {self.test.shape} "
                f"{kind}, {self.bits} units stored of {len(self.keep)} ({int(self.keep.sum())} not constant))")


def cell_file(ds: Any, results: Path | str = RESULTS, **coords: Any) -> Path:
    """The cell file of the one cell of merged dataset `ds` that `coords` select (e.g. width=40, n_train=1000,
    seed=0): `<results>/cells/<cell_hash>.h5`."""
    if "cell_hash" not in ds:
        raise ValueError("this merged dataset records no cell hashes (merged before acthash 0.2.0): merge it again")
    picked = ds["cell_hash"].sel(**coords)
    if picked.size != 1:
        free = [d for d in picked.dims if picked.sizes[d] > 1]
        raise ValueError(f"{dict(coords)} selects {picked.size} cells; also give {', '.join(free)}")
    return Path(Layout(str(results)).cell(str(picked.values.item())))


def cell_codes(source: Any, epoch: int | None = None, *, results: Path | str = RESULTS, packed: bool = False,
               **coords: Any) -> CellCodes:
    """A cell's codes at checkpoint `epoch` (default: the last), from a cell file's path or from a merged
    dataset and the coordinates of one cell (`cell_codes(ds, width=40, n_train=1000, seed=0, epoch=8)`,
    files under `results`). 0/1 arrays unless `packed`."""
    path = Path(source) if isinstance(source, (str, Path)) else cell_file(source, results, **coords)
    with open_checked(path) as f:
        epochs = read_epochs(f)
        if not epochs:
            raise ValueError(f"{path}: no codes (status {f.attrs['status']})")
        epoch = epochs[-1] if epoch is None else int(epoch)
        if epoch not in epochs:
            raise ValueError(f"{path}: no checkpoint at epoch {epoch}; it has {epochs}")
        stored = read_codes(f, epoch)
        bits = len(stored.keep) if stored.units is None else len(stored.units)
        y = read_labels(f)
        train, test = stored.train, stored.test
        if not packed:
            train, test = (np.unpackbits(a, axis=1, count=bits) for a in (train, test))
        return CellCodes(path, epoch, train, test, bits, packed, stored.keep, stored.units, stored.hashes,
                         y.train, y.train_true, y.test, y.noise_mask, *read_predictions(f, epoch))
