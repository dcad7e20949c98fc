"""Merge an experiment's cell files into one xarray Dataset (netCDF4 via h5netcdf), with the phase chart."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import __version__
from .cell import GRID_AXES, parse_name
from .measure import METRICS, OPTIONAL_METRICS
from .phase import classify
from .plan import cell_path, read_plan
from .store import CellFileError, read_cell

ALWAYS_DIMS = ("width", "epoch", "n_train", "seed")
DESCRIPTIONS = {
    "redundancy_train": "redundancy ratio (N - #distinct codes)/N on the training examples",
    "redundancy_test": "redundancy ratio on the test set",
    "kmeans_purity_train": "K-Means cluster purity (majority mapping) on training codes",
    "kmeans_purity_test": "K-Means cluster purity on test codes",
    "kmeans_hungarian_train": "K-Means accuracy, one-to-one Hungarian mapping, training codes",
    "kmeans_hungarian_test": "K-Means accuracy, Hungarian mapping, test codes",
    "knn_test": "K-NN (Hamming) accuracy, fit on training codes, scored on test codes",
    "logreg_test": "one-vs-one logistic regression accuracy on test codes",
    "net_loss_train": "network cross-entropy on the training examples (training labels)",
    "net_acc_train": "network accuracy on the training examples (training labels)",
    "net_loss_test": "network cross-entropy on the test set",
    "net_acc_test": "network accuracy on the test set",
    "code_bits": "number of non-constant code units the K-Means, K-NN and logistic regression saw (a seeded "
                 "random sample of code_units units for codes longer than code_units, e.g. CNNs)",
    "code_bits_total": "number of non-constant hidden units of the whole code over train and test",
    "knn_test_true": "K-NN test accuracy with the true (clean) training labels, label-noise cells",
    "net_fit_noisy": "network accuracy on the noisy-labelled training examples against their noisy labels",
    "net_acc_noisy_true": "network accuracy on the noisy-labelled training examples against their true labels",
    "redundancy_random_train": "redundancy ratio of codes of seeded random inputs shaped like the training set",
    "redundancy_random_test": "redundancy ratio of codes of seeded random inputs shaped like the test set",
}
UNITS = {"code_bits": "bit", "code_bits_total": "bit", "net_loss_train": "nat", "net_loss_test": "nat"}


class MergeError(ValueError):
    """Some cells of a plan are missing, corrupt or mismatched; the message names each."""


def _coord(values: list[Any]) -> np.ndarray:
    arr = np.asarray(sorted(set(values)))
    return arr.astype(np.int8) if arr.dtype == bool else arr


def merge_records(plan: dict[str, Any], records: dict[str, Any]) -> xr.Dataset:
    """Dataset of every metric over the grid axes (+ epoch); `records` maps cell name → CellRecord."""
    axes = {name: parse_name(name) for name in records}
    dims = [d for d in GRID_AXES if d in ALWAYS_DIMS or len({a[d] for a in axes.values()}) > 1]
    dims.insert(dims.index("n_train"), "epoch")
    first = next(iter(records.values()))
    coords: dict[str, Any] = {d: _coord([a[d] for a in axes.values()]) for d in dims if d != "epoch"}
    coords["epoch"] = np.asarray(first.params["checkpoints"], dtype=np.int64)  # a recipe key: shared by all cells
    ep_pos = {int(e): i for i, e in enumerate(coords["epoch"])}
    shape = [len(coords[d]) for d in dims]
    present = [m for m in OPTIONAL_METRICS if any(m in r.metrics for r in records.values())]
    names = METRICS + tuple(present)
    data = {m: np.full(shape, np.nan) for m in names}
    state = np.full([len(coords[d]) for d in dims if d != "epoch"], "missing", dtype=object)
    for name, rec in records.items():
        at = [int(np.searchsorted(coords[d], int(axes[name][d]) if isinstance(axes[name][d], bool) else axes[name][d]))
              for d in dims if d != "epoch"]
        state[tuple(at)] = rec.status
        for j, e in enumerate(rec.epochs):
            idx = list(at)
            idx.insert(dims.index("epoch"), ep_pos[int(e)])
            for m in names:
                if m in rec.metrics:
                    data[m][tuple(idx)] = rec.metrics[m][j]
    ds = xr.Dataset({m: (dims, v, {"description": DESCRIPTIONS[m], "units": UNITS.get(m, "1")}) for m, v in data.items()},
                    coords=coords)
    ds["status"] = ([d for d in dims if d != "epoch"], state.astype(str), {"description": "ok | diverged per cell"})
    for key in GRID_AXES:  # axes that do not vary become scalar coordinates (depth, dataset, ...)
        if key not in dims:
            value = next(iter(axes.values()))[key]
            ds.coords[key] = int(value) if isinstance(value, bool) else value
    ds["epoch"].attrs.update(units="epoch", description="checkpoint epoch (0 = initialisation)")
    ds["width"].attrs.update(description="neurons per hidden layer (MLP) or base channel count (CNN)")
    ds["n_train"].attrs.update(description="training examples (first n of the 80 % split unless stratified)")
    ds = ds.merge(classify(ds, **plan["phase"]))
    ds.attrs.update(experiment=plan["experiment"], acthash_version=__version__, config_hash=plan["config_hash"],
                    phase_rule="under if R >= r_hi; sufficient if R <= r_lo and accuracy >= plateau - eps; "
                               "critical otherwise", phase=json.dumps(plan["phase"]), recipe=json.dumps(plan["recipe"]))
    return ds


def collect(plan_path: Path | str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read every cell file of a plan, raising MergeError that lists every missing/corrupt/mismatched one."""
    plan = read_plan(plan_path)
    records, problems = {}, []
    for cell in plan["cells"]:
        try:
            records[cell["name"]] = read_cell(cell_path(plan_path, cell["name"]), cell["hash"])
        except CellFileError as err:
            problems.append(str(err))
    if problems:
        raise MergeError(f"{len(problems)} of {len(plan['cells'])} cells unusable:\n  " + "\n  ".join(problems))
    diverged = [n for n, r in records.items() if r.status != "ok"]
    if diverged:
        print(f"warning: {len(diverged)} diverged cell(s), NaN in the merge: {diverged}", file=sys.stderr)
    return plan, records


def merge_plan(plan_path: Path | str, out: Path | str) -> xr.Dataset:
    """Merge the cells of the plan at `plan_path` and write the dataset to `out` atomically."""
    plan, records = collect(plan_path)
    ds = merge_records(plan, records)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    ds.to_netcdf(tmp, engine="h5netcdf")
    os.replace(tmp, out)
    return ds


def load(path: Path | str) -> xr.Dataset:
    """Open a merged metrics.nc into memory: dims (width, epoch, n_train, seed, ...), one variable per metric."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
