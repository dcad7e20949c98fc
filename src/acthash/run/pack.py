"""Run the science for files: train a pack of cells into a pack file, measure a member into a cell file."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np
import torch

from acthash import __version__
from acthash.data import sources as data
from acthash.data.samples import cell_samples
from acthash.metrics.measure import code_metrics, noise_metrics, random_metrics, recipe
from acthash.nets.device import device_name, versions
from acthash.nets.train import Trainer
from acthash.params.cell import Cell, stored_params
from acthash.params.config import STATE_EVERY_MIN
from acthash.params.registry import BY_NAME, expected, names
from acthash.run.locks import cell_locks
from acthash.store.atomic import atomic_h5
from acthash.store.cellfile import (
    CellFileError,
    add_member,
    member_groups,
    open_checked,
    read_cell,
    read_codes,
    read_epochs,
    read_labels,
    read_metrics,
    read_predictions,
    read_random_rows,
    write_cell,
    write_member,
)
from acthash.store.machine import cpu_model

# What a cell file keeps of its pack file: software, device, training time, classes and the pack's members
PACK_ATTRS = ("versions", "device", "train_seconds", "n_classes", "pack_cells")


def pick_device(device: str = "auto") -> str:
    """'auto' → 'cuda' when a GPU is visible, else 'cpu'."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def train_pack(cells: Sequence[Cell], data_root: Path | str, out: Path | str, device: str = "auto",
               state_path: Path | str | None = None, dtype: torch.dtype = torch.float32,
               state_every_min: float = STATE_EVERY_MIN, progress: Callable | None = None) -> Path:
    """Train `cells` as one stacked model and write every member's codes into the pack file `out`.

    With `state_path`, the training state is saved at each checkpoint epoch and after the first epoch that
    ends `state_every_min` minutes after the last save, a rerun resumes from it, and it is removed once the
    pack file is complete. `progress`: called after each epoch (`Trainer.progress`).
    """
    device = pick_device(device)
    env = {k: os.environ.get(k, "-") for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID")}
    print(f"train_pack: {len(cells)} cells on {device} " + " ".join(f"{k}={v}" for k, v in env.items()),
          file=sys.stderr, flush=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    arrays = data.load(cells[0].dataset, data_root)
    samples = [cell_samples(c, arrays.y_train, arrays.n_classes) for c in cells]
    t0 = time.perf_counter()
    if cells[0].framework == "keras":  # one network at a time, in tf-keras (no resumable state)
        from acthash.nets.keras_mlp import train_keras

        say = functools.partial(print, file=sys.stderr, flush=True)
        results = [train_keras(c, s, arrays.x_train, arrays.x_test, arrays.y_test, arrays.n_classes, say)
                   for c, s in zip(cells, samples)]
        trained_on = f"cpu: tf-keras, {cpu_model()}"
    else:
        trainer = Trainer(cells, samples, arrays.x_train, arrays.x_test, arrays.y_test, arrays.n_classes, device,
                          dtype, image_shape=arrays.image_shape)
        trainer.progress = progress
        results = trainer.run(Path(state_path) if state_path else None, 60 * state_every_min)
        trained_on = device_name(device)
        t0 -= trainer.seconds_before  # a resumed run counts its earlier processes' training time too
    seconds = time.perf_counter() - t0
    with atomic_h5(out) as f:
        f.attrs.update(versions=json.dumps(versions()), device=trained_on, train_seconds=seconds,
                       n_classes=arrays.n_classes, pack_cells=json.dumps([c.param_hash for c in cells]))
        for i, (cell, s, r) in enumerate(zip(cells, samples, results)):
            write_member(add_member(f, i), cell, s, r, arrays.y_test)
    if state_path and Path(state_path).exists():
        Path(state_path).unlink()
    return Path(out)


def find_member(pack: h5py.File, cell: Cell, path: Path) -> h5py.Group:
    """The group of `cell` inside an open pack file, checked by name and parameter hash."""
    for g in member_groups(pack):
        if g.attrs["name"] == cell.name:
            if g.attrs["param_hash"] != cell.param_hash:
                raise CellFileError(f"{path}: member {cell.name} made with other parameters; retrain the pack")
            return g
    raise CellFileError(f"{path}: holds no member {cell.name}")


def _all_metrics(g: h5py.Group, cell: Cell, n_classes: int, backend: str, device: str) -> dict[str, np.ndarray]:
    epochs, y = read_epochs(g), read_labels(g)
    out: dict[str, np.ndarray] = {}  # what the measurement returns, checked against the registry on writing
    for j, epoch in enumerate(epochs):
        c = read_codes(g, epoch)
        keep = c.stored_keep
        values = code_metrics(c.train, c.test, len(keep), keep, y.train, y.test, n_classes=n_classes,
                              **recipe(cell), backend=backend, device=device, hashes=c.hashes,
                              y_true=y.train_true if y.noisy else None, whole_keep=c.keep)
        if y.noisy:
            values.update(noise_metrics(y.train_true, y.train, y.noise_mask, read_predictions(g, epoch)[0]))
        for k, v in values.items():
            out.setdefault(k, np.full(len(epochs), np.nan))[j] = v
    return out


def _random_metrics(g: h5py.Group, cell: Cell) -> dict[str, np.ndarray]:
    """The random-input redundancy at every checkpoint, from the stored codes of random inputs, whatever the
    member's status (none without random_inputs, or where a file from before they were stored holds the metrics
    its trainer computed)."""
    epochs = read_epochs(g)
    rows = [read_random_rows(g, epoch) for epoch in epochs] if cell.random_inputs != "none" else [None]
    if any(r is None for r in rows):
        return {}
    values = [random_metrics(*r) for r in rows]
    return {k: np.asarray([v[k] for v in values], dtype=float) for k in names("random")}


def _write_cell(src: h5py.Group, cell: Cell, out: Path, metrics: dict[str, np.ndarray],
                attrs: dict) -> dict[str, np.ndarray]:
    """Write the cell file `out`: everything of `src`, the trainer's metrics it holds, the random-input redundancy
    (`_random_metrics`) and the `metrics` computed; returns every metric written."""
    kept = {k: v for k, v in read_metrics(src).items() if BY_NAME[k].source in ("net", "random")}
    metrics = {**kept, **_random_metrics(src, cell), **metrics}
    due = expected(str(src.attrs["status"]), read_labels(src).noisy, cell.random_inputs != "none")
    if sorted(metrics) != sorted(due):
        missing, extra = sorted(set(due) - set(metrics)), sorted(set(metrics) - set(due))
        raise RuntimeError(f"cell {cell.name}: computed metrics differ from the registry (acthash.params.registry): "
                           f"missing {missing}, not registered {extra}")
    write_cell(src, cell, out, metrics, {**attrs, "measured_by": __version__})
    return metrics


def measure_member(pack_path: Path | str, cell: Cell, out: Path | str, backend: str = "fast",
                   device: str = "cpu") -> dict[str, np.ndarray]:
    """Compute the code metrics of `cell` from its pack file and write the complete cell file `out`."""
    t0 = time.perf_counter()
    with open_checked(pack_path) as pack:
        g = find_member(pack, cell, Path(pack_path))
        n_classes = int(pack.attrs["n_classes"])
        metrics = _all_metrics(g, cell, n_classes, backend, device) if g.attrs["status"] == "ok" else {}
        attrs = {k: pack.attrs[k] for k in PACK_ATTRS if k in pack.attrs}
        attrs.update(measure_seconds=time.perf_counter() - t0, metric_backend=backend)
        return _write_cell(g, cell, Path(out), metrics, attrs)


def remeasure(path: Path | str, backend: str = "fast", device: str = "cpu",
              **overrides: object) -> tuple[dict, Path]:
    """Recompute a cell file's metrics from its stored codes (e.g. with another `knn_k`) → (metrics, file).

    The file is rewritten in place, except a file addressed by its parameter hash (`<hash>.h5`, as in the
    results tree) whose parameters the overrides change: the new cell is written beside it under its own hash.
    The locks (`run.locks`) of the file read and the file written are held meanwhile, so no pack job computes
    either at the same time; a new cell that a pack completed while this waited for its lock is kept. Returns
    every metric the file holds.
    """
    path = Path(path)
    with open_checked(path) as f:
        old = Cell.from_params(stored_params(json.loads(f.attrs["params"])))
    cell = dataclasses.replace(old, **overrides)
    out = path.with_name(f"{cell.param_hash}.h5") if path.stem == old.param_hash else path
    there = out.exists()
    with cell_locks([path, out], lambda line: print(line, file=sys.stderr, flush=True)), open_checked(path) as f:
        if out != path and not there:
            try:  # made by a pack while this waited
                return read_cell(out, cell.param_hash).metrics, out
            except CellFileError:
                pass  # not there, or damaged: written below
        metrics = _all_metrics(f, cell, int(f.attrs["n_classes"]), backend, device) if f.attrs["status"] == "ok" else {}
        return _write_cell(f, cell, out, metrics, {"metric_backend": backend}), out  # replaces the file read


def print_json(obj: dict) -> None:
    print(json.dumps(obj, sort_keys=True), file=sys.stdout, flush=True)
