"""The local one-node SLURM cluster of the SLURM tests (tests/slurm/cluster.sh) and what they share: a
workflow copy whose profile is the shipped one with only its site values changed, the grids they run, and
queries of the cluster limited to one workflow copy's jobs (a test never touches jobs it did not submit)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from acthash.params.cell import Cell

from .conftest import REPO, copy_workflow
from .synthetic import small_cell

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
GRID = {"dataset": "digits", "width": [4, 24], "n_train": [600], "seed": [0, 1], "checkpoints": [0, 3],
        "early_stopping": False, "kmeans_n_init": 3}
# to be interrupted: 2 packs (one per seed) that save a training state at epoch 10 and train 40 short epochs more
# (what a resumed job repeats); the fault tests hold each training when its state appears (hold_when_saved)
LONG = {**GRID, "n_train": [1000], "checkpoints": [0, 10, 50], "pack_over": ["width"]}


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """Start the local cluster for this session (idempotent) and stop it afterwards."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("SLURM tests need root and apt-get to start a local cluster (tests/slurm/cluster.sh)")
    subprocess.run(["bash", str(CLUSTER), "start"], check=True, timeout=900)
    # this cluster binds no CPUs (TaskPlugin=task/none): each job would start a torch thread per core of the
    # machine, and two jobs at once then slow each other up to 10x; one thread each, as a site's binding would
    threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # what sbatch exports to the jobs
    yield
    if threads is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = threads
    subprocess.run(["scancel", "--user", "root"], check=False)
    subprocess.run(["bash", str(CLUSTER), "stop"], check=False)


def slurm_workdir(root: Path, grids: dict, **resources: str) -> Path:
    """Workflow copy whose SLURM profile is the shipped one with only the site values changed (partitions,
    no accounts on this cluster), squeue status polling (no accounting) and faster first status checks."""
    copy_workflow(root)
    path = root / "profiles" / "slurm" / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["default-resources"]["slurm_partition"] = "debug"  # this cluster's one partition: CPU and GPU jobs
    for entry in profile["set-resources"].values():
        entry["slurm_partition"] = "debug"
    del profile["default-resources"]["slurm_account"]
    profile.update({"slurm-no-account": True, "slurm-status-command": "squeue",
                    "slurm-init-seconds-before-status-checks": 2})
    for key, value in resources.items():  # e.g. pack_runtime="1 * attempt"
        rule, res = key.split("_", 1)
        profile["set-resources"][rule][res] = value
    path.write_text(yaml.safe_dump(profile))
    (root / "grids.yaml").write_text(yaml.safe_dump({"grids": grids}))
    return root


def run_args(workdir: Path, experiment: str, profile: str = "slurm") -> list[str]:
    return ["--workflow-profile", str(workdir / "profiles" / profile), "--configfile", str(workdir / "grids.yaml"),
            "--config", f"experiments={experiment}", "data_root=data"]


def cell_files(results: Path) -> dict[str, float]:
    """Cell files of a results tree and their modification times."""
    return {str(p.relative_to(results)): p.stat().st_mtime for p in (results / "cells").rglob("*.h5")}


def train_logs(results: Path) -> str:
    return "\n".join(p.read_text() for p in (results / "logs" / "packs").rglob("*.log"))


def jobs_of(workdir: Path, states: str = "PENDING,RUNNING") -> dict[str, tuple[str, str, str]]:
    """This workflow copy's SLURM jobs in `states`: job id → (time limit, memory, comment), as squeue prints them."""
    out = subprocess.run(["squeue", "-h", "-t", states, "-o", "%i|%l|%m|%k|%Z"], capture_output=True,
                         text=True).stdout
    rows = (line.split("|") for line in out.splitlines())
    return {f[0]: (f[1], f[2], f[3]) for f in rows if Path(f[4]) == workdir}


def cancel_jobs_of(workdir: Path) -> None:
    """scancel every job this workflow copy submitted (the playbook after a lost controller)."""
    ids = list(jobs_of(workdir, "all"))
    if ids:
        subprocess.run(["scancel", *ids], check=True)


def wait_for(predicate: Callable[[], Any], seconds: float, what: str, every: float = 0.5) -> Any:
    end = time.time() + seconds
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def trainer_pattern(experiment: str, pack: str = "") -> str:
    """pgrep/pkill pattern of the training processes of one experiment's pack jobs (of one pack if given), as
    the rules run them, matching no other run-pack on this machine."""
    return f"python[^ ]* -m acthash run-pack --plan results/{experiment}/plan.json --pack {pack}"


def hold_when_saved(workdir: Path, experiment: str, packs: int) -> None:
    """SIGSTOP each pack job's training as soon as it has saved its first training state, until `packs` are
    held: a fault the test then makes lands mid-training however fast the training runs (SLURM's kill resumes
    a held process before it signals it)."""
    held: set[str] = set()

    def hold_new() -> bool:
        for state in (workdir / "results" / "packs").glob("*.state.pt"):
            pack = state.name.split(".")[0]
            if pack not in held:
                subprocess.run(["pkill", "-STOP", "-f", trainer_pattern(experiment, pack)], check=True)
                held.add(pack)
        return len(held) >= packs

    wait_for(hold_new, 240, f"{packs} pack(s) to save a training state", every=0.1)


def grid_cells(grid: dict) -> list[Cell]:
    base = small_cell(n_train=600, checkpoints=(0, 3), early_stopping=False, kmeans_n_init=3)
    return [dataclasses.replace(base, width=w, seed=s) for w in grid["width"] for s in grid["seed"]]
