"""What a grid will cost before it is submitted: jobs, machine hours, disk and the largest job.

The cost model is calibrated by `make bench` on one machine (its `bench.json`; this project ships the one
of its 2-core CPU machine as `calibration.json`):
- training: seconds of one SGD step of a pack, a fixed part plus a part per hidden unit of an MNIST-sized input
  (the wide matrix products), times the steps of every epoch up to the last checkpoint. Both parts come from
  the `training` benchmark, which times the width grid as one pack and as packs of one: the pack's step is
  fixed part + part per unit × all units, the packs of one pay the fixed part once per model. Early stopping is
  ignored (a pack that stops early costs less); a busy machine or another trainer costs more.
- measuring: seconds of one checkpoint's whole evaluation at the benchmark's code lengths (the `measure`
  benchmark, 48 000 training and 10 000 test codes), interpolated in code length and scaled by examples.
- Keras packs (`framework: keras`): TensorFlow's first graph once per pack, then one network after another,
  each a fixed part (building the model, tracing its graphs, a readout) and seconds per step, from the `keras`
  benchmark: a step's time is interpolated linearly in hidden units between its widths 40 and 100 (later
  readouts are left out).
  Absent when `make bench` ran without the `keras` extra: such packs are then counted as jobs, not in hours.
- disk: packed codes (one bit per unit) of the training and test rows of every checkpoint (and of as many
  random inputs with random_inputs), held by the cell file and once more by the pack's working file.
CNN packs have no calibration: they are counted as jobs, not in hours.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acthash.params.cell import Cell
from acthash.params.config import MEASURE_ON
from acthash.params.datasets import DATASETS, split_size
from acthash.store.plan import Pack

SHIPPED = Path(__file__).with_name("calibration.json")
# codes per checkpoint measured by the benchmark
BENCH_EXAMPLES = split_size("mnist", Cell().train_fraction) + DATASETS["mnist"].test_size
BENCH_INPUT = DATASETS["mnist"].input_size  # the benchmarks train and measure on MNIST


@dataclass(frozen=True)
class Calibration:
    """Figures of one `make bench` run."""

    machine: str
    unit_step_seconds: float  # one SGD step of one hidden unit on a 784-value input
    measure_lengths: np.ndarray  # code lengths of the measure benchmark
    measure_seconds: np.ndarray  # fast evaluation of one checkpoint at those lengths
    pack_step_seconds: float = 0.0  # one SGD step of a pack, whatever its units (the per-step work of any pack)
    keras_step_seconds: float | None = None  # one Keras training step of one width-40 network (batch 64)
    keras_step_seconds_width100: float | None = None  # the same at width 100
    keras_network_seconds: float | None = None  # building, tracing and one readout of one Keras network
    keras_first_graph_seconds: float | None = None  # TensorFlow's first graph in a pack's process

    @classmethod
    def load(cls, path: Path | str = SHIPPED) -> Calibration:
        bench = json.loads(Path(path).read_text())
        try:
            steps, models, units = (bench[k] for k in ("train_steps_per_epoch", "train_models", "train_units"))
            pack, singles = bench["stacked_seconds"] / steps, bench["one_by_one_pack_of_one_seconds"] / steps
            by_width = sorted((int(w), v["fast_seconds"]) for w, v in bench["measure_by_width"].items())
        except KeyError as err:
            raise ValueError(f"{path}: not a `make bench` result with the training and measure benchmarks "
                             f"(lacks {err})") from err
        if min(steps, models, units) <= 0:
            raise ValueError(f"{path}: the training benchmark counts no steps, models or units")
        # pack = fixed + per_unit * units; singles = models * fixed + per_unit * units (each model its own pack)
        fixed = min(max((singles - pack) / (models - 1), 0.0), pack) if models > 1 else 0.0
        lengths, seconds = map(np.array, zip(*by_width))
        return cls(f"{bench['device']}: {bench['device_name']}, {bench['cpus']} threads",
                   (pack - fixed) / units, lengths, seconds, fixed,
                   *(bench.get(k) for k in ("keras_step_seconds", "keras_step_seconds_width100",
                                            "keras_network_seconds", "keras_first_graph_seconds")))

    @property
    def has_keras(self) -> bool:
        """Whether the calibration has every figure of the `keras` benchmark."""
        return None not in (self.keras_step_seconds, self.keras_step_seconds_width100, self.keras_network_seconds,
                            self.keras_first_graph_seconds)

    def keras_step(self, units: int) -> float:
        """Seconds of one Keras step of a network with `units` hidden units: linear through widths 40 and 100."""
        slope = (self.keras_step_seconds_width100 - self.keras_step_seconds) / 60
        return max(self.keras_step_seconds + slope * (units - 40), 0.0)

    def measure(self, length: int, examples: int) -> float:
        """Seconds of one checkpoint's evaluation: interpolated in code length (linear beyond the last)."""
        x, y = self.measure_lengths, self.measure_seconds
        slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        at = np.interp(length, x, y) if length <= x[-1] else y[-1] + (length - x[-1]) * slope
        return float(at) * examples / BENCH_EXAMPLES


@dataclass
class PackCost:
    """The cost of one pack job on the calibration machine (None: no calibration for its architecture or
    framework)."""

    pack: Pack
    train_seconds: float | None
    measure_seconds: float | None
    disk_bytes: int

    @property
    def seconds(self) -> float | None:
        return None if self.train_seconds is None else self.train_seconds + self.measure_seconds


def _steps(cell: Cell) -> int:
    """SGD steps of the whole run (every epoch up to the last checkpoint)."""
    n = cell.n_train
    per_epoch = n * (split_size(cell.dataset, cell.train_fraction) // n) if cell.tile else n
    return math.ceil(per_epoch / cell.batch_size) * max(cell.checkpoints)


def pack_cost(pack: Pack, calibration: Calibration) -> PackCost:
    """Training and measuring seconds and disk bytes of one pack."""
    cells = pack.cells
    rows = [c.n_train + DATASETS[c.dataset].test_size for c in cells]
    lengths = [c.width * c.depth for c in cells]
    sets = [2 if c.random_inputs != "none" else 1 for c in cells]  # the codes of random inputs too
    disk = 2 * sum(len(c.checkpoints) * r * s * math.ceil(n_bits / 8)
                   for c, r, s, n_bits in zip(cells, rows, sets, lengths))
    if cells[0].arch != "mlp":
        return PackCost(pack, None, None, 0)
    measure = sum(len(c.checkpoints) * calibration.measure(n_bits, r) for c, r, n_bits in zip(cells, rows, lengths))
    if cells[0].framework == "keras":
        if not calibration.has_keras:
            return PackCost(pack, None, None, disk)
        per_network = [calibration.keras_network_seconds + calibration.keras_step(n_bits) * _steps(c)
                       for c, n_bits in zip(cells, lengths)]
        return PackCost(pack, calibration.keras_first_graph_seconds + sum(per_network), measure, disk)
    units = sum(c.width * DATASETS[c.dataset].input_size / BENCH_INPUT + (c.depth - 1) * c.width ** 2 / BENCH_INPUT
                for c in cells)
    train = (calibration.pack_step_seconds + calibration.unit_step_seconds * units) * _steps(cells[0])
    return PackCost(pack, train, measure, disk)


def job_resources(pack: Pack, calibration: Calibration, stage: str = "all", safety: float = 2.0) -> dict[str, int]:
    """SLURM resources of a pack's job (`stage`: "all" trains and measures, "train" or "measure" one part):
    runtime in minutes, `safety` times the estimate and at least 30 (240 for uncalibrated packs), and
    memory in MB: 4 GB plus the dataset as float32 and three copies of the pack's codes."""
    cost = pack_cost(pack, calibration)
    parts = {"all": (cost.train_seconds, cost.measure_seconds), "train": (cost.train_seconds, 0.0),
             "measure": (0.0, cost.measure_seconds)}[stage]
    minutes = 240 if cost.seconds is None else max(30, math.ceil(safety * sum(parts) / 60))
    dataset = pack.cells[0].dataset
    data_mb = 4 * DATASETS[dataset].input_size * (split_size(dataset, 1.0) + DATASETS[dataset].test_size) / 1e6
    return {"runtime": minutes, "mem_mb": math.ceil(4000 + data_mb + 3 * cost.disk_bytes / 2 / 1e6)}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 360 else f"{seconds / 60:.1f} min"


def _bytes(n: float) -> str:
    exponent = min(int(math.log10(max(n, 1)) // 3), 4)
    return f"{n / 1000 ** exponent:.1f} {('B', 'kB', 'MB', 'GB', 'TB')[exponent]}"


def report(views: list[str], costs: list[PackCost], calibration: Calibration, source: Path | str,
           measure_on: str = MEASURE_ON[0]) -> str:
    """The estimate as text: jobs, hours on the calibration machine, disk, the largest job."""
    known = [c for c in costs if c.seconds is not None]
    cluster = (f"{len(costs)} on the cluster (pack jobs: train, then measure)" if measure_on == MEASURE_ON[0] else
               f"{2 * len(costs)} on the cluster ({len(costs)} pack training jobs, {len(costs)} measuring jobs)")
    lines = [f"views: {', '.join(views)}",
             f"cells to compute: {sum(len(c.pack.cells) for c in costs)}",
             f"jobs: {cluster}, {3 * len(views) + 1} on this host (plan, merge and figures per view, the final "
             "target)"]
    if known:
        train, measure = sum(c.train_seconds for c in known), sum(c.measure_seconds for c in known)
        big = max(known, key=lambda c: c.seconds)
        cells = big.pack.cells
        lines += [f"machine hours on the calibration machine: {_hours(train + measure)} "
                  f"(training {_hours(train)}, measuring {_hours(measure)})",
                  f"largest job: pack {big.pack.id} of {big.pack.view}, {len(cells)} cells, widths "
                  f"{min(c.width for c in cells)}-{max(c.width for c in cells)}, {max(cells[0].checkpoints)} "
                  f"epochs: {_hours(big.seconds)}"]
    cnn = sum(c.seconds is None and c.pack.cells[0].arch != "mlp" for c in costs)
    if cnn:
        lines.append(f"{cnn} CNN pack jobs are not in the hours (no calibration for CNNs)")
    if len(known) + cnn < len(costs):
        lines.append(f"{len(costs) - len(known) - cnn} Keras pack jobs are not in the hours (the calibration has no "
                     "`keras` benchmark: run `make bench` with the keras extra installed)")
    lines += [f"disk: {_bytes(sum(c.disk_bytes for c in costs))} of packed codes (cell files and pack working "
              "files; CNN codes not counted)",
              f"calibration: {calibration.machine} ({source})"]
    return "\n".join(lines)
