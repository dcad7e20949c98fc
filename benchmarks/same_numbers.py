"""Evidence at MNIST scale that a cell's numbers do not depend on its pack: MNIST width 60, seed 0, all 48 000
training examples, checkpoints 0/1/3, trained alone, in a pack of 7 widths and in the 46-member pack of the
paper's 23 widths × 2 seeds; prints whether each is bit-identical to the cell trained alone
(`python benchmarks/same_numbers.py [--data-root data]`, about 40 s on 2 CPU cores; docs/determinism.md)."""

from __future__ import annotations

import argparse
import time

import numpy as np

from acthash.data import sources as data
from acthash.data.samples import cell_samples
from acthash.nets.train import Trainer
from acthash.params.cell import Cell
from acthash.params.config import resolve_file
from acthash.params.layout import DATA_ROOT
from run_all import CONFIG

WIDTHS = resolve_file(CONFIG, "mnist_width")[0].spec["width"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-root", default=DATA_ROOT)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    data.fetch("mnist", args.data_root)
    arr = data.load("mnist", args.data_root)
    base = {"checkpoints": (0, 1, 3), "early_stopping": False}
    target = Cell(width=60, seed=0, **base)
    packs = {"alone": [target],
             "7 widths, seed 0": [Cell(width=w, seed=0, **base) for w in (10, 20, 30, 40, 50, 60, 100)],
             "23 widths x 2 seeds": [Cell(width=w, seed=s, **base) for s in (0, 1) for w in WIDTHS]}
    results = {}
    for name, cells in packs.items():
        trainer = Trainer(cells, [cell_samples(c, arr.y_train, arr.n_classes) for c in cells], arr.x_train,
                          arr.x_test, arr.y_test, arr.n_classes, args.device, log=lambda s: None)
        t0 = time.perf_counter()
        results[name] = trainer.run()[cells.index(target)]
        print(f"{name}: {len(cells)} members, {time.perf_counter() - t0:.0f} s", flush=True)
    alone = results["alone"]
    for name, r in results.items():
        same = np.array_equal(r.loss, alone.loss) and all(
            np.array_equal(a.train.packed, b.train.packed) and np.array_equal(a.test.packed, b.test.packed)
            and a.test.correct == b.test.correct for a, b in zip(r.checkpoints, alone.checkpoints))
        print(f"{name}: bit-identical to alone: {same}; test accuracy at epoch 3: "
              f"{r.checkpoints[-1].test.correct / len(arr.y_test)}")


if __name__ == "__main__":
    main()
