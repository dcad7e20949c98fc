"""Where a results tree stands: every planned cell of every view — done, diverged, damaged, failed (no file,
but a pack job worked on it; or one is running) or missing — with the log of the last pack job that did."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .layout import Layout
from .plan import read_plan
from .runner import CELL_LINE
from .store import CellFileError, read_cell

COLUMNS = ["view", "experiment", "cell", "hash", "state", "detail", "path", "log"]


def cell_state(path: Path, expected_hash: str) -> tuple[str, str]:
    """(state, detail) of one cell file: done | diverged | damaged | missing (`status` tells failed from missing)."""
    if not path.exists():
        return "missing", ""
    try:
        rec = read_cell(path, expected_hash)
    except CellFileError as err:
        return "damaged", str(err)
    return ("done", "") if rec.status == "ok" else (rec.status, "metrics are NaN")


def _logs_by_cell(layout: Layout) -> dict[str, str]:
    """The newest pack log naming each cell hash (pack jobs list their cells' hashes at start)."""
    out: dict[str, tuple[float, str]] = {}
    for log in layout.pack_logs():
        mtime = log.stat().st_mtime
        for h in set(CELL_LINE.findall(log.read_text(errors="replace"))):
            if h not in out or out[h][0] < mtime:
                out[h] = (mtime, str(log))
    return {h: path for h, (_, path) in out.items()}


def status(results_dir: Path | str = "results") -> pd.DataFrame:
    """Table of every cell planned under `results_dir/<view>/plan.json`, one row per (view, cell).

    Columns: view, experiment, cell (its grid-axis name), hash, state, detail, path, log.
    """
    layout = Layout(str(results_dir))
    logs = _logs_by_cell(layout)
    rows = []
    for plan_path in layout.plans():
        plan = read_plan(plan_path)
        for cell in plan["cells"]:
            path = Path(layout.cell(cell["hash"]))
            state, detail = cell_state(path, cell["hash"])
            if state == "missing" and cell["hash"] in logs:
                state, detail = "failed", "no cell file; see the log"
            rows.append({"view": plan["view"], "experiment": plan["experiment"], "cell": cell["name"],
                         "hash": cell["hash"], "state": state, "detail": detail, "path": str(path),
                         "log": logs.get(cell["hash"], "")})
    return pd.DataFrame(rows, columns=COLUMNS)
