"""Where a results tree stands: one row per planned cell — done, diverged, failed or missing — with log paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .plan import cell_path, read_plan
from .store import CellFileError, read_cell


def cell_state(path: Path, expected_hash: str, logs: list[Path]) -> tuple[str, str]:
    """(state, detail) of one cell file: done | diverged | failed | missing."""
    if path.exists():
        try:
            rec = read_cell(path, expected_hash)
        except CellFileError as err:
            return "failed", str(err)
        return ("done", "") if rec.status == "ok" else (rec.status, "metrics are NaN")
    if any(log.exists() and log.stat().st_size > 0 for log in logs):
        return "failed", "no cell file; see the logs"
    return "missing", ""


def status(results_dir: Path | str = "results") -> pd.DataFrame:
    """Table of every cell planned under `results_dir/<experiment>/plan.json`.

    Columns: experiment, cell, state, detail, path, train_log, measure_log.
    """
    rows = []
    for plan_path in sorted(Path(results_dir).glob("*/plan.json")):
        plan = read_plan(plan_path)
        logs = plan_path.parent / "logs"
        for cell in plan["cells"]:
            path = cell_path(plan_path, cell["name"])
            train_log = logs / "train" / f"{cell['pack']}.log"
            measure_log = logs / "measure" / f"{cell['name']}.log"
            state, detail = cell_state(path, cell["hash"], [train_log, measure_log])
            rows.append({"experiment": plan["experiment"], "cell": cell["name"], "state": state, "detail": detail,
                         "path": str(path), "train_log": str(train_log), "measure_log": str(measure_log)})
    return pd.DataFrame(rows, columns=["experiment", "cell", "state", "detail", "path", "train_log", "measure_log"])
