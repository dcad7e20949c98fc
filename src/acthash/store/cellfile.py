"""HDF5 files: one pack file per trained pack (a group per member) and one cell file per cell.

Cell file layout (a pack member group has the same layout, with only the trainer's metrics):
  attrs      params (JSON), param_hash, name, seed, status (ok | diverged), stopped_epoch, code_length,
             versions (JSON), device (`acthash.nets.device.device_name`: threads and CPU model, or GPU),
             train_seconds, measure_seconds, measured_by (the acthash version that computed the metrics;
             absent in files written before commit fe91ec8, some of them 0.4.0), pack_cells (JSON: the parameter
             hashes of the pack it was trained in; absent before 0.2.0), seal (`record_digest` of the file as written,
             over its params as stored; absent before 0.4.0), complete (written last)
  labels/    train (n,) labels used in training (noisy where noise_mask), train_true, test; noise_mask (n,)
  history/   loss, lr: (epochs run,) per-epoch training loss (incl. L2) and learning rate
  epochs     (C,) checkpoint epochs evaluated
  codes/<epoch>/train (n, nbytes) uint8 packed, test (N_test, nbytes), keep (code_length,) bool,
             pred_train (n,), pred_test (N_test,) int16: the network's predictions;
             for long codes (CNNs) train/test hold only the units in code_units, and hash_train /
             hash_test (rows, 16) uint8 hold BLAKE2b digests of the whole rows (for redundancy);
             with random_inputs, random_train / random_test: the codes of seeded random inputs shaped like
             each set, as the rows their redundancy is counted on (whole packed rows, or digests);
             attribute seal: `codes_seal` of the group (absent before 0.4.0)
  code_units (K,) int64: the sampled units of a long code (absent when the whole code is stored)
  metrics/   one (C,) float64 array per metric of `acthash.params.registry.METRICS`, under its registry name; in a
             pack member only those the trainer computes (network loss and accuracy; in files written before the
             codes of random inputs were stored, on 2026-12-07, also the random-input redundancy, kept as it is)
A pack file holds one such group per member under members/<index>. Files are written under a temporary name in
the same folder and renamed when complete. The keys are named in this module only: other modules read through
`read_epochs`, `read_labels`, `read_codes`, `read_random_rows`, `read_predictions`, `read_metrics` and
`member_groups`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from acthash.params.cell import Cell, stored_params
from acthash.params.fields import short_hash
from acthash.store.atomic import atomic_h5
from acthash.store.bits import keep_mask
from acthash.store.machine import hardware


class CellFileError(ValueError):
    """A cell or pack file is missing, incomplete, corrupt or made with other parameters."""


MEMBERS = "members"  # a pack file's group of member groups


def _row_chunks(packed: np.ndarray) -> tuple[int, int] | None:
    """HDF5 chunks of up to 4096 whole rows (packed codes do not compress; reads go by rows)."""
    return (min(len(packed), 4096), packed.shape[1]) if packed.size else None


def write_member(g: h5py.Group, cell: Cell, samples: Any, result: Any, y_test: np.ndarray) -> None:
    """Write one trained member (trainer `MemberResult`, its `Samples`) into group `g`."""

    g.attrs.update(params=json.dumps(cell.params()), param_hash=cell.param_hash, name=cell.name,
                   seed=cell.seed, status=result.status, stopped_epoch=result.stopped_epoch or -1,
                   code_length=result.code_length)
    if result.units is not None:
        g["code_units"] = result.units
    g["labels/train"], g["labels/train_true"], g["labels/test"] = samples.labels, samples.true_labels, y_test
    g["labels/noise_mask"] = samples.noise_mask
    g["history/loss"], g["history/lr"] = np.asarray(result.loss, float), np.asarray(result.lr, float)
    cps = result.checkpoints
    g["epochs"] = np.asarray([c.epoch for c in cps], dtype=np.int64)
    for c in cps:
        cg = g.create_group(f"codes/{c.epoch}")
        cg.create_dataset("train", data=c.train.packed, chunks=_row_chunks(c.train.packed))
        cg.create_dataset("test", data=c.test.packed, chunks=_row_chunks(c.test.packed))
        cg["pred_train"], cg["pred_test"] = c.train.pred, c.test.pred
        keep = keep_mask(c.train.col_any | c.test.col_any, c.train.col_all & c.test.col_all)
        cg.create_dataset("keep", data=keep, compression="gzip" if keep.size > 65536 else None)
        if c.train.hashes is not None:
            cg["hash_train"], cg["hash_test"] = c.train.hashes, c.test.hashes
        if c.random is not None:
            cg["random_train"], cg["random_test"] = c.random
        cg.attrs["seal"] = codes_seal(cg, result.units)
    n_tr, n_te = len(samples.labels), len(y_test)
    g["metrics/net_loss_train"] = np.asarray([c.train.loss_sum / n_tr for c in cps], float)
    g["metrics/net_acc_train"] = np.asarray([c.train.correct / n_tr for c in cps], float)
    g["metrics/net_loss_test"] = np.asarray([c.test.loss_sum / n_te for c in cps], float)
    g["metrics/net_acc_test"] = np.asarray([c.test.correct / n_te for c in cps], float)


def write_cell(src: h5py.Group, cell: Cell, out: Path, metrics: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Write the cell file `out` atomically: every group of the member or cell group `src` but its metrics, its
    attributes updated with `attrs` and the cell's parameters, and `metrics`; then its seal."""
    with atomic_h5(out) as f:
        for key in src:
            if key != "metrics":
                src.copy(key, f)
        f.attrs.update({k: v for k, v in src.attrs.items() if k != "complete"})
        f.attrs.update(attrs)
        f.attrs.update(params=json.dumps(cell.params()), param_hash=cell.param_hash)
        for k, v in metrics.items():
            f[f"metrics/{k}"] = v
        f.attrs["seal"] = cell_seal(f)


def add_member(pack: h5py.File, index: int) -> h5py.Group:
    """A new, empty member group of a pack file being written (`write_member` fills it)."""
    return pack.create_group(f"{MEMBERS}/{index:04d}")


def member_groups(pack: h5py.File) -> list[h5py.Group]:
    """The member groups of an open pack file, in the order they were written."""
    return list(pack[MEMBERS].values())


@dataclass(frozen=True)
class StoredLabels:
    """A member's or cell's labels: those it trained on (noisy where `noise_mask`), the true ones, the test set's."""

    train: np.ndarray
    train_true: np.ndarray
    test: np.ndarray
    noise_mask: np.ndarray

    @property
    def noisy(self) -> bool:
        """Whether some training labels were corrupted (a label-noise cell)."""
        return bool(self.noise_mask.any())


def read_labels(g: h5py.Group) -> StoredLabels:
    """The labels of a member or cell group."""
    return StoredLabels(*(g[f"labels/{k}"][()] for k in ("train", "train_true", "test", "noise_mask")))


def read_epochs(g: h5py.Group) -> list[int]:
    """The checkpoint epochs of a member or cell group, in order (none for a run that diverged before any)."""
    return [int(e) for e in g["epochs"][()]]


def read_predictions(g: h5py.Group, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The network's predicted labels at checkpoint `epoch`: (training examples, test set)."""
    return g[f"codes/{epoch}/pred_train"][()], g[f"codes/{epoch}/pred_test"][()]


def read_random_rows(g: h5py.Group, epoch: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of the codes of random inputs at checkpoint `epoch` (train-sized, test-sized), or None where the
    group has none (no random_inputs, or written before they were stored); their seal checked as `read_codes`'s."""
    cg, _ = _sealed_codes(g, epoch)
    return (cg["random_train"][()], cg["random_test"][()]) if "random_train" in cg else None


def read_metrics(g: h5py.Group) -> dict[str, np.ndarray]:
    """Every metric a member or cell group holds, by registry name: (checkpoints,) float64 arrays (none when it
    has no metrics group: a cell file without one fails its seal)."""
    return {k: v[()] for k, v in g.get("metrics", {}).items()}


def open_checked(path: Path | str, expected_hash: str | None = None) -> h5py.File:
    """Open a complete HDF5 file for reading, raising CellFileError that names the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise CellFileError(f"{path}: missing")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise CellFileError(f"{path}: not a readable HDF5 file ({err})") from err
    if not f.attrs.get("complete", False):
        f.close()
        raise CellFileError(f"{path}: incomplete (written by a process that did not finish)")
    if expected_hash is not None and f.attrs.get("param_hash") != expected_hash:
        got = f.attrs.get("param_hash")
        f.close()
        raise CellFileError(f"{path}: made with other parameters (hash {got}, expected {expected_hash})")
    return f


def record_digest(params: dict[str, Any], status: str, epochs: np.ndarray, metrics: dict[str, np.ndarray]) -> str:
    """A digest of a cell's parameters, status, checkpoint epochs and every metric's values."""
    parts = [json.dumps([params, status], sort_keys=True).encode(),
             np.ascontiguousarray(epochs, dtype=np.int64).tobytes()]
    for name in sorted(metrics):
        parts += [name.encode(), np.ascontiguousarray(metrics[name], dtype=np.float64).tobytes()]
    return short_hash(b"".join(parts))


def cell_seal(f: h5py.Group) -> str:
    """The seal of a cell file as it is: `record_digest` over its params as stored (a parameter added since, with
    its neutral value, leaves it intact), status, epochs and metrics; written as its `seal` attribute with it."""
    return record_digest(json.loads(f.attrs["params"]), str(f.attrs["status"]), f["epochs"][()], read_metrics(f))


def codes_seal(cg: h5py.Group, units: np.ndarray | None) -> str:
    """A digest of one checkpoint's stored arrays (codes, keep-mask, predictions, row digests) and of the stored
    units: written as the group's `seal` attribute with them, checked by `read_codes`."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(cg):
        h.update(name.encode())
        h.update(np.ascontiguousarray(cg[name][()]).tobytes())
    if units is not None:
        h.update(np.ascontiguousarray(units, dtype=np.int64).tobytes())
    return h.hexdigest()


@dataclass
class CellRecord:
    """What the merge needs from a cell file. `noisy`: some training labels are corrupted (label noise);
    `history`: the per-epoch training curves (`loss`, `lr`: one value per epoch trained)."""

    path: Path
    params: dict[str, Any]
    status: str
    epochs: np.ndarray
    metrics: dict[str, np.ndarray]
    attrs: dict[str, Any]
    noisy: bool = False
    history: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """`record_digest` of the file (its params with today's neutral values): a merged dataset records it per
        cell, so a cell file whose numbers changed since is found."""
        return record_digest(self.params, self.status, self.epochs, self.metrics)

    @property
    def origin(self) -> tuple[str, str, str]:
        """(the hardware its pack trained on, the acthash version that trained it, the one that measured its
        metrics); '' where the file does not say (`measured_by` in the layout above)."""
        trained_by = json.loads(self.attrs.get("versions", "{}")).get("acthash", "")
        return hardware(str(self.attrs.get("device", ""))), str(trained_by), str(self.attrs.get("measured_by", ""))


def read_cell(path: Path | str, expected_hash: str | None = None) -> CellRecord:
    """Read a cell file's parameters and per-checkpoint metrics."""
    with open_checked(path, expected_hash) as f:
        try:
            rec = CellRecord(Path(path), stored_params(json.loads(f.attrs["params"])), str(f.attrs["status"]),
                             f["epochs"][()], read_metrics(f), {k: f.attrs[k] for k in f.attrs},
                             read_labels(f).noisy,
                             {k: f[f"history/{k}"][()] for k in f.get("history", {})})
            sealed = cell_seal(f)
        except KeyError as err:
            raise CellFileError(f"{path}: corrupt, lacks {err}") from err
    if "seal" in rec.attrs and rec.attrs["seal"] != sealed:  # files before 0.4.0 have no seal
        raise CellFileError(f"{path}: its parameters or metrics changed since it was written (seal "
                            f"{rec.attrs['seal']}, content {sealed})")
    return rec


@dataclass
class StoredCodes:
    """One checkpoint's codes as stored: packed rows of the stored units, the whole code's keep-mask, the
    stored units (None = all) and whole-row digests (None when the whole code is stored)."""

    train: np.ndarray
    test: np.ndarray
    keep: np.ndarray
    units: np.ndarray | None
    hashes: tuple[np.ndarray, np.ndarray] | None

    @property
    def stored_keep(self) -> np.ndarray:
        """The keep-mask of the stored units."""
        return self.keep if self.units is None else self.keep[self.units]


@contextmanager
def _codes_of(g: h5py.Group, epoch: int) -> Iterator[None]:
    """h5py's errors reading the codes of checkpoint `epoch` (a lost group: KeyError; a damaged chunk: OSError)
    as the CellFileError that names the file and epoch, as a broken seal is."""
    try:
        yield
    except KeyError as err:
        raise CellFileError(f"{g.file.filename}: the stored codes of epoch {epoch} are incomplete ({err})") from err
    except OSError as err:
        raise CellFileError(f"{g.file.filename}: the stored codes of epoch {epoch} cannot be read ({err})") from err


def _sealed_codes(g: h5py.Group, epoch: int) -> tuple[h5py.Group, np.ndarray | None]:
    """The codes group of checkpoint `epoch` and the stored units, its seal checked (CellFileError if broken)."""
    with _codes_of(g, epoch):
        cg = g[f"codes/{epoch}"]
        units = g["code_units"][()] if "code_units" in g else None
        sealed = "seal" not in cg.attrs or cg.attrs["seal"] == codes_seal(cg, units)  # no seal before 0.4.0
    if not sealed:
        raise CellFileError(f"{g.file.filename}: the stored codes of epoch {epoch} changed since they were written "
                            "(their seal does not match)")
    return cg, units


def read_codes(g: h5py.Group, epoch: int) -> StoredCodes:
    """The stored codes of one checkpoint of a member or cell group."""
    cg, units = _sealed_codes(g, epoch)
    with _codes_of(g, epoch):
        hashes = (cg["hash_train"][()], cg["hash_test"][()]) if "hash_train" in cg else None
        return StoredCodes(cg["train"][()], cg["test"][()], cg["keep"][()], units, hashes)
