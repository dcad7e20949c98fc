"""The F11 ablations: redundancy of the codes after fractions of epoch 1's steps (does the paper's epoch-1
peak of R_train sit inside the first epoch?), and the side-by-side table of recipe variants.

The training is the pack trainer's, untouched: codes are read in eval mode between steps, which changes
neither the weights, nor the batch-norm statistics, nor any random stream, so the reading after the whole
epoch equals the trainer's own epoch-1 checkpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from acthash import __version__
from acthash.analysis.merge import CELL_VARS
from acthash.analysis.stats import mean_sd, pm
from acthash.data import sources as data
from acthash.data.samples import cell_samples
from acthash.metrics.distinct import redundancy_ratio_packed
from acthash.metrics.knn import knn_predict
from acthash.nets.device import device_name
from acthash.nets.train import Trainer
from acthash.params.cell import Cell
from acthash.params.registry import BY_NAME
from acthash.store.machine import hardware

FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1)  # of epoch 1's steps, after which `first-epoch` reads codes


def first_epoch_readings(cells: Sequence[Cell], data_root: Path | str, fractions: Sequence[float] = FRACTIONS,
                         device: str = "cpu") -> xr.Dataset:
    """R_train, R_test and the K-NN test accuracy (each cell's `knn_k`, on the codes' stored units) of
    `cells` (one pack: a shared recipe) at initialisation and after each of `fractions` of the first epoch's
    steps (rounded to whole steps, at least one) → Dataset with dims (member, epoch), epoch 0 then the
    fractions; width and seed as coordinates of member."""
    if cells[0].framework != "torch":
        raise ValueError(f"framework={cells[0].framework!r}: first-epoch reads the stacked torch trainer only")
    if not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions {list(fractions)}: each must lie in (0, 1]")
    arrays = data.load(cells[0].dataset, data_root)
    samples = [cell_samples(c, arrays.y_train, arrays.n_classes) for c in cells]
    trainer = Trainer(cells, samples, arrays.x_train, arrays.x_test, arrays.y_test, arrays.n_classes, device,
                      torch.float32, log=lambda s: None)
    steps = math.ceil(len(samples[0].rows) / cells[0].batch_size)
    at: dict[int, list[int]] = {}  # step → the columns read after it (fractions may round to one step)
    for j, f in enumerate(fractions):
        at.setdefault(max(1, round(f * steps)) - 1, []).append(j + 1)
    r = np.full((3, len(cells), len(fractions) + 1), np.nan)

    def read(cols: list[int]) -> None:
        train, test = trainer.readout.codes()
        for i, (cell, sample) in enumerate(zip(cells, samples)):
            r[0, i, cols] = redundancy_ratio_packed(train[i].rows_for_redundancy)
            r[1, i, cols] = redundancy_ratio_packed(test[i].rows_for_redundancy)
            knn = knn_predict(train[i].packed, sample.labels, test[i].packed, cell.knn_k)
            r[2, i, cols] = float((knn == arrays.y_test).mean())

    read([0])
    trainer.train_epoch(after_step=lambda step: read(at[step]) if step in at else None)
    coords = {"epoch": [0.0, *map(float, fractions)], "width": ("member", [c.width for c in cells]),
              "seed": ("member", [c.seed for c in cells])}
    ds = xr.Dataset({"redundancy_train": (("member", "epoch"), r[0], BY_NAME["redundancy_train"].attrs),
                     "redundancy_test": (("member", "epoch"), r[1], BY_NAME["redundancy_test"].attrs),
                     "knn_test": (("member", "epoch"), r[2], BY_NAME["knn_test"].attrs)},
                    coords=coords)
    ds["epoch"].attrs.update(long_name="training epochs", description=f"fraction of epoch 1's {steps} steps")
    made = {"trained_on": hardware(device_name(device)), "trained_version": __version__,
            "measured_version": __version__}  # per member, as a merged view records them per cell
    for name, value in made.items():
        long_name, description = CELL_VARS[name]
        ds[name] = ("member", np.full(len(cells), value), {"long_name": long_name, "description": description})
    recipe = {k: v for k, v in cells[0].params().items() if k not in ("width", "seed")}  # what the pack shares
    ds.attrs.update(recipe=json.dumps(recipe), steps_per_epoch=steps, acthash_version=__version__,
                    trained_on=made["trained_on"])
    return ds


def table(ds: xr.Dataset, metric: str = "redundancy_train") -> str:
    """Markdown: one row per width, one column per epoch fraction, mean ± sd over the seeds."""
    by = ds[metric].groupby("width")
    mean, sd = mean_sd(by, "member")
    head = "| width | " + " | ".join(f"epoch {e:g}" for e in ds["epoch"].values) + " |"
    rows = [f"| {w} | " + " | ".join(pm(m, s) for m, s in zip(mean.sel(width=w).values, sd.sel(width=w).values))
            + " |" for w in mean["width"].values]
    return "\n".join([head, "|---" * (len(ds["epoch"]) + 1) + "|", *rows]) + "\n"


def _step_label(step: int, steps_per_epoch: int) -> str:
    """A column of `readings_table`: epoch 0, k steps into epoch 1, or epoch 1."""
    return "epoch 0" if step == 0 else "epoch 1" if step == steps_per_epoch else \
        f"{step} step{'s' if step > 1 else ''}"


def readings_table(readings: Sequence[tuple[str, xr.Dataset]], metric: str = "redundancy_train",
                   steps: Sequence[int] | None = None) -> str:
    """Markdown of `first_epoch_readings` datasets, each under a recipe label: one row per (label, width), one
    column per number of steps read (mean ± sd over the seeds), readings of one label joined, – where a label was
    not read there; `steps` picks the columns (default: every number of steps read)."""
    entries: dict[tuple[str, int], dict[int, str]] = {}
    per_epoch = {int(ds.attrs["steps_per_epoch"]) for _, ds in readings}
    if len(per_epoch) != 1:
        raise ValueError(f"readings of epochs of {sorted(per_epoch)} steps: one table holds one epoch length")
    (n,) = per_epoch
    for label, ds in readings:
        mean, sd = mean_sd(ds[metric].groupby("width"), "member")
        for e in ds["epoch"].values:
            step = 0 if e == 0 else max(1, round(float(e) * n))  # as first_epoch_readings rounds
            for w in mean["width"].values:
                entries.setdefault((label, int(w)), {}).setdefault(
                    step, pm(float(mean.sel(width=w, epoch=e)), float(sd.sel(width=w, epoch=e))))
    read = sorted(set().union(*entries.values()))
    columns = read if steps is None else list(steps)
    unread = [k for k in columns if k not in read]
    if unread:
        raise ValueError(f"steps {unread}: not read in these datasets (read: {read})")
    head = ["recipe", "width", *(_step_label(k, n) for k in columns)]
    rows = [[label, str(w), *(got.get(k, "–") for k in columns)] for (label, w), got in entries.items()]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows]) + "\n"


def _by_seed(ds: xr.Dataset, metric: str, name: str) -> xr.DataArray:
    """`metric` of a merged dataset as (width, epoch, seed); other dims must hold one value."""
    if metric not in ds:
        raise ValueError(f"{name}: no variable {metric}")
    missing = [d for d in ("width", "epoch", "seed") if d not in ds[metric].dims]
    if missing:
        raise ValueError(f"{name}: {metric} has no dim {', '.join(missing)}")
    da = ds[metric]
    extra = [d for d in da.dims if d not in ("width", "epoch", "seed")]
    if any(da.sizes[d] > 1 for d in extra):
        raise ValueError(f"{name}: {metric} varies over {[d for d in extra if da.sizes[d] > 1]}; a variant "
                         "table needs one value of every dim but width, epoch and seed")
    return da.squeeze(extra, drop=True).transpose("width", "epoch", "seed")


def variants_table(datasets: Sequence[xr.Dataset], metric: str = "redundancy_train",
                   accuracy: str = "knn_test") -> str:
    """Markdown: one row per (variant, width) of merged datasets of recipe variants, each named by its view
    (else its `experiment` attribute); `metric` at every epoch all of them have as mean ± sd over seeds, its
    change at epoch 1 from the first dataset's (the baseline) at the same width, and `accuracy` (seed mean) at
    epoch 1 and at the last shared epoch; a last line names the epochs left out, if any."""
    names = [ds.attrs.get("view") or ds.attrs.get("experiment", f"dataset {i}") for i, ds in enumerate(datasets)]
    by_seed = [_by_seed(ds, metric, name) for ds, name in zip(datasets, names)]
    for r, name in zip(by_seed, names):
        if 1 not in r["epoch"].values:
            raise ValueError(f"{name}: no epoch 1 among {[int(e) for e in r['epoch'].values]}")
    epochs = sorted(set.intersection(*(set(int(e) for e in r["epoch"].values) for r in by_seed)))
    base_ep1 = by_seed[0].mean("seed").sel(epoch=1)
    label = datasets[0][metric].attrs.get("long_name", metric)
    acc_label = datasets[0][accuracy].attrs.get("long_name", accuracy)
    accuracy_at = sorted({1, epochs[-1]})
    head = ["variant", "width", *(f"{label} ep{e}" for e in epochs), f"Δ ep1 vs {names[0]}",
            *(f"{acc_label} ep{e}" for e in accuracy_at)]
    rows = []
    for ds, name, r in zip(datasets, names, by_seed):
        acc = _by_seed(ds, accuracy, name).mean("seed")
        mean, sd = mean_sd(r.sel(epoch=epochs))
        for w in r["width"].values:
            cells = [pm(m, v) for m, v in zip(mean.sel(width=w).values, sd.sel(width=w).values)]
            delta = float(mean.sel(width=w, epoch=1) - base_ep1.sel(width=w)) if w in base_ep1["width"] else math.nan
            rows.append([name, str(int(w)), *cells, f"{delta:+.3f}",
                         *(f"{float(acc.sel(width=w, epoch=e)):.3f}" for e in accuracy_at)])
    dropped = sorted(set().union(*(set(int(e) for e in r["epoch"].values) for r in by_seed)) - set(epochs))
    note = [f"(epochs not in every dataset, left out: {', '.join(map(str, dropped))})"] if dropped else []
    return "\n".join(["| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows]] + note) + "\n"
