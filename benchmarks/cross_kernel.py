"""How far two trainings of the same cells drift apart when only the floating-point kernels differ, against the
seed-to-seed spread, per checkpoint epoch (docs/determinism.md, "Training across CPUs").

The two arms are the same view run twice into separate results trees: once as is, once under another BLAS
kernel path (e.g. `MKL_CBWR=COMPATIBLE`, the stand-in for another CPU model on one machine), or trained on
another machine. Prints a markdown table: for each metric and epoch, the largest and the mean |difference|
between the arms over the cells, the cells that differ, and the mean standard deviation over seeds (within an
arm) for scale.

    .venv/bin/python benchmarks/cross_kernel.py A/metrics.nc B/metrics.nc
"""

from __future__ import annotations

import argparse

import numpy as np

from acthash.analysis.merge import load

METRICS = ("redundancy_test", "knn_test", "logreg_test", "kmeans_purity_test", "net_acc_test")


def table(a_path: str, b_path: str) -> str:
    a, b = load(a_path), load(b_path)
    lines = [f"arms: {a.attrs['trained_on']} ({a_path}) and {b.attrs['trained_on']} ({b_path})", "",
             "| metric | epoch | max abs. difference | mean abs. difference | cells that differ | seed sd (mean) |",
             "|---|---|---|---|---|---|"]
    for metric in METRICS:
        for epoch in a["epoch"].values:
            x, y = a[metric].sel(epoch=epoch), b[metric].sel(epoch=epoch)
            diff = np.abs(x.values - y.values)
            sd = float(x.std("seed", ddof=1).mean())
            lines.append(f"| {metric} | {int(epoch)} | {diff.max():.4f} | {diff.mean():.4f} | "
                         f"{int((diff > 0).sum())} of {diff.size} | {sd:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args()
    print(table(args.a, args.b))


if __name__ == "__main__":
    main()
