# Views, packs and small input/param functions; no rules here. Paths come from acthash.params.layout, the config is
# resolved and checked by acthash.params.config, the packs to run by acthash.store.plan.
import hashlib
import json
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from acthash.analysis.catalog import captions
from acthash.params.config import (
    ConfigError,
    as_read,
    measure_on,
    resolve,
    state_every_min,
)
from acthash.params.datasets import NAMES as DATASET_NAMES
from acthash.params.fields import HASH_CHARS
from acthash.params.layout import DATA_ROOT, Layout, dataset_stamp
from acthash.run.estimate import SHIPPED, Calibration, job_resources
from acthash.store.atomic import republish
from acthash.store.plan import (
    plan_mismatch,
    plan_work,
    read_work,
    work_key,
    write_plan,
    write_work,
)

LAYOUT = Layout()
# Rules run `acthash` as the interpreter that runs Snakemake has it, so no environment needs activating (jobs on a
# cluster run that interpreter too); with --sdm conda, the `acthash` of each rule's own environment.
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    # (Snakemake formats the prefix too: {{ }} are the function's braces)
    shell.prefix(
        "set -euo pipefail; acthash() {{ "
        + shlex.quote(sys.executable)
        + ' -m acthash "$@"; }}; '
    )
try:
    VIEWS = {view.name: view for view in resolve(config)}
except ConfigError as err:
    sys.exit(f"acthash: config error: {err}")
# the published contract too (generated from the same records by `acthash params --schema`), on the config as
# resolve reads it
validate(as_read(config), "../schemas/config.schema.yaml")
MEASURE_ON = measure_on(config)
DATA = config.get("data_root", DATA_ROOT)  # where datasets live
STATE_EVERY = state_every_min(config)
WORK_FILE = LAYOUT.work(work_key(list(VIEWS.values())))


def start_of_run():
    """The main process's checks when a run starts: stale receipts removed (their packs run again), plan.json
    files that differ from the config written again, published datasets removed or cut short since their merge
    published again, damaged cell files named."""
    for pack in PACKS:
        Path(LAYOUT.pack_receipt(pack)).unlink(missing_ok=True)
    for cell in REMEASURE:
        Path(LAYOUT.remeasure_receipt(cell)).unlink(missing_ok=True)
    for view in VIEWS:
        wrong = plan_mismatch(LAYOUT.plan(view), VIEWS[view].plan())
        if wrong:  # the config changed, or the file was cut short or edited
            print(
                f"acthash: {LAYOUT.plan(view)}: {wrong}; writing it again",
                file=sys.stderr,
            )
            write_plan(VIEWS[view].plan(), LAYOUT.plan(view))
        if republish(LAYOUT.staged_metrics(view), LAYOUT.metrics(view)):
            print(
                f"acthash: published {LAYOUT.metrics(view)} again from its staged copy",
                file=sys.stderr,
            )
    for cell, problem in WORK.damaged.items():
        print(
            f"acthash: cell file {LAYOUT.cell(cell)}: {problem}; its pack job moves it to "
            f"{LAYOUT.root}/cells/damaged/ and recomputes it",
            file=sys.stderr,
        )


if workflow.is_main_process:
    # what this run computes, from one read of each cell file (acthash.store.cellstate decides every cell's state)
    WORK = plan_work(list(VIEWS.values()), LAYOUT)
    write_work(WORK, WORK_FILE)
else:
    # a job's own parse (a cluster job's): the work the main process decided; no cell file is opened
    try:
        WORK = read_work(WORK_FILE)
    except ValueError as err:
        sys.exit(f"acthash: {err}")
PACKS = {pack.id: pack for pack in WORK.packs}
REMEASURE = {cell.param_hash: cell for cell in WORK.remeasure}
if workflow.is_main_process:
    start_of_run()


wildcard_constraints:
    view="|".join(re.escape(v) for v in VIEWS) or "none",
    pack=f"[0-9a-f]{{{HASH_CHARS}}}",
    cell=f"[0-9a-f]{{{HASH_CHARS}}}",
    dataset="|".join(DATASET_NAMES),


def final_outputs():
    """Each view's merged dataset and figures, and the receipt of every pack to run: a pack repairing a
    damaged cell file must run even though the view's merged dataset looks up to date.
    """
    views = [
        out
        for view in VIEWS
        for out in (LAYOUT.staged_metrics(view), LAYOUT.staged_figures(view))
    ]
    return (
        views
        + [LAYOUT.pack_receipt(pack) for pack in PACKS]
        + [LAYOUT.remeasure_receipt(cell) for cell in REMEASURE]
    )


def plan_digest(wildcards):
    """Changes whenever the view's plan would: the plan rule reruns on it (rerun-trigger params)."""
    blob = json.dumps(VIEWS[wildcards.view].plan(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def pack_plan(wildcards):
    return LAYOUT.plan(PACKS[wildcards.pack].view)


def pack_dataset(wildcards):
    return dataset_stamp(DATA, PACKS[wildcards.pack].cells[0].dataset)


def pack_summary(wildcards):
    """What a pack job computes, for the console: its view and the axis values of its cells."""
    cells = PACKS[wildcards.pack].cells
    axes = ", ".join(
        f"{axis} {sorted({getattr(c, axis) for c in cells})}"
        for axis in ("dataset", "arch", "n_train", "width", "seed")
    )
    return f"{len(cells)} cells of view {PACKS[wildcards.pack].view}: {axes}"


# job sizes from the cost model: this machine's `make bench` figures when there are some, else the shipped ones
CALIBRATION = Calibration.load(
    LAYOUT.bench() if Path(LAYOUT.bench()).exists() else SHIPPED
)


def site_value(name):
    """A profile's `default-resources` entry (e.g. `max_runtime`, `slurm_account`), or None when it sets none."""
    res = workflow.resource_settings.default_resources
    if res is None:
        return None
    value = (
        res.parsed.get(name)
        if hasattr(res, "parsed")
        else getattr(res.get(name), "raw", None)
    )
    return None if value in (None, "None") else value


_max_runtime = site_value("max_runtime")
MAX_RUNTIME = int(_max_runtime) if _max_runtime else None
# the shipped profile's placeholder account, not yet edited
if str(site_value("slurm_account")).strip("'\"") == "myaccount":
    print(
        "acthash: warning: slurm_account is still the profile's placeholder 'myaccount': set your account in "
        "profiles/slurm/config.yaml (a SITE line), or remove the line where your site has no accounts",
        file=sys.stderr,
    )


def pack_resources(stage, key):
    """A resource of a pack's job from its size, doubled on each retry (`resources: runtime=...`); runtime at
    most the profile's `max_runtime` (a job cut there resumes from its last checkpoint on the retry).
    """

    def value(wildcards, attempt):
        v = attempt * job_resources(PACKS[wildcards.pack], CALIBRATION, stage)[key]
        return min(v, MAX_RUNTIME) if key == "runtime" and MAX_RUNTIME else v

    return value


def pack_hashes(wildcards):
    return [cell.param_hash for cell in PACKS[wildcards.pack].cells]


def results_root(wildcards, output):
    """The results tree a pack job writes into: two levels above its output (results/packs/<id>.*)."""
    return Path(output[0]).parent.parent


def data_root_of(wildcards, output):
    return str(Path(output.stamp).parent)


def view_cells(wildcards):
    """The view's cell files that are complete now (no job in this run writes them); merge jobs run in the main
    process, the one that knows the cells' states."""
    if not WORK.states:
        raise WorkflowError(
            "merge inputs are decided by the main Snakemake process only (merge is a local rule)"
        )
    return [
        LAYOUT.cell(c.param_hash)
        for c in VIEWS[wildcards.view].cells
        if WORK.states[c.param_hash].kept
    ]


def view_receipts(wildcards):
    """Receipts of this run's pack jobs that compute cells of the view; each lists the files it wrote."""
    hashes = {c.param_hash for c in VIEWS[wildcards.view].cells}
    return [
        LAYOUT.pack_receipt(pack.id)
        for pack in WORK.packs
        if any(c.param_hash in hashes for c in pack.cells)
    ] + [LAYOUT.remeasure_receipt(h) for h in REMEASURE if h in hashes]
