"""How far `acthash estimate`'s training time is from the trainer on this machine, pack by pack.

For the first pack of each named experiment (the shipped config, a fresh results tree): the seconds per epoch
the estimate gives it (its training seconds over its epochs) beside the trainer's measured seconds per epoch of
the same cells on random inputs of the dataset's shape (speed does not depend on pixel values), after a warm-up
epoch. Prints one line per pack and the ratio measured / estimated; writes nothing.

    python benchmarks/estimate_check.py mnist_phase mnist_weight_decay demo --epochs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import yaml

from acthash.data.samples import cell_samples
from acthash.nets.train import Trainer
from acthash.params.config import resolve
from acthash.params.datasets import DATASETS
from acthash.params.layout import Layout
from acthash.run.estimate import SHIPPED, Calibration, pack_cost
from acthash.store.plan import Pack, plan_work
from trainer_epoch import timed_epochs

ROOT = Path(__file__).resolve().parents[1]


def first_pack(experiment: str) -> Pack:
    """The first pack the workflow would train for `experiment` on a fresh results tree."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text()) | {"experiments": experiment}
    with tempfile.TemporaryDirectory() as results:
        return plan_work(resolve(config), Layout(results)).packs[0]


def measured_epoch_seconds(pack: Pack, epochs: int) -> list[float]:
    """Seconds of each of `epochs` epochs of the pack's trainer (no checkpoint inside them), after a warm-up."""
    record = DATASETS[pack.cells[0].dataset]
    rng = np.random.default_rng(0)
    x = rng.random((record.train_size, *record.image_shape), dtype=np.float32)
    y = rng.integers(0, record.n_classes, record.train_size)
    cells = [dataclasses.replace(c, checkpoints=(10_000,)) for c in pack.cells]
    trainer = Trainer(cells, [cell_samples(c, y, record.n_classes) for c in cells], x, x[:10], y[:10],
                      record.n_classes, "cpu", log=lambda s: None)
    trainer.train_epoch()
    return timed_epochs(trainer, epochs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiments", nargs="+")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--calibration", default=str(SHIPPED))
    args = p.parse_args()
    calibration = Calibration.load(args.calibration)
    print(f"calibration: {calibration.machine} ({args.calibration})")
    for experiment in args.experiments:
        pack = first_pack(experiment)
        cost = pack_cost(pack, calibration)
        estimated = cost.train_seconds / max(pack.cells[0].checkpoints)
        measured = measured_epoch_seconds(pack, args.epochs)
        widths = sorted({c.width for c in pack.cells})
        print(f"{experiment}: pack of {len(pack.cells)} (widths {widths[0]}-{widths[-1]}, depth "
              f"{pack.cells[0].depth}): estimated {estimated:.2f} s/epoch, measured "
              f"{', '.join(f'{s:.2f}' for s in measured)} s/epoch, measured / estimated "
              f"{min(measured) / estimated:.2f}-{max(measured) / estimated:.2f}")


if __name__ == "__main__":
    main()
