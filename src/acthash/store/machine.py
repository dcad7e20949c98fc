"""What machine a number came from, as stored: the CPU model, the hardware a recorded device names, and what a set
of cells mixes of them (no torch: `acthash.nets.device` names a torch device and its numeric libraries)."""

from __future__ import annotations

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


def hardware(device: str) -> str:
    """The model of the device recorded by `acthash.nets.device.device_name` (or 'cpu: tf-keras, <CPU model>'),
    without the thread count: what a merged dataset and `acthash status` compare between cells. Files written
    before the CPU model was recorded with Keras give 'tf-keras'."""
    kind, _, rest = device.partition(": ")
    if kind.startswith("cuda"):
        return rest or kind
    return rest.split(", ", 1)[-1] or kind


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
