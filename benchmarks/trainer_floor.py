"""The stacked trainer against the machine's limit, and against an earlier trainer, in one run (`make bench`).

For each grid of `trainer_epoch.GRIDS`: the trainer's seconds per step and its achieved rate (multiply-adds
counted from the architecture, unpadded: forward, the input's and the kernel's gradients, no input gradient for
the first layer); the machine's GEMM rate for the grid's first-layer product (one group's stacked units × input)
and for its deeper layers' product (all members at the median width, batched), and its memory bandwidth (a
256 MB copy), measured in the same run; the *floor* they imply per step: the products at those rates plus the
optimizer's traffic (Adam reads parameter, gradient and two moments and writes three: 28 bytes per float32
parameter) and batch norm's (6 passes over each hidden activation) at that bandwidth; and the ratio step / floor.
Each trainer runs in its own process (`trainer_epoch.py`): the current tree, then the baseline commit's `src/`
(from `git archive`), alternated for `rounds` rounds; the speedup is the median of the rounds' ratios.

    python benchmarks/trainer_floor.py                  # all grids against the default baseline
    python benchmarks/trainer_floor.py --profile depth5 # a torch profile of one epoch, per operation
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import torch

from acthash.data.sources import extract_data
from trainer_epoch import BATCH, GRIDS, warm_trainer

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "73bc007"  # the trainer before the "trainer at the machine's limit" issue (acthash 0.3.0 arithmetic)


def _best(fn, repeat: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def architecture(name: str) -> dict:
    """Multiply-adds per step (first layer, deeper layers and head), parameters and hidden units of a grid."""
    g = GRIDS[name]
    d, k, depth, ws = g.record.input_size, g.record.n_classes, g.depth, [w for _ in range(g.seeds) for w in g.widths]
    return {"first_macs": sum(2 * d * w * BATCH for w in ws),
            "deeper_macs": sum(3 * w * w * BATCH * (depth - 1) for w in ws),
            "head_macs": sum(3 * w * k * BATCH for w in ws),
            "parameters": sum(d * w + 3 * w + (depth - 1) * (w * w + 3 * w) + w * k + k for w in ws),
            "hidden_units": sum(w * depth for w in ws)}


def machine_rates(name: str) -> dict:
    """GFLOP/s of the grid's first-layer product and deeper product, of a square 2048 GEMM, and GB/s of a copy."""
    g = GRIDS[name]
    d, t = g.record.input_size, sum(g.widths)
    k, x = torch.rand(t, d), torch.rand(BATCH, d)
    first = 2 * t * d * BATCH / _best(lambda: torch.mm(k, x.T)) / 1e9
    out = {"gemm_first_gflops": first}
    if g.depth > 1:
        w, m = int(np.median(g.widths)), len(g.widths) * g.seeds
        a, b = torch.rand(m, w, w), torch.rand(m, w, BATCH)
        out["gemm_deeper_gflops"] = 2 * m * w * w * BATCH / _best(lambda: torch.bmm(a, b)) / 1e9
    sq = torch.rand(2048, 2048)
    out["gemm_square_gflops"] = 2 * 2048**3 / _best(lambda: sq @ sq) / 1e9
    src = torch.rand(64 * 2**20)
    dst = torch.empty_like(src)
    out["copy_gbps"] = 2 * src.numel() * 4 / _best(lambda: dst.copy_(src)) / 1e9
    return out


def floor_seconds(arch: dict, rates: dict) -> dict:
    """The floor of one step and its terms (seconds)."""
    deeper_rate = rates.get("gemm_deeper_gflops", rates["gemm_first_gflops"]) * 1e9
    terms = {"floor_first_gemm_s": 2 * arch["first_macs"] / (rates["gemm_first_gflops"] * 1e9),
             "floor_deeper_gemm_s": 2 * (arch["deeper_macs"] + arch["head_macs"]) / deeper_rate,
             "floor_optimizer_s": 28 * arch["parameters"] / (rates["copy_gbps"] * 1e9),
             "floor_batch_norm_s": 6 * 4 * arch["hidden_units"] * BATCH / (rates["copy_gbps"] * 1e9)}
    return {**terms, "floor_step_s": sum(terms.values())}


def baseline_src(rev: str, into: Path) -> Path | None:
    """`src/` of commit `rev` extracted under `into`, or None (no git, or no such commit)."""
    try:
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        extract_data(archive, into)
    return into / "src"


def _epoch_in_process(name: str, epochs: int, src: Path) -> list[float]:
    """Seconds of `epochs` epochs of the grid in a fresh process that imports acthash from `src` (checked: the
    process says which acthash it imported)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    res = subprocess.run([sys.executable, str(Path(__file__).with_name("trainer_epoch.py")), name, "--epochs",
                          str(epochs)], capture_output=True, text=True, env=env, check=True)
    doc = json.loads(res.stdout.splitlines()[-1])
    if not Path(doc["acthash"]).resolve().is_relative_to(Path(src).resolve()):
        raise RuntimeError(f"the timed process imported {doc['acthash']}, not the acthash of {src}")
    return doc["seconds"]


def bench_trainer(rounds: int = 3, epochs: int = 2, baseline: str = BASELINE, grids=tuple(GRIDS)) -> dict:
    """Per grid: the current trainer and the baseline's, the machine's rates and the floor (see the module)."""
    out: dict = {"trainer_baseline": baseline}
    with tempfile.TemporaryDirectory() as tmp:
        old = baseline_src(baseline, Path(tmp))
        if old is None:
            print(f"trainer: no baseline (git archive {baseline} failed): current trainer only")
        for name in grids:
            steps = GRIDS[name].steps
            now, before = [], []
            for _ in range(rounds):
                now.append(float(np.median(_epoch_in_process(name, epochs, ROOT / "src"))))
                if old is not None:
                    before.append(float(np.median(_epoch_in_process(name, epochs, old))))
            arch, rates = architecture(name), machine_rates(name)
            floor = floor_seconds(arch, rates)
            step = float(np.median(now)) / steps
            flops = 2 * (arch["first_macs"] + arch["deeper_macs"] + arch["head_macs"])
            res = {"step_s": step, "epoch_s": float(np.median(now)), "achieved_gflops": flops / step / 1e9,
                   **rates, **floor, "step_over_floor": step / floor["floor_step_s"]}
            if before:
                res.update(baseline_epoch_s=float(np.median(before)),
                           baseline_step_over_floor=float(np.median(before)) / steps / floor["floor_step_s"],
                           speedup=float(np.median(np.array(before) / np.array(now))))
            out[f"trainer_{name}"] = res
            print(summary(name, res), flush=True)
    return out


def summary(name: str, res: dict) -> str:
    """One line of a grid's figures."""
    line = (f"trainer {name}: {res['step_s'] * 1e3:.2f} ms/step ({res['achieved_gflops']:.0f} GFLOP/s), floor "
            f"{res['floor_step_s'] * 1e3:.2f} ms (first-layer GEMM {res['floor_first_gemm_s'] * 1e3:.2f} at "
            f"{res['gemm_first_gflops']:.0f} GFLOP/s, deeper and head {res['floor_deeper_gemm_s'] * 1e3:.2f}, "
            f"optimizer {res['floor_optimizer_s'] * 1e3:.2f} and BN {res['floor_batch_norm_s'] * 1e3:.2f} at "
            f"{res['copy_gbps']:.1f} GB/s), step/floor {res['step_over_floor']:.2f}")
    if "speedup" in res:
        line += (f"; baseline {res['baseline_epoch_s'] / GRIDS[name].steps * 1e3:.2f} ms/step (step/floor "
                 f"{res['baseline_step_over_floor']:.2f}), speedup {res['speedup']:.2f}x")
    return line


def profile(name: str) -> None:
    """A torch profile of one epoch of the grid (after a warm-up epoch), per operation."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    trainer = warm_trainer(name)
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        trainer.train_epoch()
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=30))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--baseline", default=BASELINE, help="commit of the earlier trainer")
    p.add_argument("--grids", nargs="+", choices=sorted(GRIDS), default=list(GRIDS))
    p.add_argument("--profile", choices=sorted(GRIDS), help="print a per-operation profile of this grid instead")
    args = p.parse_args()
    if args.profile:
        profile(args.profile)
        return
    bench_trainer(args.rounds, baseline=args.baseline, grids=args.grids)


if __name__ == "__main__":
    main()
