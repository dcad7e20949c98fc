"""The one way cells are computed: `run_pack` trains a pack's unfinished cells as one stacked model and
measures each into its cell file. The workflow's pack jobs (`acthash run-pack`), `acthash cell`, `run_cells`
(in-process, local processes or SLURM job arrays through submitit) and the benchmarks all call it.

A pack is requeue-safe: a preempted, cancelled or timed-out job skips the cells already complete and resumes
training from the state saved at its last checkpoint epoch. A cell file that exists but is incomplete,
unreadable or made with other parameters is moved aside (`Layout.damaged`) and recomputed.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import submitit

from acthash.params.cell import Cell
from acthash.params.config import STATE_EVERY_MIN
from acthash.params.fields import HASH_CHARS
from acthash.params.grid import PACK_OVER, PACK_SIZE, packs
from acthash.params.layout import DATA_ROOT, Layout, pack_id, work_files
from acthash.run.locks import cell_locks
from acthash.store.atomic import atomic_text, temp_glob
from acthash.store.cellfile import CellFileError, open_checked, read_codes, read_epochs
from acthash.store.cellstate import cell_state

# how a pack job's log names its cells (for status)
CELL_LINE = re.compile(rf"^cell ([0-9a-f]{{{HASH_CHARS}}}) ", re.M)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _holds(codes: Path, cells: Sequence[Cell]) -> bool:
    """True if `codes` is a complete pack file with a member for each of `cells` (same parameters) whose stored
    codes are intact (their seals hold); otherwise it is trained again."""
    from acthash.run.pack import find_member

    try:
        with open_checked(codes) as pack:
            for cell in cells:
                g = find_member(pack, cell, codes)
                for epoch in read_epochs(g):
                    read_codes(g, epoch)
        return True
    except CellFileError as err:  # a broken seal, a lost checkpoint group, a damaged chunk
        if codes.exists():
            _say(f"{err}: training the pack again")
        return False


def run_pack(cells: Sequence[Cell], outs: Sequence[Path | str], data_root: Path | str, work: Path | str,
             device: str = "auto", backend: str = "fast", metric_device: str = "cpu",
             damaged: Layout | None = None, train_only: bool = False,
             state_every_min: float = STATE_EVERY_MIN, progress: Callable | None = None) -> list[Path]:
    """Make `outs[i]` the complete cell file of `cells[i]`, training only the cells that lack one.

    `work`: path stem of the job's working files: `<work>.h5` (the pack's codes), `<work>.state.pt` (training
    state, resumed from) and `<work>.cells/` (cell files measured so far). A rerun after an interruption
    reuses each of them (`layout.work_files`). Cell files appear in `outs` only once all are measured, each by
    one rename; a damaged file there is then moved to `damaged.damaged(...)` (or beside itself with a
    `.damaged-<time>` suffix when no layout is given) and replaced. With `train_only`, stop once the codes
    file is complete (a later call measures); returns [] then. The training state is saved at every
    checkpoint epoch and at least every `state_every_min` minutes of training. The cells' locks
    (`run.locks`) are held throughout: a second job for any of them waits, then finds what the first wrote.
    `progress`: called after each epoch trained (`Trainer.progress`).
    """
    outs = [Path(o) for o in outs]
    with cell_locks(outs, _say):  # another job computing one of these cells: wait for it, then look again
        return _run_pack_locked(cells, outs, data_root, work, device, backend, metric_device, damaged, train_only,
                                state_every_min, progress)


def _run_pack_locked(cells: Sequence[Cell], outs: list[Path], data_root: Path | str, work: Path | str, device: str,
                     backend: str, metric_device: str, damaged: Layout | None, train_only: bool,
                     state_every_min: float, progress: Callable | None) -> list[Path]:
    from acthash.run.pack import measure_member, train_pack

    codes, state_path, staged = work_files(work)
    _clear_leftovers(outs, codes, state_path, staged)
    todo = []
    for cell, out in zip(cells, outs):
        state = cell_state(out, cell.param_hash)
        said = "to compute" if state.state == "missing" else f"to recompute ({state.detail})" if state.to_compute \
            else "complete, kept"
        _say(f"cell {cell.param_hash} {cell.name}: {said}")
        if state.to_compute:
            todo.append((cell, out, state.detail))
    if not todo:
        return outs
    if _holds(codes, [c for c, _, _ in todo]):
        _say(f"codes of every cell already in {codes}; measuring")
    else:
        train_pack([c for c, _, _ in todo], data_root, codes, device, state_path=state_path,
                   state_every_min=state_every_min, progress=progress)
    if train_only:
        return []
    for cell, out, _ in todo:
        if not cell_state(staged / out.name, cell.param_hash).to_compute:
            continue
        measure_member(codes, cell, staged / out.name, backend, metric_device)
        _say(f"cell {cell.param_hash}: measured")
    for cell, out, problem in todo:
        if problem and out.exists():
            stamp = time.strftime("%Y%m%dT%H%M%S")
            aside = Path(damaged.damaged(cell.param_hash, stamp) if damaged else f"{out}.damaged-{stamp}")
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(out, aside)
            _say(f"cell file {out}: {problem}; moved to {aside}")
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged / out.name, out)
        _say(f"cell {cell.param_hash}: written to {out}")
    codes.unlink()
    staged.rmdir()
    return outs


def _clear_leftovers(outs: Sequence[Path], codes: Path, state: Path, staged: Path) -> None:
    """Remove the temporary files that writers of these cells and this pack left when they were killed (their
    locks are ours now, so no live process is writing them)."""
    patterns = [(p.parent, temp_glob(p)) for p in (*outs, codes, state)] + [(staged, temp_glob(Path("*")))]
    patterns.append((state.parent, f"{state.name}.tmp*"))  # a state's temporary name before commit 663aca6
    for folder, pattern in patterns:
        for leftover in folder.glob(pattern) if folder.is_dir() else ():
            leftover.unlink()
            _say(f"removed {leftover}, left by a killed writer")


def run_layout_pack(cells: Sequence[Cell], layout: Layout, data_root: Path | str, device: str = "auto",
                    backend: str = "fast", pid: str | None = None, train_only: bool = False,
                    state_every_min: float = STATE_EVERY_MIN, progress: Callable | None = None) -> list[Path]:
    """`run_pack` with the paths of `layout` for pack `pid` (default: the hash of the cells' hashes), metrics
    on the training device; writes the pack's receipt (the cell files) when done, or with `train_only` stops
    at the codes file `layout.pack_codes(pid)`."""
    from acthash.run.pack import pick_device

    pid = pid or pack_id(c.param_hash for c in cells)
    device = pick_device(device)
    outs = run_pack(cells, [layout.cell(c.param_hash) for c in cells], data_root, layout.pack_work(pid), device,
                    backend, device, damaged=layout, train_only=train_only, state_every_min=state_every_min,
                    progress=progress)
    if train_only:
        return outs
    atomic_text(layout.pack_receipt(pid), json.dumps({"pack": pid, "cells": [str(p) for p in outs]}, indent=1))
    return outs


class PackTask(submitit.helpers.Checkpointable):
    """One array task of `run_cells`: one pack."""

    def __call__(self, cells: list[Cell], results_dir: str, data_root: str, device: str = "auto",
                 backend: str = "fast") -> list[str]:
        return [str(p) for p in run_layout_pack(cells, Layout(results_dir), data_root, device, backend)]


def run_cells(cells: Sequence[Cell], results_dir: Path | str, data_root: Path | str = DATA_ROOT,
              executor: str = "debug", pack_over: Sequence[str] = PACK_OVER, pack_size: int = PACK_SIZE,
              device: str = "auto", folder: Path | str | None = None, wait: bool = True,
              **parameters: Any) -> list[Path] | list[submitit.Job]:
    """Train and measure `cells` into the results tree at `results_dir` (the workflow's layout), grouped into
    packs as the workflow does, with a submitit executor.

    `executor`: "debug" (in this process), "local" (subprocesses) or "slurm" (one job array, one task per
    pack). `parameters` go to `executor.update_parameters` (e.g. `slurm_partition="gpu"`, `gpus_per_node=1`,
    `timeout_min=240`, `slurm_array_parallelism=20`). Returns the cell files, or the jobs if `wait` is False.
    """
    by_pack = packs(list(cells), pack_over, pack_size)
    exe = submitit.AutoExecutor(folder=str(folder or Path(results_dir) / "submitit"), cluster=executor)
    if parameters:
        exe.update_parameters(**parameters)
    n = len(by_pack)
    jobs = exe.map_array(PackTask(), by_pack, [str(results_dir)] * n, [str(data_root)] * n, [device] * n)
    if not wait:
        return jobs
    return [Path(p) for job in jobs for p in job.result()]
