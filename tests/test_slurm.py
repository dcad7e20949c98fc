"""The SLURM path on a real one-node cluster (tests/slurm_support.py): the shipped profile with only its site
values changed, a grid through SLURM against a local run, submitit job arrays, and faults whose recovery is
asserted (training jobs cancelled, killed or preempted mid-run, a killed Snakemake controller). Each test
touches only its own jobs and processes."""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import acthash
from acthash.analysis.merge import load
from acthash.params.config import resolve
from acthash.params.layout import Layout
from acthash.run.estimate import Calibration, job_resources
from acthash.store.cellfile import read_cell
from acthash.store.plan import plan_work

from .conftest import snakemake
from .slurm_support import (
    GRID,
    LONG,
    cancel_jobs_of,
    cell_files,
    grid_cells,
    hold_when_saved,
    jobs_of,
    run_args,
    slurm_workdir,
    train_logs,
    trainer_pattern,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_grid_through_slurm_equals_a_local_run(slurm_cluster, tmp_path):
    remote, local, split = (slurm_workdir(tmp_path / name, {"tiny": GRID}) for name in ("slurm", "local", "split"))
    with ThreadPoolExecutor(3) as pool:  # three independent runs at once: those through SLURM mostly wait
        runs = [pool.submit(snakemake, remote, *run_args(remote, "tiny"), slurm=True),
                pool.submit(snakemake, local, *run_args(local, "tiny", "local"), "--cores", "2"),
                # measure_on=cpu: each pack's training job hands its codes to a measuring job in the CPU partition
                pool.submit(snakemake, split, *run_args(split, "tiny"), "measure_on=cpu", slurm=True)]
        proc = [run.result() for run in runs][2]
    a, b = load(remote / "results/tiny/metrics.nc"), load(local / "results/tiny/metrics.nc")
    assert dict(a.sizes) == dict(b.sizes) == {"width": 2, "epoch": 2, "n_train": 1, "seed": 2,
                                                  "epoch_trained": 3}
    for var in ("redundancy_train", "redundancy_test", "knn_test", "logreg_test", "net_acc_test"):
        # float32 training may reorder sums with other thread counts: the trainer's stated tolerance
        np.testing.assert_allclose(a[var].values, b[var].values, atol=0.02, err_msg=var)
    log = train_logs(remote / "results")
    assert re.search(r"CUDA_VISIBLE_DEVICES=\d", log) and "SLURM_JOB_ID=" in log and "SLURM_JOB_ID=-" not in log
    table = (proc.stdout + proc.stderr).split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    rules = {line.split()[0] for line in table}
    assert {"pack", "pack_measure"} <= rules
    logs = sorted(p.name for p in (split / "results" / "logs" / "packs").glob("*.log"))
    assert [n.split(".", 1)[1] for n in logs] == ["measure.log", "train.log"]  # one pack, two jobs
    c = load(split / "results/tiny/metrics.nc")
    for var in a.data_vars:  # the same training, measured in another job: the same dataset
        if a[var].dtype.kind == "f":
            np.testing.assert_allclose(c[var].values, a[var].values, rtol=1e-6, err_msg=var)
        else:
            np.testing.assert_array_equal(c[var].values, a[var].values, err_msg=var)


def test_run_cells_with_submitit_arrays_writes_the_same_cell_files(slurm_cluster, tmp_path):
    cells = grid_cells(GRID)
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
    # 600 short epochs (a few seconds after the state saved at epoch 20): the preemption lands mid-training
    long = dataclasses.replace(grid_cells(GRID)[0], n_train=1000, checkpoints=(0, 20, 600))
    jobs = acthash.run_cells([long], tmp_path, ".", executor="slurm", slurm_partition="debug", timeout_min=10,
                             cpus_per_task=1, wait=False)
    wait_for(lambda: list((tmp_path / "packs").rglob("*.state.pt")), 120, "a saved training state")
    # preemption as SLURM does it (submitit's Job._interrupt): SIGTERM, which submitit ignores, then its USR2,
    # on which it checkpoints and requeues the task. SLURM delivers each signal after scancel returns: the pause
    # keeps the SIGTERM from reaching the `scontrol requeue` that the USR2 starts.
    subprocess.run(["scancel", jobs[0].job_id, "--signal", "SIGTERM"], check=True)
    time.sleep(1)
    subprocess.run(["scancel", jobs[0].job_id, "--signal", "USR2"], check=True)
    paths = jobs[0].result()
    assert read_cell(paths[0]).epochs.tolist() == [0, 20, 600]
    logs = "".join(p.read_text() for p in (tmp_path / "submitit").glob("*.err"))
    assert "resumed from" in logs


def _train_jobs(workdir: Path, states: str = "RUNNING") -> dict[str, tuple[str, str]]:
    """The workflow copy's training jobs in `states`: job id → (time limit, memory)."""
    return {j: (limit, mem) for j, (limit, mem, comment) in jobs_of(workdir, states).items()
            if comment.startswith("rule_pack")}  # the plugin's job comment


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
    wd = slurm_workdir(tmp_path, {"cancel": LONG})
    proc = subprocess.Popen(["snakemake", "-s", str(wd / "workflow/Snakefile"), "--directory", str(wd),
                             *run_args(wd, "cancel")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    states = wd / "results/packs"
    hold_when_saved(wd, "cancel", 2)
    first = wait_for(lambda: len(_train_jobs(wd)) == 2 and _train_jobs(wd), 30, "two running train jobs")
    subprocess.run(["scancel", next(iter(first))], check=True)
    # the other job's training process (the one left after the scancel), not any other run-pack on this machine
    trainer = trainer_pattern("cancel")
    wait_for(lambda: len(subprocess.run(["pgrep", "-f", trainer], capture_output=True, text=True).stdout.split()) == 1,
              30, "the cancelled job's training process to end")
    killed = subprocess.run(["pkill", "-9", "-f", trainer], check=False).returncode
    retried = wait_for(lambda: {j: r for j, r in _train_jobs(wd, "PENDING,RUNNING").items() if j not in first},
                       120, "the retried train jobs")
    limit, mem = next(iter(first.values()))
    packs = plan_work(resolve({"experiments": "cancel", "grids": {"cancel": LONG}}),
                      Layout(str(tmp_path / "none"))).packs
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
    wd = slurm_workdir(tmp_path, {"controller": LONG})
    args = run_args(wd, "controller")
    proc = subprocess.Popen(["snakemake", "-s", str(wd / "workflow/Snakefile"), "--directory", str(wd), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hold_when_saved(wd, "controller", 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cancel_jobs_of(wd)  # the playbook: cancel the run's jobs
    locked = snakemake(wd, *args, "-n", check=False, slurm=True)
    assert "LockException" in locked.stdout + locked.stderr or "locked" in (locked.stdout + locked.stderr).lower()
    snakemake(wd, *args, "--unlock", slurm=True)
    snakemake(wd, *args, slurm=True)
    assert "resumed from" in train_logs(wd / "results")
    done = cell_files(wd / "results")
    assert len(done) == 4
    snakemake(wd, *args, slurm=True)  # a rerun changes nothing
    assert cell_files(wd / "results") == done
