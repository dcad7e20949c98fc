"""Seconds per epoch of acthash's stacked trainer on one of the benchmark grids, as JSON on stdout.

Imports only what every acthash version since 0.3.0 has (`Cell`, `cell_samples`, `Trainer`), so `trainer_floor.py`
runs it against the current tree and against an older commit's `src/` (PYTHONPATH), side by side:

    python benchmarks/trainer_epoch.py depth5 --epochs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

import acthash
from acthash.data.samples import cell_samples
from acthash.nets.train import Trainer
from acthash.params.cell import Cell
from acthash.params.datasets import DATASETS, Dataset

BATCH = Cell().batch_size  # the recipe's batch: every grid trains at it


@dataclasses.dataclass(frozen=True)
class Grid:
    """One grid of the "trainer at the machine's limit" issue, as one pack: its dataset (the shape of its random
    inputs: speed does not depend on pixel values), depth, widths, seeds, steps per epoch and whether the pack's
    n = 1 000 examples are tiled to a full epoch (as the demo's packs are)."""

    dataset: str
    depth: int
    widths: tuple[int, ...]
    seeds: int
    steps: int
    tile: bool = False

    @property
    def record(self) -> Dataset:
        return DATASETS[self.dataset]


GRIDS = {
    "mnist_width": Grid("mnist", 1, (3, 7, 10, 15, 20, 23, 27, 30, 33, 37, 40, 43, 47, 50, 53, 57, 60, 65, 70, 75, 80,
                                     90, 100), 2, 200),
    "depth5": Grid("cifar10", 5, tuple(range(10, 201, 10)), 3, 60),
    "demo_pack": Grid("mnist", 1, (3, 8, 16, 32, 64), 2, 750, tile=True),
}


def grid(name: str) -> tuple[np.ndarray, np.ndarray, list[Cell]]:
    """Random inputs and labels of the grid's dataset shape, and its cells (one pack)."""
    g = GRIDS[name]
    rng = np.random.default_rng(0)
    size, classes = g.record.train_size, g.record.n_classes
    x, y = rng.random((size, *g.record.image_shape), dtype=np.float32), rng.integers(0, classes, size)
    base = Cell(dataset=g.dataset, depth=g.depth, n_train=1000 if g.tile else g.steps * BATCH, tile=g.tile,
                checkpoints=(1,), early_stopping=False)
    return x, y, [dataclasses.replace(base, width=w, seed=s) for s in range(g.seeds) for w in g.widths]


def warm_trainer(name: str) -> Trainer:
    """One pack of the grid on the CPU, after a warm-up epoch (numba kernels compiled, buffers allocated)."""
    x, y, cells = grid(name)
    classes = GRIDS[name].record.n_classes
    trainer = Trainer(cells, [cell_samples(c, y, classes) for c in cells], x, x[:10], y[:10], classes, "cpu",
                      log=lambda s: None)
    trainer.train_epoch()
    return trainer


def timed_epochs(trainer: Trainer, epochs: int) -> list[float]:
    """Seconds of each of the next `epochs` epochs of a (warm) trainer."""
    out = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        trainer.train_epoch()
        out.append(time.perf_counter() - t0)
    return out


def epoch_seconds(name: str, epochs: int) -> list[float]:
    """Seconds of each of `epochs` epochs after a warm-up epoch, one pack of the grid on the CPU."""
    return timed_epochs(warm_trainer(name), epochs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", choices=sorted(GRIDS))
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    print(json.dumps({"grid": args.grid, "seconds": epoch_seconds(args.grid, args.epochs),
                      "steps": GRIDS[args.grid].steps, "threads": torch.get_num_threads(), "acthash": acthash.__file__}))


if __name__ == "__main__":
    main()
