"""The trainer benchmark's machinery (never its timings): the architecture it counts against real models, and the
side-by-side run of the current tree and an older commit's trainer in their own processes."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from .conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import trainer_floor  # noqa: E402
from trainer_epoch import GRIDS  # noqa: E402


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_the_floor_counts_the_parameters_and_products_of_the_grids_networks(name):
    """Parameters: those of each member written as a plain torch MLP (Linear → BatchNorm1d blocks, a Linear head);
    multiply-adds: each Linear's forward once and its backward twice, except the first layer's input gradient."""
    g = GRIDS[name]
    d, depth, widths, seeds, batch = int(np.prod(g.record.image_shape)), g.depth, g.widths, g.seeds, trainer_floor.BATCH
    params = macs = 0
    for w in widths:
        layers = [torch.nn.Linear(d, w)] + [torch.nn.Linear(w, w) for _ in range(depth - 1)]
        net = torch.nn.Sequential(*[m for lin in layers for m in (lin, torch.nn.BatchNorm1d(w))],
                                  torch.nn.Linear(w, g.record.n_classes))
        params += sum(p.numel() for p in net.parameters())
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        macs += sum(lin.weight.numel() * batch * (2 if i == 0 else 3) for i, lin in enumerate(linears))
    arch = trainer_floor.architecture(name)
    assert arch["parameters"] == seeds * params
    assert arch["first_macs"] + arch["deeper_macs"] + arch["head_macs"] == seeds * macs
    assert arch["hidden_units"] == seeds * depth * sum(widths)


def test_the_baseline_trainer_runs_from_its_commit_beside_the_current_one(tmp_path):
    """The baseline's `src/` comes out of git at its commit (acthash 0.3.0) and trains the demo pack in its own
    process, as the current tree does."""
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{trainer_floor.BASELINE}^{{commit}}"]).returncode:
        pytest.skip(f"a shallow clone: commit {trainer_floor.BASELINE} is not in it")
    old = trainer_floor.baseline_src(trainer_floor.BASELINE, tmp_path)
    assert old is not None and '__version__ = "0.3.0"' in (old / "acthash" / "__init__.py").read_text()
    assert trainer_floor._epoch_in_process("demo_pack", 0, old) == []  # its warm-up epoch trained, none timed
    seconds = trainer_floor._epoch_in_process("demo_pack", 1, REPO / "src")
    assert len(seconds) == 1 and seconds[0] > 0
    assert trainer_floor.baseline_src("no-such-commit", tmp_path / "x") is None
    with pytest.raises(RuntimeError, match="the timed process imported"):  # a tree without acthash: not timed
        trainer_floor._epoch_in_process("demo_pack", 0, tmp_path / "x")
