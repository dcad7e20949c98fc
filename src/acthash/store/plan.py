"""Plans: a view's plan.json (written by the workflow's plan rule, `acthash plan`; read by merge and status) and
the packs a run needs — only cells whose file is not complete are trained, each once however many views list it.
The run's work is decided once, by the main Snakemake process, and written to a work file that each job's own
parse reads instead of surveying the cell files again (`write_work`, `read_work`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acthash.params.cell import Cell
from acthash.params.config import View
from acthash.params.fields import short_hash
from acthash.params.grid import packs
from acthash.params.layout import Layout, pack_id
from acthash.store.atomic import atomic_text
from acthash.store.cellstate import CellState, survey


@dataclass(frozen=True)
class Pack:
    """One pack job: its cells (sharing every parameter but the pack_over axes) and the view it came from."""

    id: str
    view: str
    cells: list[Cell]


def write_plan(plan: dict[str, Any], out: Path | str) -> Path:
    """Write plan.json atomically."""
    return atomic_text(out, json.dumps(plan, indent=1))


def read_plan(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def plan_mismatch(path: Path | str, plan: dict[str, Any]) -> str | None:
    """Why the plan.json at `path` is not `plan` (the config's), or None when it is or does not exist: a file cut
    short or edited by hand is never trusted over the config (the workflow writes it again)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        found = read_plan(path)
    except (OSError, ValueError) as err:
        return f"unreadable ({err})"
    return None if found == json.loads(json.dumps(plan)) else "differs from the config's plan"


def plan_cells(plan: dict[str, Any]) -> list[Cell]:
    """The cells of a plan, rebuilt from their parameters and checked against their recorded hashes."""
    cells = [Cell.from_params(c["params"]) for c in plan["cells"]]
    for cell, entry in zip(cells, plan["cells"]):
        if cell.param_hash != entry["hash"]:
            raise ValueError(f"plan of view {plan['view']}: cell {entry['name']} hashes to {cell.param_hash}, "
                             f"recorded {entry['hash']}; rerun the workflow to rewrite the plan")
    return cells


@dataclass(frozen=True)
class Work:
    """What a run of some views must do, from one survey of their cell files (`cellstate.survey`): the `packs`
    that compute every cell with no usable file (each cell once however many views list it), the cells to
    `remeasure` (complete, measured before a registered metric existed), each view's plan (what its plan.json
    holds) and every cell's state."""

    packs: list[Pack]
    remeasure: list[Cell]
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, CellState] = field(default_factory=dict)  # empty when read back from a work file

    @property
    def damaged(self) -> dict[str, str]:
        """Hash → problem of each cell file that exists but cannot be used; its pack recomputes it."""
        return {h: s.detail for h, s in self.states.items() if s.state == "damaged"}


def plan_work(views: list[View], layout: Layout) -> Work:
    """The packs and re-measurements a run of `views` needs. A pack's id hashes its members and the state of
    their files (`CellState.token`), so the receipt of an earlier job never passes for the job that repairs a
    file damaged since."""
    states = survey((cell.param_hash for view in views for cell in view.cells), layout)
    claimed: set[str] = set()
    packs_out, remeasure = [], []
    for view in views:
        todo = []
        for cell in view.cells:
            h = cell.param_hash
            if h in claimed:
                continue
            claimed.add(h)
            if states[h].to_compute:
                todo.append(cell)
            elif states[h].to_remeasure:
                remeasure.append(cell)
        for members in packs(todo, view.pack_over, view.pack_size):
            pid = pack_id(f"{c.param_hash}:{states[c.param_hash].token}" for c in members)
            packs_out.append(Pack(pid, view.name, members))
    return Work(packs_out, remeasure, {view.name: view.plan() for view in views}, states)


def work_key(views: list[View]) -> str:
    """A digest of the views' plans: the name of their work file, the same in the main process and in each job."""
    return short_hash(json.dumps([view.plan() for view in views], sort_keys=True).encode())


def write_work(work: Work, path: Path | str) -> Path:
    """The packs and re-measurements of a run, as its jobs read them (`read_work`), written atomically. Packs and
    re-measurements already in the file are kept: a job still queued from an earlier run of the same views (a
    dry run or a report parses them again meanwhile) finds its pack there."""
    doc = {"packs": [{"id": p.id, "view": p.view, "cells": [c.params() for c in p.cells]} for p in work.packs],
           "remeasure": [c.params() for c in work.remeasure], "plans": work.plans}
    try:
        before = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        before = {"packs": [], "remeasure": [], "plans": {}}
    ids = {p["id"] for p in doc["packs"]}
    doc["packs"] += [p for p in before["packs"] if p["id"] not in ids]
    doc["remeasure"] += [c for c in before["remeasure"] if c not in doc["remeasure"]]
    doc["plans"] = {**before.get("plans", {}), **work.plans}
    return atomic_text(path, json.dumps(doc))


def read_work(path: Path | str) -> Work:
    """The work the main process wrote (`write_work`); the cells' states are not in it."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: the run's work file cannot be read ({err}); the main Snakemake process writes "
                         "it when it starts: start the run again") from err
    return Work([Pack(p["id"], p["view"], [Cell.from_params(c) for c in p["cells"]]) for p in doc["packs"]],
                [Cell.from_params(c) for c in doc["remeasure"]], doc.get("plans", {}))
