"""The SLURM path on a real one-node cluster (tests/slurm/cluster.sh): the shipped profile with only its site
values changed, submitit job arrays, and fault scenarios whose recovery is asserted."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import acthash
from acthash.analysis.merge import load
from acthash.params.cell import Cell
from acthash.params.config import resolve
from acthash.params.layout import Layout
from acthash.run.estimate import Calibration, job_resources
from acthash.run.plan import plan_work
from acthash.run.store import read_cell

from .conftest import REPO, copy_workflow, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
GRID = {"dataset": "digits", "width": [4, 24], "n_train": [600], "seed": [0, 1], "checkpoints": [0, 3],
        "early_stopping": False, "kmeans_n_init": 3}
# long enough to be interrupted: 2 packs (one per seed) that save a training state at epoch 10, then train 120
# short epochs more (about 15 s here: the window for a fault, and what a resumed job repeats)
LONG = {**GRID, "n_train": [1000], "checkpoints": [0, 10, 130], "pack_over": ["width"]}


@pytest.fixture(scope="session")
def slurm_cluster():
    """Start the local cluster for this session (idempotent) and stop it afterwards."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("SLURM tests need root and apt-get to start a local cluster (tests/slurm/cluster.sh)")
    subprocess.run(["bash", str(CLUSTER), "start"], check=True, timeout=900)
    yield
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


def test_grid_through_slurm_equals_a_local_run(slurm_cluster, tmp_path):
    remote = slurm_workdir(tmp_path / "slurm", {"tiny": GRID})
    snakemake(remote, *run_args(remote, "tiny"), slurm=True)
    local = slurm_workdir(tmp_path / "local", {"tiny": GRID})
    snakemake(local, *run_args(local, "tiny", "local"), "--cores", "2")
    a, b = load(remote / "results/tiny/metrics.nc"), load(local / "results/tiny/metrics.nc")
    assert dict(a.sizes) == dict(b.sizes) == {"width": 2, "epoch": 2, "n_train": 1, "seed": 2}
    for var in ("redundancy_train", "redundancy_test", "knn_test", "logreg_test", "net_acc_test"):
        # float32 training may reorder sums with other thread counts: the trainer's stated tolerance
        np.testing.assert_allclose(a[var].values, b[var].values, atol=0.02, err_msg=var)
    log = train_logs(remote / "results")
    assert "CUDA_VISIBLE_DEVICES=0" in log and "SLURM_JOB_ID=" in log and "SLURM_JOB_ID=-" not in log
    # measure_on=cpu: each pack's training job hands its codes to a measuring job in the CPU partition
    split = slurm_workdir(tmp_path / "split", {"tiny": GRID})
    proc = snakemake(split, *run_args(split, "tiny"), "measure_on=cpu", slurm=True)
    table = (proc.stdout + proc.stderr).split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    rules = {line.split()[0] for line in table}
    assert {"pack_train", "pack_measure"} <= rules and "pack" not in rules
    logs = sorted(p.name for p in (split / "results" / "logs" / "packs").glob("*.log"))
    assert [n.split(".", 1)[1] for n in logs] == ["measure.log", "train.log"]  # one pack, two jobs
    c = load(split / "results/tiny/metrics.nc")
    for var in a.data_vars:  # the same training, measured in another job: the same dataset
        if a[var].dtype.kind == "f":
            np.testing.assert_allclose(c[var].values, a[var].values, rtol=1e-6, err_msg=var)
        else:
            np.testing.assert_array_equal(c[var].values, a[var].values, err_msg=var)


def _cells(grid: dict) -> list[Cell]:
    base = Cell(dataset="digits", n_train=600, checkpoints=(0, 3), early_stopping=False, kmeans_n_init=3)
    return [dataclasses.replace(base, width=w, seed=s) for w in grid["width"] for s in grid["seed"]]


def test_run_cells_with_submitit_arrays_writes_the_same_cell_files(slurm_cluster, tmp_path):
    cells = _cells(GRID)
    on_slurm = acthash.run_cells(cells, tmp_path / "slurm", ".", executor="slurm", slurm_partition="debug",
                                 gpus_per_node=1, timeout_min=10, cpus_per_task=1)
    in_process = acthash.run_cells(cells, tmp_path / "debug", ".", executor="debug")
    assert [p.relative_to(tmp_path / "slurm") for p in on_slurm] == [p.relative_to(tmp_path / "debug") for p in in_process]
    for a, b in zip(on_slurm, in_process):
        ra, rb = read_cell(a), read_cell(b)
        assert ra.attrs["param_hash"] == rb.attrs["param_hash"]
        for key in ("redundancy_test", "knn_test", "net_acc_test"):
            np.testing.assert_allclose(ra.metrics[key], rb.metrics[key], atol=0.02)
    mtimes = {p: p.stat().st_mtime for p in on_slurm}
    again = acthash.run_cells(cells, tmp_path / "slurm", ".", executor="slurm", slurm_partition="debug", timeout_min=10)
    assert {p: p.stat().st_mtime for p in again} == mtimes  # finished cells are skipped, not recomputed


def test_preempted_submitit_task_is_requeued_and_resumes(slurm_cluster, tmp_path):
    # 300 short epochs: long enough after the first saved state for the interruption to land mid-training
    long = dataclasses.replace(_cells(GRID)[0], n_train=1000, checkpoints=(0, 30, 100, 200, 300))
    jobs = acthash.run_cells([long], tmp_path, ".", executor="slurm", slurm_partition="debug", timeout_min=10,
                             cpus_per_task=1, wait=False)
    _wait_for(lambda: list((tmp_path / "packs").rglob("*.state.pt")), 120, "a saved training state")
    jobs[0]._interrupt()  # preemption: SIGTERM then USR2, submitit checkpoints and requeues
    paths = jobs[0].result()
    assert read_cell(paths[0]).epochs.tolist() == [0, 30, 100, 200, 300]
    logs = "".join(p.read_text() for p in (tmp_path / "submitit").glob("*.err"))
    assert "resumed from" in logs


def _wait_for(predicate, seconds: float, what: str):
    end = time.time() + seconds
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def _train_jobs(states: str = "RUNNING") -> dict[str, tuple[str, str]]:
    """Training jobs in `states`: job id → (time limit, memory), as squeue prints them."""
    out = subprocess.run(["squeue", "-h", "-t", states, "-o", "%i %l %m %k"], capture_output=True, text=True).stdout
    rows = (line.split() for line in out.splitlines())
    return {f[0]: (f[1], f[2]) for f in rows if f[3].startswith("rule_pack")}  # the plugin's job comment


def _minutes(limit: str) -> int:
    """squeue's time limit ([D-]HH:MM:SS or MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(x) for x in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 1440 + parts[0] * 60 + parts[1]


def _megabytes(mem: str) -> int:
    return int(float(mem[:-1]) * 1024) if mem.endswith("G") else int(mem.rstrip("M"))


def test_cancelled_and_killed_training_jobs_recover_without_losing_cells(slurm_cluster, tmp_path):
    """scancel one training job and SIGKILL the other's process mid-run: each fails once and is retried with
    twice the time and memory, resumes from its last checkpoint epoch, and nothing half-written passes as
    complete."""
    wd = slurm_workdir(tmp_path, {"long": LONG})
    proc = subprocess.Popen(["snakemake", "-s", str(wd / "workflow/Snakefile"), "--directory", str(wd),
                             *run_args(wd, "long")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    states = wd / "results/packs"
    _wait_for(lambda: len(list(states.rglob("*.state.pt"))) == 2, 240, "both packs to save a training state")
    first = _wait_for(lambda: len(_train_jobs()) == 2 and _train_jobs(), 30, "two running train jobs")
    subprocess.run(["scancel", next(iter(first))], check=True)
    # the other job's training process (the one left after the scancel), not any other run-pack on this machine
    trainer = "python[^ ]* -m acthash run-pack --plan results/long/plan.json "  # how the rules run acthash
    _wait_for(lambda: len(subprocess.run(["pgrep", "-f", trainer], capture_output=True, text=True).stdout.split()) == 1,
              30, "the cancelled job's training process to end")
    killed = subprocess.run(["pkill", "-9", "-f", trainer], check=False).returncode
    retried = _wait_for(lambda: {j: r for j, r in _train_jobs("PENDING,RUNNING").items() if j not in first}, 120,
                        "the retried train jobs")
    limit, mem = next(iter(first.values()))
    packs = plan_work(resolve({"experiments": "long", "grids": {"long": LONG}}), Layout(str(tmp_path / "none"))).packs
    sizes = {tuple(job_resources(p, Calibration.load()).values()) for p in packs}  # (runtime, mem_mb)
    assert sizes == {(_minutes(limit), _megabytes(mem))}  # the first attempt: the cost model's size
    assert {(_minutes(limit) * 2, _megabytes(mem) * 2)} == {(_minutes(t), _megabytes(m)) for t, m in retried.values()}
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert killed == 0
    log = train_logs(wd / "results")
    assert log.count("resumed from") >= 1, log[-2000:]
    status = subprocess.run(["acthash", "status", str(wd / "results")], capture_output=True, text=True).stdout
    assert '"done": 4' in status
    assert not list(states.rglob("*.state.pt")) and not list((wd / "results").rglob(".*.tmp*"))


def test_killed_controller_recovers_with_unlock_and_rerun(slurm_cluster, tmp_path):
    """SIGKILL Snakemake mid-run, cancel the run's jobs, unlock, rerun: only what is missing is computed."""
    wd = slurm_workdir(tmp_path, {"long": LONG})
    proc = subprocess.Popen(["snakemake", "-s", str(wd / "workflow/Snakefile"), "--directory", str(wd),
                             *run_args(wd, "long")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: list((wd / "results/packs").rglob("*.state.pt")), 240, "a saved training state")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(["scancel", "--user", "root"], check=True)  # the playbook: cancel the run's jobs
    locked = snakemake(wd, *run_args(wd, "long"), "-n", check=False, slurm=True)
    assert "LockException" in locked.stdout + locked.stderr or "locked" in (locked.stdout + locked.stderr).lower()
    snakemake(wd, *run_args(wd, "long"), "--unlock", slurm=True)
    snakemake(wd, *run_args(wd, "long"), slurm=True)
    assert "resumed from" in train_logs(wd / "results")
    done = cell_files(wd / "results")
    assert len(done) == 4
    snakemake(wd, *run_args(wd, "long"), slurm=True)  # a rerun changes nothing
    assert cell_files(wd / "results") == done
