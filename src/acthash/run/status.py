"""Where a results tree stands: every planned cell of every view — done, diverged, unmeasured, damaged, failed
(no file, but a pack job worked on it; or one is running) or missing — with the log of the last pack job that
did; and every view's merged dataset — current, stale (a cell file changed since it was merged) or not merged —
with what its cells mix: devices, or acthash versions of training or measuring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acthash.params.layout import RESULTS, Layout
from acthash.run.runner import CELL_LINE
from acthash.store.cellstate import CellState, survey
from acthash.store.machine import mixture
from acthash.store.plan import read_plan

COLUMNS = ["view", "experiment", "cell", "hash", "state", "detail", "path", "log"]
VIEW_COLUMNS = ["view", "experiment", "cells", "merged", "changed", "state", "mixes"]


def _logs_by_cell(layout: Layout) -> dict[str, str]:
    """The newest pack log naming each cell hash (pack jobs list their cells' hashes at start)."""
    out: dict[str, tuple[float, str]] = {}
    for log in layout.pack_logs():
        mtime = log.stat().st_mtime
        for h in set(CELL_LINE.findall(log.read_text(errors="replace"))):
            if h not in out or out[h][0] < mtime:
                out[h] = (mtime, str(log))
    return {h: path for h, (_, path) in out.items()}


def merged_digests(metrics: Path | str) -> dict[str, str] | None:
    """Cell hash → digest of each cell a merged dataset holds; None for a dataset merged before 0.2.0."""
    import xarray as xr

    with xr.open_dataset(metrics, engine="h5netcdf") as ds:
        if "cell_digest" not in ds:
            return None
        pairs = zip(np.ravel(ds["cell_hash"].values), np.ravel(ds["cell_digest"].values))
        return {str(h): str(d) for h, d in pairs if h}


def _view_row(plan: dict, metrics: Path, seen: dict[str, CellState]) -> dict:
    hashes = [c["hash"] for c in plan["cells"]]
    digests = {h: seen[h].digest for h in hashes}
    mixes = mixture([seen[h].origin for h in hashes if seen[h].origin is not None]) or ""
    row = {"view": plan["view"], "experiment": plan["experiment"], "cells": len(hashes), "merged": metrics.exists(),
           "changed": 0, "state": "not merged", "mixes": mixes}
    if not metrics.exists():
        return row
    try:
        merged = merged_digests(metrics)
    except (OSError, ValueError) as err:  # truncated or overwritten by hand
        return {**row, "state": f"unreadable ({type(err).__name__}): rerun the workflow to publish it again"}
    if merged is None:
        return {**row, "state": "merged before 0.2.0: rerun the workflow to merge again"}
    changed = sum(merged.get(h) != digests[h] for h in hashes) + len(set(merged) - set(hashes))
    return {**row, "changed": changed, "state": "stale: rerun the workflow to merge again" if changed else "current"}


def status_tables(results_dir: Path | str = RESULTS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, views): one row per (view, cell) with COLUMNS, one per view with VIEW_COLUMNS."""
    layout = Layout(str(results_dir))
    logs = _logs_by_cell(layout)
    plans = [read_plan(p) for p in layout.plans()]
    seen = survey((cell["hash"] for plan in plans for cell in plan["cells"]), layout)
    rows, views = [], []
    for plan in plans:
        for cell in plan["cells"]:
            path = Path(layout.cell(cell["hash"]))
            state, detail = seen[cell["hash"]].state, seen[cell["hash"]].detail
            if state == "unmeasured":
                detail += ": the workflow re-measures it"
            if state == "missing" and cell["hash"] in logs:
                state, detail = "failed", "no cell file; see the log"
            rows.append({"view": plan["view"], "experiment": plan["experiment"], "cell": cell["name"],
                         "hash": cell["hash"], "state": state, "detail": detail, "path": str(path),
                         "log": logs.get(cell["hash"], "")})
        views.append(_view_row(plan, Path(layout.metrics(plan["view"])), seen))
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(views, columns=VIEW_COLUMNS)


def status(results_dir: Path | str = RESULTS) -> pd.DataFrame:
    """Table of every cell planned under `results_dir/<view>/plan.json`, one row per (view, cell).

    Columns: view, experiment, cell (its grid-axis name), hash, state, detail, path, log.
    """
    return status_tables(results_dir)[0]
