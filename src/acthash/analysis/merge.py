"""Merge an experiment's cell files into one xarray Dataset (netCDF4 via h5netcdf), with the phase chart."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from acthash import __version__
from acthash.analysis.dims import CURVE_DIM
from acthash.analysis.phase import classify
from acthash.params import registry
from acthash.params.cell import ALWAYS_DIMS, FIELDS, GRID_AXES
from acthash.params.fields import short_hash
from acthash.params.phase_rule import PhaseRule
from acthash.params.registry import OPTIONAL_SOURCES, unmeasured
from acthash.store.atomic import temp_path
from acthash.store.cellfile import CellFileError, read_cell
from acthash.store.machine import mixture
from acthash.store.plan import read_plan


class MergeError(ValueError):
    """Some cells of a plan are missing, corrupt or mismatched; the message names each."""


def _coord(values: list[Any]) -> np.ndarray:
    arr = np.asarray(sorted(set(values)))
    return arr.astype(np.int8) if arr.dtype == bool else arr


# the per-cell text variables of a merged dataset: name → (long_name, description)
CELL_VARS = {
    "cell_hash": ("cell parameter hash", "the cell's parameter hash: its file is <results>/cells/<cell_hash>.h5 "
                  "(acthash.cell_codes reads it)"),
    "cell_digest": ("cell digest", "digest of what was merged from the cell file (acthash status compares it with "
                    "the file now)"),
    "trained_on": ("trained on", "the CPU model or GPU the cell's pack was trained on ('' where its file does not "
                   "say)"),
    "trained_version": ("acthash version of training", "the acthash version that trained the cell ('' where its "
                        "file does not say)"),
    "measured_version": ("acthash version of measuring", "the acthash version that computed the cell's metrics "
                         "('' where its file does not say: `measured_by` in acthash.store.cellfile)"),
}


def _position(axes: dict[str, Any], cell_dims: list[str], coords: dict[str, Any]) -> list[int]:
    """The index of a cell (its grid-axis values `axes`) along each of `cell_dims`."""
    return [int(np.searchsorted(coords[d], int(axes[d]) if isinstance(axes[d], bool) else axes[d])) for d in cell_dims]


def merge_records(plan: dict[str, Any], records: dict[str, Any]) -> xr.Dataset:
    """Dataset of every metric over the grid axes (+ epoch); `records` maps cell name → CellRecord."""
    axes = {name: {k: rec.params[k] for k in GRID_AXES} for name, rec in records.items()}
    dims = [d for d in GRID_AXES if d in ALWAYS_DIMS or len({a[d] for a in axes.values()}) > 1]
    dims.insert(dims.index("n_train"), "epoch")
    first = next(iter(records.values()))
    coords: dict[str, Any] = {d: _coord([a[d] for a in axes.values()]) for d in dims if d != "epoch"}
    coords["epoch"] = np.asarray(first.params["checkpoints"], dtype=np.int64)  # a recipe key: shared by all cells
    ep_pos = {int(e): i for i, e in enumerate(coords["epoch"])}
    shape = [len(coords[d]) for d in dims]
    names = [m.name for m in registry.METRICS
             if m.source not in OPTIONAL_SOURCES or any(m.name in r.metrics for r in records.values())]
    data = {m: np.full(shape, np.nan) for m in names}
    cell_dims = [d for d in dims if d != "epoch"]
    state = np.full([len(coords[d]) for d in cell_dims], "missing", dtype=object)
    hashes, digests = np.full(state.shape, "", dtype=object), np.full(state.shape, "", dtype=object)
    devices, trained_by, measured_by = (np.full(state.shape, "", dtype=object) for _ in range(3))
    hash_of = {c["name"]: c["hash"] for c in plan["cells"]}
    for name, rec in records.items():
        at = _position(axes[name], cell_dims, coords)
        state[tuple(at)], hashes[tuple(at)], digests[tuple(at)] = rec.status, hash_of[name], rec.digest
        devices[tuple(at)], trained_by[tuple(at)], measured_by[tuple(at)] = rec.origin
        for j, e in enumerate(rec.epochs):
            idx = list(at)
            idx.insert(dims.index("epoch"), ep_pos[int(e)])
            for m in names:
                if m in rec.metrics:
                    data[m][tuple(idx)] = rec.metrics[m][j]
    ds = xr.Dataset({m: (dims, v, registry.BY_NAME[m].attrs) for m, v in data.items()}, coords=coords)
    ds["status"] = (cell_dims, state.astype(str), {"description": "ok | diverged per cell"})
    per_cell = {"cell_hash": hashes, "cell_digest": digests, "trained_on": devices, "trained_version": trained_by,
                "measured_version": measured_by}
    for name, (long_name, description) in CELL_VARS.items():
        ds[name] = (cell_dims, per_cell[name].astype(str), {"long_name": long_name, "description": description})
    ds = ds.assign(_curves(records, axes, cell_dims, coords).data_vars)
    for key in GRID_AXES:  # axes that do not vary become scalar coordinates (depth, dataset, ...)
        if key not in dims:
            value = next(iter(axes.values()))[key]
            ds.coords[key] = int(value) if isinstance(value, bool) else value
    for key in GRID_AXES:
        ds[key].attrs.update(long_name=FIELDS[key].metadata["axis"], description=FIELDS[key].metadata["doc"])
    ds["epoch"].attrs.update(long_name="training epochs", description="checkpoint epoch (0 = initialisation)")
    ds = ds.assign(classify(ds, PhaseRule(**plan["phase"])).data_vars)
    recipe = {k: v for k, v in first.params.items() if k not in GRID_AXES}
    cells_hash = short_hash(" ".join(sorted(c["hash"] for c in plan["cells"])).encode())
    mixed = mixture([r.origin for r in records.values()])
    ds.attrs.update(experiment=plan["experiment"], view=plan["view"], acthash_version=__version__,
                    trained_on=" | ".join(sorted(set(np.ravel(devices)) - {""})) or "unrecorded",
                    mixture=mixed or "none",
                    cells_hash=cells_hash,
                    phase_rule=PhaseRule.TEXT, phase=json.dumps(plan["phase"]), recipe=json.dumps(recipe))
    return ds


CURVES = {"loss": ("train_loss", "training loss", "the epoch's mean training loss (with the L2 term) over its batches"),
          "lr": ("train_lr", "learning rate", "the learning rate of the epoch")}


def _curves(records: dict[str, Any], axes: dict[str, dict], cell_dims: list[str],
            coords: dict[str, Any]) -> xr.Dataset:
    """Each cell's per-epoch training curves (`CURVES`) along `epoch_trained` (1 … the longest run; NaN after a
    cell stopped early or diverged)."""
    longest = max((len(r.history.get("loss", ())) for r in records.values()), default=0)
    shape = [len(coords[d]) for d in cell_dims] + [longest]
    data = {key: np.full(shape, np.nan) for key in CURVES}
    for name, rec in records.items():
        at = tuple(_position(axes[name], cell_dims, coords))
        for key in CURVES:
            values = rec.history.get(key, np.zeros(0))
            data[key][at][: len(values)] = values
    dims = [*cell_dims, CURVE_DIM]
    out = xr.Dataset({var: (dims, data[key], {"long_name": long, "description": doc})
                      for key, (var, long, doc) in CURVES.items()},
                     coords={CURVE_DIM: np.arange(1, longest + 1)})
    out[CURVE_DIM].attrs.update(long_name="epoch trained", description="training epoch (1 = the first)")
    return out


def collect(plan: dict[str, Any], paths: list[Path]) -> dict[str, Any]:
    """Read the cell files `paths`, which must be exactly the plan's cells; raise MergeError listing every
    missing, corrupt, mismatched or foreign file."""
    by_hash = {Path(p).stem: Path(p) for p in paths}
    expected = {c["hash"]: c["name"] for c in plan["cells"]}
    records, problems = {}, []
    for h in sorted(set(by_hash) - set(expected)):
        problems.append(f"{by_hash[h]}: not a cell of view {plan['view']}")
    for h, name in expected.items():
        if h not in by_hash:
            problems.append(f"{name} ({h}): no cell file given")
            continue
        try:
            records[name] = rec = read_cell(by_hash[h], h)
        except CellFileError as err:
            problems.append(str(err))
            continue
        lacks = unmeasured(rec.metrics, rec.status, rec.noisy)
        if lacks:
            problems.append(f"{by_hash[h]}: measured before {', '.join(lacks)} existed; re-measure it "
                            f"(`acthash measure {by_hash[h]}`, or rerun the workflow, which does)")
    if problems:
        raise MergeError(f"{len(problems)} of {len(expected)} cells unusable:\n  " + "\n  ".join(problems))
    mixed = mixture([r.origin for r in records.values()])
    if mixed:
        print(f"warning: view {plan['view']} mixes cells {mixed}; their numbers differ in the last bits of "
              "training at least (docs/determinism.md)", file=sys.stderr)
    diverged = [n for n, r in records.items() if r.status != "ok"]
    if diverged:
        print(f"warning: {len(diverged)} diverged cell(s), NaN in the merge: {diverged}", file=sys.stderr)
    return records


def merge_files(plan_path: Path | str, paths: list[Path], out: Path | str,
                receipts: list[Path] = ()) -> xr.Dataset:
    """Merge the cell files `paths` of the plan at `plan_path`, and those of its cells that the pack-job
    `receipts` list (a pack may also compute cells of other views), and write the dataset to `out` atomically."""
    plan = read_plan(plan_path)
    ours = {c["hash"] for c in plan["cells"]}
    paths = [Path(p) for p in paths]
    for receipt in receipts:
        paths += [Path(p) for p in json.loads(Path(receipt).read_text())["cells"] if Path(p).stem in ours]
    ds = merge_records(plan, collect(plan, sorted(set(paths))))
    publish_dataset(ds, out)
    return ds


def publish_dataset(ds: xr.Dataset, out: Path | str) -> None:
    """Write `ds` to `out` under a temporary name, then rename: `out` is always a complete file."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(out)
    ds.to_netcdf(tmp, engine="h5netcdf")
    os.replace(tmp, out)


def phase_rule(ds: xr.Dataset) -> PhaseRule:
    """The phase rule a merged dataset was classified with (its `phase` attribute), or the default."""
    return PhaseRule(**json.loads(ds.attrs["phase"])) if "phase" in ds.attrs else PhaseRule()


def load(path: Path | str) -> xr.Dataset:
    """Open a merged metrics.nc into memory: dims (width, epoch, n_train, seed, ...), one variable per metric."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no merged dataset there; run its experiment first (`make demo "
                                "EXPERIMENTS=<name>`, or the workflow with --config experiments=<name>)")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
