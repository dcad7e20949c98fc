"""What machine a number came from: the CPU model, the device a pack trained on, the BLAS libraries, and what a
set of cells mixes of them."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (/proc/cpuinfo), or 'unknown'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def device_name(device: str) -> str:
    """The device a pack trains on, as cell files record it: 'cuda:0: <GPU name>' or 'cpu: <threads> threads,
    <CPU model>'."""
    import torch

    if device.startswith("cuda"):
        return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu: {torch.get_num_threads()} threads, {cpu_model()}"


def hardware(device: str) -> str:
    """The model of the device recorded by `device_name` (or 'cpu: tf-keras, <CPU model>'), without the thread
    count: what a merged dataset and `acthash status` compare between cells. Files written before the CPU model
    was recorded with Keras give 'tf-keras'."""
    kind, _, rest = device.partition(": ")
    if kind.startswith("cuda"):
        return rest or kind
    return rest.split(", ", 1)[-1] or kind


def blas_summary() -> str:
    """One line on the numeric libraries that shape float results: torch's BLAS and CPU kernels, numpy's BLAS."""
    import numpy as np  # noqa: F401 - loaded so that threadpoolctl sees its BLAS
    import threadpoolctl
    import torch

    config = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in config.replace(",", "\n").split() if part.startswith("BLAS_INFO=")),
                "unknown")
    numpy_blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})"
                  for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return (f"torch {torch.__version__} (BLAS {blas}, CPU kernels {torch.backends.cpu.get_cpu_capability()}), "
            f"numpy BLAS {', '.join(numpy_blas) or 'unknown'}, {os.cpu_count()} CPUs")


def mixture(origins: list[tuple[str, str, str]]) -> str | None:
    """What a set of cells mixes, from each cell's (hardware, acthash version of training, of measuring): e.g.
    'trained on 2 devices (AMD EPYC: 10 cells, Intel Xeon: 5 cells)'; None when all share one of each. Floats of
    training differ between CPU models, GPUs and versions, and metrics between versions, so such a view's cells
    are not all comparable to the bit."""
    parts = []
    for what, i in (("trained on", 0), ("made by acthash", 1), ("measured by acthash", 2)):
        counts = Counter(o[i] for o in origins)
        if len(counts) > 1:
            kinds = "devices" if i == 0 else "versions"
            listed = ", ".join(f"{v or 'unrecorded'}: {n} cells" for v, n in sorted(counts.items()))
            parts.append(f"{what} {len(counts)} {kinds} ({listed})")
    return "; ".join(parts) or None
