"""Every path of a results tree: the rules, the CLI, `run_cells`, the runner and status ask here (merge
reads the cell files it is given).

    <root>/cells/<param hash>.h5            one cell, addressed by the hash of all its parameters; shared by
                                            every view that lists it, never overwritten by other parameters
    <root>/cells/damaged/<hash>-<time>.h5   an unreadable, incomplete or foreign cell file, moved aside when
                                            its cell is recomputed (kept for inspection; delete at will)
    <root>/packs/<pack id>.h5, .state.pt,   a running pack job's codes, training state and cell files measured
                 .cells/                so far (each reused by a rerun after an interruption)
    <root>/packs/<pack id>.json             receipt of a finished pack job: the cell files it wrote
    <root>/packs/<hash>.remeasured.json     receipt of a job that added newer metrics to a cell file
    <root>/logs/packs/<pack id>.log         the pack job's log (it lists the hashes of its cells)
    <root>/benchmarks/packs/<pack id>.tsv   the pack job's time and memory (Snakemake's benchmark)
    <root>/benchmarks/bench.json            `make bench` figures of this machine; they calibrate `acthash estimate`
    <root>/<view>/plan.json                 a view: the experiment, its resolved parameters and its cells
    <root>/<view>/metrics.nc, figures/      the view's merged dataset and figures (replaced only when the
                                            new ones are complete)
    <root>/<view>/.staged/                  what the workflow tracks; published to the two above
    <root>/<view>/logs/                     merge and figure logs

Also the stamp `<data_root>/.acthash-<dataset>.json` that says a dataset is ready. Paths are built from
strings, so Snakemake wildcards (`"{view}"`) pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from acthash.params.fields import short_hash

RESULTS = "results"  # the default results tree, relative to the working directory
DATA_ROOT = "data"  # the default dataset folder (the shipped config's data_root)
RESERVED = ("cells", "packs", "logs", "benchmarks", "submitit")  # top-level folders that are not views
VIEW_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*")


def dataset_stamp(data_root: str, dataset: str) -> str:
    """The file whose presence says `dataset` is ready under `data_root` (written by `acthash fetch-data`)."""
    return str(Path(data_root, f".acthash-{dataset}.json"))


def pack_id(cell_hashes: Iterable[str]) -> str:
    """A pack's id: a short hash of its members' parameter hashes (order-independent)."""
    return short_hash(" ".join(sorted(cell_hashes)).encode())


def work_files(work: Path | str) -> tuple[Path, Path, Path]:
    """A pack job's working files from their stem `work`: its codes (`.h5`), training state (`.state.pt`) and
    the cell files measured so far (`.cells/`)."""
    work = Path(work)
    codes, state, staged = (work.with_name(work.name + suffix) for suffix in (".h5", ".state.pt", ".cells"))
    return codes, state, staged


def check_view_name(name: str) -> str:
    """Return `name` if it can name a view folder, else raise ValueError saying why."""
    if not VIEW_NAME.fullmatch(name) or name in RESERVED:
        raise ValueError(f"view={name!r}: a view name is letters, digits and _ . @ + - (not {', '.join(RESERVED)})")
    return name


@dataclass(frozen=True)
class Layout:
    """The results tree under `root`."""

    root: str = RESULTS

    def _p(self, *parts: str) -> str:
        return str(Path(self.root, *parts))

    # cells and packs, shared by all views
    def cell(self, param_hash: str) -> str:
        return self._p("cells", f"{param_hash}.h5")

    def damaged(self, param_hash: str, stamp: str) -> str:
        return self._p("cells", "damaged", f"{param_hash}-{stamp}.h5")

    def pack_work(self, pack: str) -> str:
        """Stem of a running pack job's working files (`run_pack`'s `work`)."""
        return self._p("packs", pack)

    def pack_codes(self, pack: str) -> str:
        """The pack's codes file: what its training job hands to its measuring job (`measure_on: cpu`)."""
        return str(work_files(self.pack_work(pack))[0])

    def pack_receipt(self, pack: str) -> str:
        return self._p("packs", f"{pack}.json")

    def remeasure_receipt(self, param_hash: str) -> str:
        """Receipt of the job that re-measured a cell file measured before some metric existed."""
        return self._p("packs", f"{param_hash}.remeasured.json")

    def pack_log(self, pack: str, stage: str = "") -> str:
        """The log of the pack's job, or of one stage ("train", "measure") when they run as two jobs."""
        return self._p("logs", "packs", f"{pack}{'.' + stage if stage else ''}.log")

    def pack_benchmark(self, pack: str) -> str:
        return self._p("benchmarks", "packs", f"{pack}.tsv")

    def work(self, key: str) -> str:
        """The work file of a run (`store.plan.write_work`): what its jobs read instead of the cell files."""
        return self._p("packs", f"work-{key}.json")

    def bench(self) -> str:
        return self._p("benchmarks", "bench.json")

    def pack_logs(self) -> list[Path]:
        return sorted(Path(self.root, "logs", "packs").glob("*.log"))

    # views
    def plan(self, view: str) -> str:
        return self._p(view, "plan.json")

    def plans(self) -> list[Path]:
        return sorted(p for p in Path(self.root).glob("*/plan.json") if p.parent.name not in RESERVED)

    def metrics(self, view: str) -> str:
        return self._p(view, "metrics.nc")

    def figures(self, view: str) -> str:
        return self._p(view, "figures")

    def staged_metrics(self, view: str) -> str:
        return self._p(view, ".staged", "metrics.nc")

    def staged_figures(self, view: str) -> str:
        return self._p(view, ".staged", "figures")

    def view_log(self, view: str, step: str) -> str:
        return self._p(view, "logs", f"{step}.log")
