"""The MLP's training pass by hand against autograd on the benchmark grids, in one process: two trainers of the
same pack, one through `acthash.nets.mlp_pass` (the CPU default) and one through autograd, alternating epochs
after a warm-up; prints each epoch's seconds and whether every weight, buffer, Adam moment and epoch loss of
the two is bit-identical at the end:

    python benchmarks/pass_by_hand.py demo_pack mnist_width depth5 --epochs 3
"""

from __future__ import annotations

import argparse
import time

import torch

from trainer_epoch import GRIDS, warm_trainer


def compare(name: str, epochs: int) -> None:
    """Time `epochs` alternating epochs of each trainer of the grid, then compare their states."""
    by_hand, by_autograd = warm_trainer(name), warm_trainer(name)  # warm_trainer.train_epoch ran by hand
    by_autograd.by_hand = False
    seconds: dict[str, list[float]] = {"by hand": [], "autograd": []}
    for _ in range(epochs):
        for label, trainer in (("by hand", by_hand), ("autograd", by_autograd)):
            t0 = time.perf_counter()
            trainer.train_epoch()
            seconds[label].append(time.perf_counter() - t0)
    a, b = by_hand.model.state_dict(), by_autograd.model.state_dict()
    moments = zip(by_hand.opt.m + by_hand.opt.v, by_autograd.opt.m + by_autograd.opt.v)
    same = (all(torch.equal(a[k], b[k]) for k in a) and all(torch.equal(x, y) for x, y in moments)
            and [r.loss for r in by_hand.results] == [r.loss for r in by_autograd.results])
    steps = GRIDS[name].steps
    for label, secs in seconds.items():
        print(f"{name} {label}: " + ", ".join(f"{s / steps * 1e3:.2f}" for s in secs) + " ms/step")
    print(f"{name}: {'bit-identical' if same else 'DIFFERENT'} weights, buffers, Adam moments and losses after "
          f"{epochs} epochs each (the first epoch by hand in both)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grids", nargs="+", choices=sorted(GRIDS))
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    for name in args.grids:
        compare(name, args.epochs)


if __name__ == "__main__":
    main()
