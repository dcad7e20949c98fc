"""The paper's MNIST width grid end to end on one device, as the workflow runs it: the shipped `mnist_width`
experiment's cells (its checkpoints overridable) trained as one stacked pack and measured into cell files by
the workflow's pack runner. Prints the training-and-metric time and a few metric values, and writes a JSON
summary.

GPU target (the "Speed" issue): 23 widths × 10 seeds × 200 epochs with 16 checkpoints in ≤ 5 minutes.
On a CPU, run it small: `python benchmarks/width_grid.py --seeds 1 --checkpoints 0 1`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from acthash.params.config import resolve_file
from acthash.params.layout import DATA_ROOT
from acthash.run.pack import pick_device
from acthash.run.runner import run_pack
from acthash.store.cellfile import read_cell

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
CHECKPOINTS = list(resolve_file(CONFIG, "mnist_epochs")[0].cells[0].checkpoints)  # the training-time sweep's


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-root", default=DATA_ROOT)
    p.add_argument("--device", default="auto")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--checkpoints", type=int, nargs="+", default=CHECKPOINTS)
    p.add_argument("--out", default="results/benchmarks/width_grid.json")
    args = p.parse_args()
    device = pick_device(args.device)
    (view,) = resolve_file(CONFIG, "mnist_width", seed=list(range(args.seeds)), checkpoints=args.checkpoints,
                           early_stopping=False)
    cells = view.cells
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"{c.param_hash}.h5" for c in cells]
        t0 = time.perf_counter()
        run_pack(cells, outs, args.data_root, Path(tmp) / "pack", device, "fast", device)
        seconds = time.perf_counter() - t0
        records = [read_cell(o) for o in outs]
    train_s = float(np.mean([r.attrs["train_seconds"] for r in records]))  # the pack's, stored in each cell
    summary = {"device": device, "cells": len(cells), "epochs": max(args.checkpoints),
               "checkpoints": len(args.checkpoints), "train_seconds": train_s,
               "measure_seconds": seconds - train_s, "total_seconds": seconds}
    for w in (10, 40, 100):
        rows = [r.metrics for c, r in zip(cells, records) if c.width == w]
        summary[f"width{w}"] = {k: float(np.mean([m[k][-1] for m in rows])) for k in
                                ("redundancy_train", "redundancy_test", "knn_test", "logreg_test")}
    print(json.dumps(summary, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
