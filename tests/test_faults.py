"""Faults of a whole run: the Snakemake controller killed mid-run and the README's recovery (docs/faults.md)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from acthash.analysis.merge import load

from .conftest import NO_SLURM, copy_workflow, snakemake


def wait_until(predicate, what: str, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, f"timed out after {seconds} s waiting for {what}"
        time.sleep(0.1)


CRASH = {"grids": {"crash": {"dataset": "digits", "width": [4, 24], "n_train": [1000], "seed": [0],
                             "checkpoints": [0, 10, 30], "early_stopping": False, "kmeans_n_init": 3}}}


def crash_args(root: Path) -> list[str]:
    """Snakemake's arguments of the crash grid's run in the workflow copy at `root`."""
    return ["--workflow-profile", str(root / "profiles/local"), "--configfile", str(root / "crash.yaml"), "--config",
            "experiments=crash", "data_root=data", "--cores", "2"]


def crash_run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return snakemake(root, *crash_args(root), *args, check=check)


@pytest.mark.slow
def test_a_killed_local_controller_recovers_as_the_readme_says_with_the_same_numbers(tmp_path):
    """kill -9 of Snakemake leaves its pack job running; the README's recovery (--unlock, the same command) starts
    a second job for the same cells, which waits for the first (the cells' locks), then finds them complete:
    each cell is trained once, and the merged numbers equal an uninterrupted run's."""
    crashed, straight = (copy_workflow(tmp_path / name) for name in ("crashed", "straight"))
    for root in (crashed, straight):
        (root / "crash.yaml").write_text(yaml.safe_dump(CRASH))
    cmd = ["snakemake", "-s", str(crashed / "workflow/Snakefile"), "--directory", str(crashed), *crash_args(crashed)]
    controller = subprocess.Popen(cmd, cwd=crashed, env={**os.environ, **NO_SLURM}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    pack_job = "python[^ ]* -m acthash run-pack --plan results/crash/plan.json"
    wait_until(lambda: list((crashed / "results/packs").glob("*.state.pt")), "the pack's first saved state")
    subprocess.run(["pkill", "-STOP", "-f", pack_job], check=True)  # held mid-training, however fast it trains
    controller.kill()
    controller.wait()
    locked = crash_run(crashed, check=False)  # what the README's row answers
    assert locked.returncode != 0 and "LockException" in locked.stdout + locked.stderr
    crash_run(crashed, "--unlock")
    rerun = subprocess.Popen(cmd, cwd=crashed, env={**os.environ, **NO_SLURM}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)

    def logs() -> str:
        return "".join(p.read_text() for p in (crashed / "results/logs/packs").glob("*.log"))

    wait_until(lambda: "waiting until it ends" in logs(), "the rerun's pack job to wait for the orphan")
    subprocess.run(["pkill", "-CONT", "-f", pack_job], check=True)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out[-3000:]
    rerun_log = logs()  # the rerun's job (Snakemake removes a job's old log when it starts it again)
    assert "being computed by pid" in rerun_log and rerun_log.count(": complete, kept") == 2
    assert "train_pack" not in rerun_log  # nothing trained twice: the orphan's cells were kept
    crash_run(straight)
    a, b = (load(root / "results/crash/metrics.nc") for root in (crashed, straight))
    for var in ("redundancy_test", "knn_test", "logreg_test", "kmeans_purity_test", "net_loss_test"):
        np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
