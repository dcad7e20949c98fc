"""The Keras cross-check (framework: keras): the released recipe in tf-keras, scored and merged like any cell.
The training test is skipped unless the extra is installed (pip install -e '.[keras]')."""

import dataclasses

import numpy as np
import pytest

from acthash.params.cell import Cell
from acthash.params.grid import expand
from acthash.run.runner import run_pack
from acthash.store.cellfile import read_cell

GRID = {"dataset": "digits", "n_train": 300, "width": [8, 32], "seed": [0], "checkpoints": [0, 2, 6],
        "early_stopping": False, "kmeans_n_init": 2, "framework": "keras"}


def test_keras_cells_train_read_and_measure_like_any_cell_and_repeat_exactly(tmp_path):
    pytest.importorskip("tf_keras", reason="the Keras cross-check needs pip install -e '.[keras]'")
    cells = expand(GRID)
    outs = run_pack(cells, [tmp_path / f"{c.param_hash}.h5" for c in cells], ".", tmp_path / "pack", "cpu")
    recs = [read_cell(o, c.param_hash) for o, c in zip(outs, cells)]
    for cell, rec in zip(cells, recs):
        assert list(rec.epochs) == [0, 2, 6] and rec.status == "ok"
        assert rec.metrics["code_bits_total"][-1] <= cell.width and np.isfinite(rec.metrics["knn_test"]).all()
        assert rec.metrics["net_acc_test"][-1] > 0.5 > rec.metrics["net_acc_test"][0]  # digits: learnt in 6 epochs
    # the torch trainer on the same recipe lands close by (the same model, another framework's numerics)
    torch_cells = [dataclasses.replace(c, framework="torch") for c in cells]
    torch_outs = run_pack(torch_cells, [tmp_path / f"t{c.param_hash}.h5" for c in torch_cells], ".",
                          tmp_path / "tpack", "cpu")
    for rec, out, cell in zip(recs, torch_outs, torch_cells):
        other = read_cell(out, cell.param_hash).metrics["net_acc_test"][-1]
        assert abs(rec.metrics["net_acc_test"][-1] - other) < 0.08  # measured: 0.04 and 0.00
    clipped = dataclasses.replace(cells[0], ce_clip=1e-7)  # standalone Keras 2.2's loss on clipped probabilities
    out = run_pack([clipped], [tmp_path / "clipped.h5"], ".", tmp_path / "pack3", "cpu")[0]
    assert read_cell(out, clipped.param_hash).metrics["net_acc_test"][-1] > 0.5
    again = run_pack(cells[:1], [tmp_path / "again.h5"], ".", tmp_path / "pack2", "cpu")
    np.testing.assert_array_equal(read_cell(again[0]).metrics["redundancy_train"], recs[0].metrics["redundancy_train"])
    np.testing.assert_array_equal(read_cell(again[0]).metrics["net_loss_test"], recs[0].metrics["net_loss_test"])


def test_keras_cells_run_the_released_recipe_only():
    with pytest.raises(ValueError, match="dropout=0.5: framework='keras' runs the released recipe"):
        Cell(framework="keras", dropout=0.5)
    assert Cell(framework="keras").param_hash != Cell().param_hash
    assert Cell(framework="torch").param_hash == Cell().param_hash  # the neutral value keeps every address
