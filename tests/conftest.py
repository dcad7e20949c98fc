"""Shared fixtures: real data roots, small trainers on scikit-learn's digits."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Where real datasets live for the tests (ACTHASH_DATA, default <repo>/data); MNIST fetched once."""
    from acthash.data import fetch

    root = Path(os.environ.get("ACTHASH_DATA", REPO / "data"))
    fetch("mnist", root)
    return root


def copy_workflow(root: Path) -> Path:
    """A copy of the workflow, config and profiles under `root`, to run Snakemake in isolation."""
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the copy in `workdir`; on failure raise with the end of its output."""
    cmd = ["snakemake", "-s", str(workdir / "workflow" / "Snakefile"), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc
