"""The workflow configuration resolved into views: each picked experiment's parameters, checked key by key.

Precedence, lowest first: the built-in defaults (`Cell`, `PhaseRule`, `grid.PACK_OVER`/`PACK_SIZE`) <
`defaults:` < the grid's own keys < top-level keys (what `--config key=value` sets); the `phase:` rule
likewise (`defaults: phase:` < the grid's `phase:` < a top-level `phase:`). Every problem is one line naming
the key, the value and what is allowed (or the closest key).

A view is one experiment as resolved: `results/<experiment>` when nothing is overridden at the top level,
else `results/<experiment>@<view or a hash of the overrides>`, so a sub-grid never replaces the full run.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from acthash.params.cell import FIELDS, GRID_AXES, PACK_SHARED, PARAMS, Cell
from acthash.params.fields import check_key, check_value, short_hash
from acthash.params.grid import PACK_OVER, PACK_SIZE, expand
from acthash.params.layout import DATA_ROOT, check_view_name
from acthash.params.phase_rule import PhaseRule

CONTROL_KEYS = ("experiments", "data_root", "measure_on", "state_every_min", "defaults", "grids", "view")
MEASURE_ON = ("pack", "cpu")  # where cells are measured: in their pack's job (default), or in a CPU job after it
STATE_EVERY_MIN = 10.0  # a pack's training state is saved at least this often (minutes), besides each checkpoint
EXPERIMENT_KEYS = ("description", "pack_over", "pack_size", "phase")  # experiment keys that are not parameters
TOP_KEYS = CONTROL_KEYS + PARAMS + EXPERIMENT_KEYS[1:]
PHASE_KEYS = tuple(f.name for f in dataclasses.fields(PhaseRule))
# The keys that steer the workflow rather than a cell: key → (default, allowed, meaning); `acthash params`
# prints them beside the parameters. "(config.yaml)": the shipped config sets it.
WORKFLOW_KEYS: dict[str, tuple[str, str, str]] = {
    "experiments": ("(config.yaml) demo", "names of `grids`, comma-separated, or all", "the experiments to run"),
    "data_root": (DATA_ROOT, "a folder", "where datasets live (torchvision layout); MNIST, "
                  "Fashion-MNIST, CIFAR-10 and SVHN are fetched there (or copied there without internet)"),
    "measure_on": (MEASURE_ON[0], ", ".join(MEASURE_ON), "pack: each pack job measures its cells on its own "
                   "device; cpu: a second job per pack measures them on a CPU node"),
    "state_every_min": (f"{STATE_EVERY_MIN:g}", "a number > 0", "a pack job saves its training state after each "
                        "checkpoint and at least this often (minutes of training): a preempted or killed job loses "
                        "at most this much"),
    "view": ("a hash of the overrides", "letters, digits and _ . @ + -", "names the view of a run with "
             "top-level overrides: results/<experiment>@<view>"),
    "defaults": ("{}", "any keys of a grid", "keys shared by every grid, below each grid's own"),
    "grids": ("(config.yaml)", "name: {keys}", "the named experiments: axes as lists, recipe keys as values"),
    "pack_over": (f"{list(PACK_OVER)}", "grid axes", "cells differing only in these axes train as one stacked "
                  "model (MLPs; a CNN pack holds one width)"),
    "pack_size": (str(PACK_SIZE), "int >= 1", "most cells per pack job"),
    "phase": ("the `phase.*` defaults", "{r_hi: ..., ...}", "the phase-chart rule (keys `phase.*` above), for "
              "every picked experiment; also in `defaults:` or per grid"),
}


class ConfigError(ValueError):
    """A bad key or value in the configuration; the message is one line naming it."""


@dataclass(frozen=True)
class View:
    """One experiment as resolved: its view name, cells, phase rule and packing."""

    name: str
    experiment: str
    spec: dict[str, Any]
    cells: list[Cell]
    phase: PhaseRule
    pack_over: tuple[str, ...]
    pack_size: int

    def plan(self) -> dict[str, Any]:
        """What plan.json holds: everything merge and status need to know about the view."""
        return {"view": self.name, "experiment": self.experiment, "spec": self.spec, "phase": self.phase.as_dict(),
                "cells": [{"hash": c.param_hash, "name": c.name, "params": c.params()} for c in self.cells]}


def coerce(value: Any) -> Any:
    """Command-line values arrive as strings (Snakemake reads `--config` with YAML's BaseLoader): read them as
    YAML, so `width=[8,32]` and `bn=false` get their types; numbers YAML 1.1 leaves as strings (`5e-3`,
    also in config files) become floats."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return coerce(value)
    if isinstance(value, list):
        return [coerce(v) for v in value]
    if isinstance(value, dict):
        return {k: coerce(v) for k, v in value.items()}
    return value


AS_WRITTEN = ("experiments", "data_root", "view")  # keys `resolve` takes as written, not read as YAML


def as_read(config: dict[str, Any]) -> dict[str, Any]:
    """The config as `resolve` reads it: values read as YAML (`coerce`: command-line values arrive as strings),
    except the keys of AS_WRITTEN (names and paths: `view=2024` is a name, not a number)."""
    return {k: v if k in AS_WRITTEN else coerce(v) for k, v in config.items()}


def _check_entry(key: str, value: Any, where: str) -> None:
    """Check one experiment key and its value (an axis may be a list of values)."""
    check_key(key, PARAMS + EXPERIMENT_KEYS, where)
    if key == "pack_over":
        packable = [a for a in GRID_AXES if a not in PACK_SHARED]
        for v in value if isinstance(value, list) else [value]:
            if v not in packable:
                raise ValueError(f"{where}pack_over={value!r}: each entry must be one of {', '.join(packable)} "
                                 f"(the others are shared by every member of a stacked model)")
    elif key == "pack_size":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}pack_size={value!r}: must be int >= 1")
    elif key == "description":
        return
    elif key == "phase":
        if not isinstance(value, dict):
            raise ValueError(f"{where}phase: must be a mapping of {', '.join(PHASE_KEYS)}")
        for k in value:
            check_key(k, PHASE_KEYS, f"{where}phase.")
    else:
        values = value if key in GRID_AXES and isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"{where}{key}=[]: needs at least one value")
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            print(f"acthash: warning: {where}{key}={value}: {', '.join(repeated)} repeated; each value makes its "
                  "cells once", file=sys.stderr)
        for v in values:
            problem = check_value(key, v, FIELDS)
            if problem:
                raise ValueError(where + problem)


def resolve_experiment(name: str, config: dict[str, Any]) -> View:
    """The view of experiment `name`: precedence applied, every key and value checked, its cells expanded
    (impossible combinations are named here, before any job starts)."""
    defaults = coerce(config.get("defaults") or {})
    grid = coerce(config["grids"][name] or {})
    overrides = {k: coerce(config[k]) for k in config if k not in CONTROL_KEYS}
    for where, block in (("defaults.", defaults), (f"grids.{name}.", grid), ("", overrides)):
        for key, value in block.items():
            _check_entry(key, value, where)
    spec = {**defaults, **grid, **overrides}
    spec.pop("description", None)
    phase = {**(defaults.get("phase") or {}), **(grid.get("phase") or {}), **(overrides.get("phase") or {})}
    try:
        rule = PhaseRule(**phase)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    spec["phase"] = rule.as_dict()
    try:
        cells = expand(spec)
    except ValueError as err:
        raise ConfigError(f"experiment {name}: {err}") from err
    tag = config.get("view")
    if overrides or tag:
        tag = str(tag) if tag else short_hash(json.dumps(overrides, sort_keys=True).encode())[:8]
        view = check_view_name(f"{name}@{tag}")
    else:
        view = check_view_name(name)
    pack_over = spec.get("pack_over", list(PACK_OVER))
    return View(view, name, spec, cells, rule, tuple(pack_over if isinstance(pack_over, list) else [pack_over]),
                int(spec.get("pack_size", PACK_SIZE)))


def resolve_file(path: Path | str, experiments: str, **overrides: Any) -> list[View]:
    """The views of `experiments` in the config file at `path`, with top-level `overrides` as on the
    command line (e.g. `seed=[0, 1]`): how benchmarks and notebooks take the shipped grids."""
    config = yaml.safe_load(Path(path).read_text())
    config.update({"experiments": experiments, **overrides})
    return resolve(config)


def measure_on(config: dict[str, Any]) -> str:
    """Where the cells of a run are measured (`MEASURE_ON`; the first is the default)."""
    value = config.get("measure_on", MEASURE_ON[0])
    if value not in MEASURE_ON:
        raise ConfigError(f"measure_on={value}: must be one of {', '.join(MEASURE_ON)}")
    return value


def state_every_min(config: dict[str, Any]) -> float:
    """How often (minutes of training) a pack job saves its training state besides each checkpoint."""
    value = config.get("state_every_min", STATE_EVERY_MIN)
    value = yaml.safe_load(value) if isinstance(value, str) else value  # written on a command line
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigError(f"state_every_min={value}: must be a number of minutes > 0")
    return float(value)


def resolve(config: dict[str, Any]) -> list[View]:
    """The views of the experiments picked by `config["experiments"]` (comma-separated names or "all")."""
    try:
        for key in config:
            check_key(key, TOP_KEYS, "config key ")
        grids = config.get("grids") or {}
        names = [n.strip() for n in str(config.get("experiments", "")).split(",") if n.strip()]
        if "all" in names:
            names = list(grids)
        for n in names:
            check_key(n, [*grids, "all"], "experiments=", "experiment")
        if not names:
            raise ValueError("experiments: name at least one of the grids, or all")
        measure_on(config)
        state_every_min(config)
        return [resolve_experiment(n, config) for n in names]
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(str(err)) from err
