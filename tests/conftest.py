"""Shared fixtures and helpers: real data roots, small trainers on scikit-learn's digits, workflow copies."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.slurm_support"]  # the SLURM cluster fixture (slurm_cluster)
# `make test` runs the files on three workers (pytest-xdist, --dist loadfile, files in this order:
# --no-loadscope-reorder): the SLURM file, whose runs mostly wait on the cluster, starts first on one of them
# while the two others compute, each worker on one thread, so that they share the two cores instead of
# oversubscribing them (multi-threaded torch processes side by side slow each other about 10x here).
# The slowest files go first, so that what the SLURM worker takes on after its file is short. Timings:
# docs/benchmarks.md.
SLOWEST_FIRST = ("test_slurm.py", "test_workflow.py", "test_cnn.py", "test_cli.py", "test_faults.py",
                 "test_metrics_real.py", "test_metrics.py", "test_train.py", "test_cellcodes.py", "test_factors.py",
                 "test_data.py")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")  # subprocesses too
        torch.set_num_threads(1)


def pytest_report_header() -> list[str]:
    """The machine in the header, so that a red run on a new CPU can be read: floats of training depend on it."""
    from acthash.nets.device import blas_summary
    from acthash.store.machine import cpu_model

    return [f"cpu: {cpu_model()}", f"numerics: {blas_summary()}"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept otherwise


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Where real datasets live for the tests (ACTHASH_DATA, default <repo>/data); MNIST fetched once."""
    from acthash.data.sources import fetch

    root = Path(os.environ.get("ACTHASH_DATA", REPO / "data"))
    fetch("mnist", root)
    return root


def copy_workflow(root: Path) -> Path:
    """A copy of the workflow, config and profiles under `root`, to run Snakemake in isolation."""
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / folder, root / folder)
    return root


# Runs that do not use SLURM point SLURM's clients at an empty config: once the SLURM tests have installed a
# client and stopped their controller, the SLURM executor plugin's import-time `scontrol show config` would
# otherwise wait about 10 s for a controller in every Snakemake process (`make demo` does the same).
NO_SLURM = {"SLURM_CONF": "/dev/null"}


def snakemake(workdir: Path, *args: str, check: bool = True, slurm: bool = False) -> subprocess.CompletedProcess:
    """Run Snakemake on the copy in `workdir` (`slurm`: through the test cluster); on failure raise with the
    end of its output."""
    cmd = ["snakemake", "-s", str(workdir / "workflow" / "Snakefile"), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir,
                          env=None if slurm else {**os.environ, **NO_SLURM})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def reseal(f) -> None:
    """Seal an open cell file edited by a test as acthash seals the files it writes, so that the edit stands for
    a rewrite by acthash (another measurement) rather than damage."""
    from acthash.store.cellfile import cell_seal

    f.attrs["seal"] = cell_seal(f)


def make_trainer(cells, dtype: torch.dtype = torch.float64, device: str = "cpu"):
    """A quiet trainer of `cells` on scikit-learn's digits."""
    from acthash.data.samples import cell_samples
    from acthash.data.sources import load
    from acthash.nets.train import Trainer

    arrays = load("digits", ".")
    samples = [cell_samples(c, arrays.y_train, arrays.n_classes) for c in cells]
    return Trainer(cells, samples, arrays.x_train, arrays.x_test, arrays.y_test, arrays.n_classes, device,
                   dtype, log=lambda s: None)


def assert_member_results_equal(a, b) -> None:
    """Two trainer results of one member, bit for bit: history, stopping, and at every checkpoint the codes
    (stored bits, whole-row digests), the network's predictions, loss and accuracy, codes of random inputs."""
    assert (a.status, a.stopped_epoch, a.code_length) == (b.status, b.stopped_epoch, b.code_length)
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.lr, b.lr)
    assert [c.epoch for c in a.checkpoints] == [c.epoch for c in b.checkpoints]
    for ca, cb in zip(a.checkpoints, b.checkpoints):
        assert (ca.random is None) == (cb.random is None)
        for x, y in zip(ca.random or (), cb.random or ()):
            np.testing.assert_array_equal(x, y)
        for split in ("train", "test"):
            x, y = getattr(ca, split), getattr(cb, split)
            assert (x.loss_sum, x.correct) == (y.loss_sum, y.correct)
            for key in ("packed", "pred", "col_any", "col_all", "rows_for_redundancy"):
                np.testing.assert_array_equal(getattr(x, key), getattr(y, key))


def assert_pack_equals_alone(members, member_state, dtype: torch.dtype = torch.float32) -> None:
    """Train `members` as one pack and each alone: in float32 every member's results and state
    (`member_state(trainer, i)`) are bit-identical; in float64 the state agrees to rtol 1e-9 and the codes
    exactly (for stacked models whose sums a pack regroups)."""
    pack = make_trainer(members, dtype)
    results = pack.run()
    for i, cell in enumerate(members):
        alone = make_trainer([cell], dtype)
        res = alone.run()[0]
        if dtype == torch.float32:
            assert_member_results_equal(results[i], res)
            torch.testing.assert_close(member_state(pack, i), member_state(alone, 0), rtol=0, atol=0)
            continue
        np.testing.assert_allclose(results[i].loss, res.loss, rtol=1e-9)
        torch.testing.assert_close(member_state(pack, i), member_state(alone, 0), rtol=1e-9, atol=1e-12)
        for a, b in zip(results[i].checkpoints, res.checkpoints):
            for split in ("train", "test"):
                np.testing.assert_array_equal(getattr(a, split).packed, getattr(b, split).packed)
                np.testing.assert_array_equal(getattr(a, split).rows_for_redundancy,
                                              getattr(b, split).rows_for_redundancy)
