"""An experiment's plan: its expanded cells, their packs and hashes, written as plan.json for merge and status."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .grid import expand, packs, recipe_of

PHASE_DEFAULTS = {"r_hi": 0.1, "r_lo": 0.01, "eps": 0.02, "accuracy": "knn_test", "r_metric": "test",
                  "plateau_over": ["width", "epoch"]}


def make_plan(experiment: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Everything downstream needs to know about an experiment, from its config entry `spec`."""
    cells = expand(spec, experiment)
    by_pack = packs(cells, spec.get("pack_over", ["width", "seed"]), int(spec.get("pack_size", 64)))
    pack_of = {c.name: pid for pid, members in by_pack.items() for c in members}
    return {
        "experiment": experiment,
        "config_hash": hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16],
        "spec": spec,
        "recipe": recipe_of(spec),
        "phase": {**PHASE_DEFAULTS, **spec.get("phase", {})},
        "cells": [{"name": c.name, "hash": c.param_hash, "pack": pack_of[c.name]} for c in cells],
    }


def write_plan(experiment: str, spec: dict[str, Any], out: Path | str) -> Path:
    """Write plan.json (atomically); cell files are expected under its folder's `cells/`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(make_plan(experiment, spec), indent=1))
    tmp.replace(out)
    return out


def read_plan(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def cell_path(plan_path: Path | str, name: str) -> Path:
    """Where the cell file of `name` lives for the plan at `plan_path`."""
    return Path(plan_path).parent / "cells" / f"{name}.h5"
