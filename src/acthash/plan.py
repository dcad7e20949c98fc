"""Plans: a view's plan.json (written by the workflow's plan rule, read by merge and status) and the packs a
run needs — only cells whose file is not complete are trained, each once however many views list it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cell import Cell
from .config import View
from .grid import packs
from .layout import Layout, pack_id
from .registry import unmeasured
from .store import CellFileError, atomic_text, cell_file_problem, read_cell


@dataclass(frozen=True)
class Pack:
    """One pack job: its cells (sharing every parameter but the pack_over axes) and the view it came from."""

    id: str
    view: str
    cells: list[Cell]


def write_plan(plan: dict[str, Any], out: Path | str, log: Path | str | None = None) -> Path:
    """Write plan.json atomically (and, with `log`, a one-line summary there)."""
    out = atomic_text(out, json.dumps(plan, indent=1))
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text(f"view {plan['view']} of {plan['experiment']}: {len(plan['cells'])} cells\n")
    return out


def read_plan(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def plan_cells(plan: dict[str, Any]) -> list[Cell]:
    """The cells of a plan, rebuilt from their parameters and checked against their recorded hashes."""
    cells = [Cell.from_params(c["params"]) for c in plan["cells"]]
    for cell, entry in zip(cells, plan["cells"]):
        if cell.param_hash != entry["hash"]:
            raise ValueError(f"plan of view {plan['view']}: cell {entry['name']} hashes to {cell.param_hash}, "
                             f"recorded {entry['hash']}; rerun the workflow to rewrite the plan")
    return cells


def packs_to_run(views: list[View], layout: Layout) -> tuple[list[Pack], dict[str, str]]:
    """The packs that compute every cell of `views` whose file is not complete, and the problems of the cell
    files that exist but cannot be used (hash → 'truncated ...'), which those packs recompute.

    A pack's id hashes its members and the state of their files (missing, or the size and time of a damaged
    one), so the receipt of an earlier job never passes for the job that repairs a file damaged since.
    """
    claimed: set[str] = set()
    damaged: dict[str, str] = {}
    out = []
    for view in views:
        todo, token = [], {}
        for cell in view.cells:
            h = cell.param_hash
            if h in claimed:
                continue
            problem = cell_file_problem(layout.cell(h), h)
            if problem is None:
                continue
            if problem != "missing":
                damaged[h] = problem
                stat = Path(layout.cell(h)).stat()
                token[h] = f"{stat.st_size}-{stat.st_mtime_ns}"
            claimed.add(h)
            todo.append(cell)
        for members in packs(todo, view.pack_over, view.pack_size):
            pid = pack_id(f"{c.param_hash}:{token.get(c.param_hash, 'missing')}" for c in members)
            out.append(Pack(pid, view.name, members))
    return out, damaged


def cells_to_remeasure(views: list[View], layout: Layout, claimed: set[str]) -> list[Cell]:
    """Cells of `views` whose file is complete but was measured before some registered metric existed (not
    in `claimed`, the cells packs compute): re-measuring the stored codes adds those metrics."""
    out, seen = [], set(claimed)
    for view in views:
        for cell in view.cells:
            h = cell.param_hash
            if h in seen:
                continue
            seen.add(h)
            try:
                rec = read_cell(layout.cell(h), h)
            except CellFileError:
                continue
            if unmeasured(rec.metrics, rec.status, rec.noisy):
                out.append(cell)
    return out
