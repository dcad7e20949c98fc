# Grid expansion, targets and small input/param functions; no rules here.
import json
from pathlib import Path

import yaml
from snakemake.utils import validate

from acthash.cell import DATASETS, parse_name
from acthash.plan import make_plan

validate(config, workflow.source_path("../schemas/config.schema.yaml"))

OVERRIDE_KEYS = [
    k
    for k in config
    if k not in ("experiments", "data_root", "defaults", "grids", "phase")
]


def _coerce(value):
    """Command-line values arrive as strings (YAML BaseLoader); read them as YAML."""
    if isinstance(value, str):
        return yaml.safe_load(value)
    if isinstance(value, list):
        return [_coerce(v) for v in value]
    return value


def picked_experiments():
    names = [n.strip() for n in str(config["experiments"]).split(",") if n.strip()]
    if names == ["all"]:
        return list(config["grids"])
    unknown = [n for n in names if n not in config["grids"]]
    if unknown:
        raise ValueError(
            f"config key 'experiments': unknown {unknown}; allowed: {sorted(config['grids'])} or all"
        )
    return names


def experiment_spec(name):
    """Defaults, then the grid's own keys, then command-line overrides; phase settings merged likewise."""
    grid = config["grids"][name]
    spec = {
        **config.get("defaults", {}),
        **grid,
        **{k: _coerce(config[k]) for k in OVERRIDE_KEYS},
    }
    spec["phase"] = {**config.get("phase", {}), **grid.get("phase", {})}
    spec.pop("description", None)
    validate(
        {"experiments": name, "grids": {name: spec}},
        workflow.source_path("../schemas/config.schema.yaml"),
    )
    return spec


SPECS = {name: experiment_spec(name) for name in picked_experiments()}
PLANS = {name: make_plan(name, spec) for name, spec in SPECS.items()}
CELLS = {name: {c["name"]: c for c in plan["cells"]} for name, plan in PLANS.items()}
PACKS = {}
for _name, _plan in PLANS.items():
    for _cell in _plan["cells"]:
        PACKS.setdefault(_name, {}).setdefault(_cell["pack"], []).append(_cell["name"])


wildcard_constraints:
    exp="|".join(PLANS) or "none",
    cell=r"dataset~.+",
    pack=r"dataset~.+/pack~\d+",
    dataset="|".join(DATASETS),


def final_outputs():
    return [
        out
        for exp in PLANS
        for out in (f"results/{exp}/metrics.nc", f"results/{exp}/figures")
    ]


def spec_json(wildcards):
    return json.dumps(SPECS[wildcards.exp], sort_keys=True, separators=(",", ":"))


def recipe_json(wildcards):
    return json.dumps(
        PLANS[wildcards.exp]["recipe"], sort_keys=True, separators=(",", ":")
    )


def pack_cells(wildcards):
    return PACKS[wildcards.exp][wildcards.pack]


def pack_datasets(wildcards):
    dataset = parse_name(PACKS[wildcards.exp][wildcards.pack][0])["dataset"]
    return f"{config['data_root']}/.acthash-{dataset}.json"


def data_root_of(wildcards, output):
    return str(Path(output.stamp).parent)


def pack_of_cell(wildcards):
    return f"results/{wildcards.exp}/packs/{CELLS[wildcards.exp][wildcards.cell]['pack']}.h5"


def experiment_cells(wildcards):
    return [f"results/{wildcards.exp}/cells/{name}.h5" for name in CELLS[wildcards.exp]]
