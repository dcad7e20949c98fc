"""Speed benchmarks: acthash against the reference approach, side by side in one run (`make bench`).

Prints each figure and ratio and writes results/benchmarks/bench.json (`Layout.bench`), which calibrates
`acthash estimate`. Never a test: numbers depend on the machine. Sizes follow the "Speed" issue; where the
reference would take minutes (scikit-learn's brute-force Hamming K-NN on 48 000 × 10 000 codes, about 5
minutes on 2 cores) it is timed on a slice of the test rows and scaled linearly (its cost is linear in test
rows), which the output says.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from acthash.data.samples import cell_samples
from acthash.metrics import reference as ref
from acthash.metrics.distinct import distinct_rows
from acthash.metrics.kmeans import kmeans_exact
from acthash.metrics.knn import knn_predict
from acthash.nets.train import Trainer
from acthash.params.cell import Cell
from acthash.params.config import resolve_file
from acthash.params.datasets import split_size
from acthash.params.layout import DATA_ROOT, Layout
from acthash.store.machine import cpu_model
from trainer_floor import bench_trainer

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
WIDTHS = resolve_file(CONFIG, "mnist_width")[0].spec["width"]  # the paper's width grid, as shipped


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def structured_codes(n: int, bits: int, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Codes like a network's: class prototypes with 15 % of bits flipped; (n, bits) uint8 and labels."""
    protos = np.random.default_rng(123).random((classes, bits)) < 0.5
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return (protos[y] ^ (rng.random((n, bits)) < 0.15)).astype(np.uint8), y


def plain_torch_epoch(width: int, seed: int, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """The reference approach: one Keras-recipe MLP as a researcher writes it in plain PyTorch (nn.Sequential,
    torch.optim.Adam, the L2 term in the loss), trained alone for `steps` batches of 64; returns seconds."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, width), torch.nn.BatchNorm1d(width, eps=1e-3, momentum=0.01),
                                torch.nn.ReLU(), torch.nn.Linear(width, 10)).to(x.device)
    for layer in (model[0], model[3]):
        torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, eps=1e-7)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: steps * 64].to(x.device)
    t0 = time.perf_counter()
    for start in range(0, steps * 64, 64):
        idx = order[start:start + 64]
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx]) + 1e-6 * model[0].weight.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _width_grid(seeds: int, steps: int) -> tuple[np.ndarray, np.ndarray, list[Cell]]:
    """MNIST-sized random inputs and labels, and the cells of the paper's width grid for `seeds` seeds with
    `steps` batches of 64 per epoch (training speed does not depend on pixel values)."""
    rng = np.random.default_rng(0)
    x = rng.random((60000, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 60000)
    base = Cell(n_train=steps * 64, tile=False, checkpoints=(1,), early_stopping=False)
    return x, y, [dataclasses.replace(base, width=w, seed=s) for s in range(seeds) for w in WIDTHS]


def bench_stopped(device: str, seeds: int, steps: int, rounds: int = 3) -> dict:
    """What early stopping costs a pack: epochs of the stacked width grid with every member active, with one
    member stopped (the optimizer then keeps that member's parameters and state) and with all but every tenth
    stopped (late in an early-stopped run), alternated for `rounds` rounds after a warm-up epoch; the ratios
    are the medians of the rounds' ratios to the all-active epoch."""
    x, y, cells = _width_grid(seeds, steps)
    t = Trainer(cells, [cell_samples(c, y, 10) for c in cells], x, x[:10], y[:10], 10, device, log=lambda s: None)
    t.train_epoch()

    def epoch() -> float:
        t0 = time.perf_counter()
        t.train_epoch()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    active, one, most = [], [], []
    for _ in range(rounds):
        t.active[:] = True
        active.append(epoch())
        t.active[0] = False
        one.append(epoch())
        t.active[:] = torch.arange(len(cells)) % 10 == 0
        most.append(epoch())
    return {"stopped_models": len(cells), "stopped_all_active_seconds": float(np.median(active)),
            "stopped_one_stopped_seconds": float(np.median(one)),
            "stopped_one_member_slowdown": float(np.median(np.divide(one, active))),
            "stopped_most_stopped_seconds": float(np.median(most)),
            "stopped_most_vs_all_active": float(np.median(np.divide(most, active)))}


@torch.no_grad()
def _fused_adam_step(opt, lr: float, active: torch.Tensor, l2: torch.Tensor | None = None) -> None:
    """The Adam step acthash took before 0.2.0: torch's fused kernel, whose vector body and scalar tail round
    differently, so a member's bits depended on its pack (the L2 gradient added before it, as then). The
    reference side of `bench_optimizer`."""
    from acthash.nets.optim import add_l2_grad

    if l2 is not None:
        add_l2_grad(opt.decayed, l2)
    opt.t += 1
    t = float(opt.t)
    restore = opt.freezer.hold(list(zip(opt.params, opt.m, opt.v)), active)
    torch._fused_adam_(opt.params, [p.grad for p in opt.params], opt.m, opt.v, [], [opt.t] * len(opt.params), lr=lr,
                       beta1=opt.b1, beta2=opt.b2, weight_decay=0.0, eps=opt.eps / (1 - opt.b2**t) ** 0.5,
                       amsgrad=False, maximize=False)
    restore()


def bench_optimizer(device: str, seeds: int, steps: int, rounds: int = 3) -> dict:
    """What per-member arithmetic costs the stacked trainer: an epoch of the stacked width grid with acthash's
    Adam (one numba pass on the CPU, the same arithmetic for every entry) against the same epoch with torch's
    fused kernel (acthash < 0.2.0), alternated for `rounds` rounds after a warm-up epoch of each; the ratio is
    the median of the rounds' ratios (> 1: ours slower). On a GPU both run torch's fused kernel."""
    from acthash.nets.optim import StackedAdam

    x, y, cells = _width_grid(seeds, steps)
    ours = StackedAdam.step

    def epoch(step) -> float:
        StackedAdam.step = step
        try:
            t = Trainer(cells, [cell_samples(c, y, 10) for c in cells], x, x[:10], y[:10], 10, device,
                        log=lambda s: None)
            t.train_epoch()  # warm-up (numba compiles once per process)
            t0 = time.perf_counter()
            t.train_epoch()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            return time.perf_counter() - t0
        finally:
            StackedAdam.step = ours

    times = [(epoch(ours), epoch(_fused_adam_step)) for _ in range(rounds)]
    return {"optimizer_models": len(cells), "optimizer_ours_seconds": float(np.median([a for a, _ in times])),
            "optimizer_fused_seconds": float(np.median([b for _, b in times])),
            "optimizer_ours_vs_fused": float(np.median([a / b for a, b in times]))}


def bench_training(device: str, seeds: int, steps: int, rounds: int = 3) -> dict:
    """Models·epochs per second: the MNIST width grid stacked vs one model at a time (same steps, MNIST-sized
    random inputs; speed does not depend on pixel values). One at a time is timed two ways: the reference
    approach (a plain PyTorch loop per model) and acthash's own trainer with a pack of one. The three are
    timed in turn for `rounds` rounds (a shared machine's speed drifts) and each ratio is the median of the
    rounds' ratios; the stacked pack's time is one epoch of a fresh trainer, as each single model's is."""
    x, y, cells = _width_grid(seeds, steps)

    def run(pack):
        samples = [cell_samples(c, y, 10) for c in pack]
        t = Trainer(pack, samples, x, x[:10], y[:10], 10, device, log=lambda s: None)
        t0 = time.perf_counter()
        t.train_epoch()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    xt, yt = torch.as_tensor(x.reshape(len(x), -1), device=device), torch.as_tensor(y, device=device)
    run(cells[:2])  # warm-up
    plain_torch_epoch(WIDTHS[0], 0, xt, yt, 5)
    times: dict[str, list[float]] = {"stacked": [], "plain": [], "single": []}
    for _ in range(rounds):
        times["stacked"].append(run(cells))
        times["plain"].append(sum(plain_torch_epoch(c.width, c.seed, xt, yt, steps) for c in cells))
        times["single"].append(sum(run([c]) for c in cells))
    stacked = np.array(times["stacked"])
    return {"train_models": len(cells), "train_units": sum(c.width for c in cells), "train_steps_per_epoch": steps,
            "train_rounds": rounds,
            "stacked_seconds": float(np.median(stacked)),
            "one_by_one_plain_torch_seconds": float(np.median(times["plain"])),
            "one_by_one_pack_of_one_seconds": float(np.median(times["single"])),
            "stacked_train_speedup": float(np.median(np.array(times["plain"]) / stacked)),
            "stacked_vs_pack_of_one_speedup": float(np.median(np.array(times["single"]) / stacked))}


def bench_keras() -> dict:
    """The released recipe in tf-keras (`framework: keras`), the figures `acthash estimate` uses for Keras packs.
    MNIST-sized random inputs, one full MNIST epoch of steps of 64, networks trained by acthash's Keras trainer
    after a warm-up network, each run timed best of 3:
    - a step: width 40 trained 6 epochs against 1 (read once, at the end); width 100 the same, for comparison;
    - the fixed part of a network (building the model, tracing its graphs, one readout of train and test codes):
      the 1-epoch run less its steps;
    - the first graph of a process (once per pack job): the warm-up network against the same run again.
    Empty without the `keras` extra."""
    from acthash.nets.keras_mlp import train_keras

    steps = split_size("mnist", Cell().train_fraction) // Cell().batch_size
    x, y, _ = _width_grid(1, steps)

    def run(epochs: int, width: int = 40, repeat: int = 3) -> float:
        cell = Cell(framework="keras", width=width, n_train=steps * 64, tile=False, checkpoints=(epochs,),
                    early_stopping=False)
        return timed(lambda: train_keras(cell, cell_samples(cell, y, 10), x, x[:10000], y[:10000], 10,
                                         log=lambda s: None), repeat)[0]

    try:
        first = run(1, repeat=1)  # TensorFlow's first graph in this process
    except ImportError:
        print("keras: skipped (no tf-keras: pip install -e '.[keras]')")
        return {}
    one, six = run(1), run(6)
    step, step_100 = (six - one) / (5 * steps), (run(6, 100) - run(1, 100)) / (5 * steps)
    return {"keras_steps_per_epoch": steps, "keras_one_epoch_seconds": one, "keras_six_epochs_seconds": six,
            "keras_step_seconds": step, "keras_step_seconds_width100": step_100,
            "keras_network_seconds": one - step * steps, "keras_first_graph_seconds": first - one}


def bench_knn(n_train: int, n_test: int, bits: int, ref_rows: int) -> dict:
    from sklearn.neighbors import KNeighborsClassifier

    tr, ytr = structured_codes(n_train, bits, 1)
    te, _ = structured_codes(n_test, bits, 2)
    ptr, pte = np.packbits(tr, 1), np.packbits(te, 1)
    knn_predict(ptr[:100], ytr[:100], pte[:10], 9)  # compile the kernel (cached on disk afterwards)
    fast, pred = timed(lambda: knn_predict(ptr, ytr, pte, 9))
    knn = KNeighborsClassifier(9, metric="hamming", algorithm="brute").fit(tr, ytr)
    ref_part, ref_pred = timed(lambda: knn.predict(te[:ref_rows]))
    reference = ref_part * n_test / ref_rows
    return {"knn_shape": [n_train, n_test, bits], "knn_seconds": fast, "knn_reference_seconds": reference,
            "knn_reference_timed_rows": ref_rows, "knn_speedup": reference / fast,
            "knn_agreement": float((pred[:ref_rows] == ref_pred).mean())}


def bench_distinct(n: int, bits: int) -> dict:
    codes, _ = structured_codes(n, bits, 3)
    codes[n // 2:] = codes[: n - n // 2]  # half the rows repeat: a real deduplication
    packed = np.packbits(codes, 1)
    int8 = codes.astype(np.int8)
    fast, r1 = timed(lambda: distinct_rows(packed), repeat=3)
    slow, r2 = timed(lambda: len(np.unique(int8, axis=0)))
    assert r1 == r2
    return {"distinct_shape": [n, bits], "distinct_seconds": fast, "distinct_reference_seconds": slow,
            "distinct_speedup": slow / fast}


def bench_kmeans(n: int, bits: int, device: str) -> dict:
    codes, _ = structured_codes(n, bits, 4)
    fast, (_, inertia) = timed(lambda: kmeans_exact(codes, 10, n_init=10, device=device))
    slow, (_, ref_inertia) = timed(lambda: ref.kmeans_reference(codes, 10, n_init=10))
    return {"kmeans_shape": [n, bits], "kmeans_seconds": fast, "kmeans_reference_seconds": slow,
            "kmeans_speedup": slow / fast, "kmeans_inertia_ratio": inertia / ref_inertia}


def bench_measure(data_root: str, widths: tuple[int, ...], repeat: int = 2) -> dict:
    """Whole evaluation of one cell checkpoint (redundancy, K-Means train and test, K-NN, logistic
    regression) on real MNIST codes: a pack of `widths` trained one epoch on all 48 000 examples, measured
    with `code_metrics` by the fast backend (best of `repeat`) and by the reference backend (scikit-learn
    K-Means, brute-force Hamming K-NN and one-vs-one lbfgs, once). `measure_speedup`: total reference time
    over total fast time; per width in `measure_by_width`."""
    import tempfile

    import h5py

    from acthash.data.sources import fetch
    from acthash.metrics.measure import code_metrics, recipe
    from acthash.run.pack import train_pack
    from acthash.store.cellfile import read_codes

    assert set(widths) <= set(WIDTHS), f"{widths} not all in the width grid {WIDTHS}"
    fetch("mnist", data_root)
    cells = [Cell(width=w, checkpoints=(1,)) for w in widths]
    by_width, agree = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = train_pack(cells, data_root, Path(tmp) / "pack.h5", device="cpu")
        with h5py.File(path) as f:
            for cell, g in zip(cells, f["members"].values()):
                c = read_codes(g, 1)
                args = (c.train, c.test, len(c.keep), c.keep, g["labels/train"][()], g["labels/test"][()])
                kw = {"n_classes": 10, **recipe(cell)}
                code_metrics(*args, **kw, backend="fast")  # compiles the K-NN kernel once
                fast, got = timed(lambda: code_metrics(*args, **kw, backend="fast"), repeat=repeat)
                slow, want = timed(lambda: code_metrics(*args, **kw, backend="reference"))
                by_width[cell.width] = {"fast_seconds": fast, "reference_seconds": slow, "ratio": slow / fast}
                agree[cell.width] = {k: got[k] - want[k] for k in ("redundancy_train", "knn_test", "logreg_test",
                                                                    "kmeans_purity_train", "kmeans_purity_test")}
    total_fast = sum(v["fast_seconds"] for v in by_width.values())
    total_ref = sum(v["reference_seconds"] for v in by_width.values())
    return {"measure_widths": list(widths), "measure_fast_seconds": total_fast,
            "measure_reference_seconds": total_ref, "measure_speedup": total_ref / total_fast,
            "measure_min_width_ratio": min(v["ratio"] for v in by_width.values()),
            "measure_by_width": by_width, "measure_fast_minus_reference": agree}


def bench_cnn_codes(device: str, rows: int) -> dict:
    """Throughput of CNN code extraction (no reference: the reference's dense int8 codes of 60 000 CIFAR-10
    images would take 16.7 GB): VGG-16 at the reference width on random 32×32×3 images, whole rows packed
    and hashed, 4 096 sampled units kept."""
    from acthash.nets.cnn import StackedCNN
    from acthash.nets.codes import extract, sample_units

    model = StackedCNN("vgg16", (3, 32, 32), 10, 64, [0], None, Cell().bn_eps, Cell().bn_momentum).to(device)
    x = torch.rand(rows, 3 * 32 * 32, device=device)
    units = [sample_units(model.code_lengths[0], 4096, 0)]
    extract(model, x[:8], [np.arange(8)], [np.zeros(8, dtype=np.int64)], units=units)  # warm-up
    seconds, codes = timed(lambda: extract(model, x, [np.arange(rows)], [np.zeros(rows, dtype=np.int64)], units=units))
    assert codes[0].hashes.shape == (rows, 16)
    return {"cnn_code_bits": model.code_lengths[0], "cnn_rows": rows, "cnn_extract_seconds": seconds,
            "cnn_rows_per_second": rows / seconds}


def _rounded(obj: object) -> object:
    """`obj` with its floats rounded to 4 digits, for printing."""
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return round(obj, 4) if isinstance(obj, float) else obj


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seeds", type=int, default=2, help="seeds of the 23-width grid in the training benchmark")
    p.add_argument("--steps", type=int, default=150, help="SGD steps per epoch in the training benchmark")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the training benchmark (median ratio)")
    p.add_argument("--knn-ref-rows", type=int, default=500)
    p.add_argument("--data-root", default=DATA_ROOT, help="where MNIST is (fetched if missing)")
    p.add_argument("--measure-widths", type=int, nargs="+", default=[3, 10, 20, 40, 60, 100],
                   help="widths of the real-code evaluation benchmark")
    p.add_argument("--out", default=Layout().bench())
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="run only these benchmarks and update their figures in --out (the others are kept)")
    args = p.parse_args()
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_model()
    out = {"device": args.device, "device_name": device_name, "cpus": torch.get_num_threads(),
           "torch": torch.__version__}
    benchmarks = (("training", lambda: bench_training(args.device, args.seeds, args.steps, args.rounds)),
                  ("trainer", lambda: bench_trainer(args.rounds) if args.device == "cpu" else {}),
                  ("stopped", lambda: bench_stopped(args.device, args.seeds, args.steps, args.rounds)),
                  ("optimizer", lambda: bench_optimizer(args.device, args.seeds, args.steps, args.rounds)),
                  ("keras", bench_keras),
                  ("measure", lambda: bench_measure(args.data_root, tuple(args.measure_widths))),
                  ("knn", lambda: bench_knn(48000, 10000, 1000, args.knn_ref_rows)),
                  ("distinct", lambda: bench_distinct(50000, 10000)),
                  ("kmeans", lambda: bench_kmeans(48000, 1000, args.device)),
                  ("cnn_codes", lambda: bench_cnn_codes(args.device, 256 if args.device == "cpu" else 10000)))
    path = Path(args.out)
    if args.only:
        unknown = set(args.only) - {name for name, _ in benchmarks}
        if unknown:
            p.error(f"--only: no benchmark {', '.join(sorted(unknown))} (known: {', '.join(n for n, _ in benchmarks)})")
        kept = json.loads(path.read_text()) if path.exists() else {}
        if kept and (kept.get("device"), kept.get("device_name")) != (out["device"], out["device_name"]):
            p.error(f"--only: {path} holds figures of {kept.get('device')}: {kept.get('device_name')}, not of this "
                    f"{out['device']}: {out['device_name']}; write to another --out")
        out = {**kept, **out}
    for name, fn in benchmarks:
        if args.only and name not in args.only:
            continue
        res = fn()
        out.update(res)
        print(name, json.dumps(_rounded(res)), flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
