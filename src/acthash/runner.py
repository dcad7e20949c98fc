"""Run cells from Python without Snakemake — in-process, as local processes, or as SLURM job arrays (submitit).

Writes exactly the files the workflow writes (`<results_dir>/packs/<pack>.h5`, `<results_dir>/cells/<cell>.h5`).
Each array task trains one pack and measures its cells; it is requeue-safe: a preempted or timed-out task is
resubmitted by submitit, skips the cells already complete and resumes training from the state saved at its
last checkpoint epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import submitit

from .cell import Cell
from .grid import packs
from .store import CellFileError, open_checked


def cell_file(results_dir: Path | str, cell: Cell) -> Path:
    """Where the workflow and `run_cells` keep `cell`'s file."""
    return Path(results_dir) / "cells" / f"{cell.name}.h5"


def is_complete(path: Path, cell: Cell) -> bool:
    """True if `path` is a complete cell file made with `cell`'s parameters."""
    try:
        open_checked(path, cell.param_hash).close()
        return True
    except CellFileError:
        return False


class PackTask(submitit.helpers.Checkpointable):
    """One array task: train the unfinished cells of a pack, then measure each into its cell file."""

    def __call__(self, cells: list[Cell], pack_id: str, results_dir: str, data_root: str,
                 device: str = "auto", backend: str = "fast") -> list[str]:
        from .pack import measure_member, train_pack

        todo = [c for c in cells if not is_complete(cell_file(results_dir, c), c)]
        if todo:
            pack_path = Path(results_dir) / "packs" / f"{pack_id}.h5"
            state = pack_path.with_name(pack_path.name.replace(".h5", ".state.pt"))
            train_pack(todo, data_root, pack_path, device, state_path=state)
            for cell in todo:
                measure_member(pack_path, cell, cell_file(results_dir, cell), backend)
        return [str(cell_file(results_dir, c)) for c in cells]


def run_cells(cells: Sequence[Cell], results_dir: Path | str, data_root: Path | str = "data",
              executor: str = "debug", pack_over: Sequence[str] = ("width", "seed"), pack_size: int = 64,
              device: str = "auto", folder: Path | str | None = None, wait: bool = True,
              **parameters: Any) -> list[Path] | list[submitit.Job]:
    """Train and measure `cells`, grouped into packs as the workflow does, with a submitit executor.

    `executor`: "debug" (in this process), "local" (subprocesses) or "slurm" (one job array, one task per
    pack). `parameters` go to `executor.update_parameters` (e.g. `slurm_partition="gpu"`, `gpus_per_node=1`,
    `timeout_min=240`, `slurm_array_parallelism=20`). Returns the cell files, or the jobs if `wait` is False.
    """
    by_pack = packs(list(cells), pack_over, pack_size)
    exe = submitit.AutoExecutor(folder=str(folder or Path(results_dir) / "submitit"), cluster=executor)
    if parameters:
        exe.update_parameters(**parameters)
    ids = list(by_pack)
    n = len(ids)
    jobs = exe.map_array(PackTask(), [by_pack[i] for i in ids], ids, [str(results_dir)] * n,
                         [str(data_root)] * n, [device] * n)
    if not wait:
        return jobs
    return [Path(p) for job in jobs for p in job.result()]
