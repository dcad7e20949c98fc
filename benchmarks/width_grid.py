"""The paper's MNIST width grid end to end on one device: one stacked pack, codes and all metrics at every
checkpoint. Prints the training time, the metric time and a few metric values, and writes a JSON summary.

GPU target (the "Speed" issue): 23 widths × 10 seeds × 200 epochs with its 16 checkpoints in ≤ 5 minutes.
On a CPU, run it small: `python benchmarks/width_grid.py --seeds 1 --checkpoints 0 1`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from acthash.cell import Cell
from acthash.pack import measure_member, pick_device, train_pack
from acthash.store import read_cell

WIDTHS = [3, 7, 10, 15, 20, 23, 27, 30, 33, 37, 40, 43, 47, 50, 53, 57, 60, 65, 70, 75, 80, 90, 100]
CHECKPOINTS = [0, 1, 3, 6, 10, 20, 30, 40, 60, 80, 100, 120, 140, 160, 180, 200]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-root", default="data")
    p.add_argument("--device", default="auto")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--checkpoints", type=int, nargs="+", default=CHECKPOINTS)
    p.add_argument("--out", default="results/benchmarks/width_grid.json")
    args = p.parse_args()
    device = pick_device(args.device)
    base = Cell(dataset="mnist", checkpoints=tuple(args.checkpoints), early_stopping=False)
    cells = [dataclasses.replace(base, width=w, seed=s) for s in range(args.seeds) for w in WIDTHS]
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "pack.h5"
        t0 = time.perf_counter()
        train_pack(cells, args.data_root, pack, device)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        finals = {}
        for i, cell in enumerate(cells):
            out = Path(tmp) / f"cell{i}.h5"
            measure_member(pack, cell, out, "fast", device)
            rec = read_cell(out)
            finals[(cell.width, cell.seed)] = {k: float(v[-1]) for k, v in rec.metrics.items()}
        measure_s = time.perf_counter() - t0
    summary = {"device": device, "cells": len(cells), "epochs": max(args.checkpoints),
               "checkpoints": len(args.checkpoints), "train_seconds": train_s, "measure_seconds": measure_s,
               "total_seconds": train_s + measure_s}
    for w in (10, 40, 100):
        rows = [v for (width, _), v in finals.items() if width == w]
        summary[f"width{w}"] = {k: float(np.mean([r[k] for r in rows])) for k in
                                ("redundancy_train", "redundancy_test", "knn_test", "logreg_test")}
    print(json.dumps(summary, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
