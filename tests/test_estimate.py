"""`acthash estimate`: the cost model's arithmetic, its calibration files and the CLI on the shipped grids."""

import dataclasses
import json
import math
import subprocess

import numpy as np
import pytest

from acthash.data.sources import load
from acthash.params.cell import Cell
from acthash.params.datasets import DATASETS
from acthash.run.estimate import SHIPPED, Calibration, job_resources, pack_cost, report
from acthash.store.plan import Pack

from .conftest import REPO

CALIBRATION = Calibration("test machine", 1e-6, np.array([10, 100]), np.array([1.0, 4.0]))


def test_dataset_facts_match_the_loaded_data(data_root):
    for name, root in (("digits", "."), ("mnist", data_root)):
        arrays = load(name, root)
        d = DATASETS[name]
        assert (len(arrays.x_train), len(arrays.x_test), arrays.x_train.shape[1:]) == \
            (d.train_size, d.test_size, d.image_shape)
        assert math.prod(arrays.image_shape) == d.input_size
        assert set(np.unique(arrays.y_test)) == set(range(d.n_classes))


def test_pack_cost_counts_steps_units_checkpoints_and_bits():
    cell = Cell(width=40, n_train=1000, checkpoints=(0, 1, 4), batch_size=100)
    cost = pack_cost(Pack("p", "v", [cell]), CALIBRATION)
    steps = 48000 // 100 * 4  # tiled: 48 copies of 1 000 examples per epoch, 4 epochs
    assert cost.train_seconds == pytest.approx(1e-6 * 40 * steps)
    examples = (1000 + 10000) / 58000
    assert cost.measure_seconds == pytest.approx(3 * (1 + 30 / 90 * 3) * examples)  # interpolated at 40 bits
    assert cost.disk_bytes == 2 * 3 * 11000 * 5  # cell file and pack file, 3 checkpoints, 40 bits = 5 bytes
    probed = pack_cost(Pack("p", "v", [dataclasses.replace(cell, random_inputs="uniform01")]), CALIBRATION)
    assert probed.disk_bytes == 2 * cost.disk_bytes  # as many codes of random inputs
    two = pack_cost(Pack("p", "v", [cell, Cell(width=80, n_train=1000, checkpoints=(0, 1, 4), batch_size=100)]),
                    CALIBRATION)
    assert two.train_seconds == pytest.approx(3 * cost.train_seconds)  # 40 + 80 units
    fixed = dataclasses.replace(CALIBRATION, pack_step_seconds=2e-5)  # a step's cost whatever the units
    assert pack_cost(Pack("p", "v", [cell]), fixed).train_seconds == pytest.approx((2e-5 + 40e-6) * steps)
    assert pack_cost(two.pack, fixed).train_seconds == pytest.approx((2e-5 + 120e-6) * steps)  # once per pack
    assert CALIBRATION.measure(200, 58000) == pytest.approx(4 + 100 * 3 / 90)  # linear beyond the last length
    cnn = pack_cost(Pack("p", "v", [Cell(dataset="cifar10", arch="vgg16", width=64, n_train=1000)]), CALIBRATION)
    assert cnn.seconds is None


def test_keras_packs_cost_one_network_after_another_or_are_uncounted_without_calibration():
    cells = [Cell(framework="keras", width=w, n_train=1000, checkpoints=(0, 1, 4), batch_size=100) for w in (40, 100)]
    pack = Pack("p", "v", cells)
    keras = dataclasses.replace(CALIBRATION, keras_step_seconds=0.01, keras_step_seconds_width100=0.016,
                                keras_network_seconds=2.0, keras_first_graph_seconds=5.0)
    cost = pack_cost(pack, keras)
    steps = 48000 // 100 * 4
    assert cost.train_seconds == pytest.approx(5.0 + 2 * 2.0 + (0.01 + 0.016) * steps)  # widths 40 and 100
    assert keras.keras_step(10) == pytest.approx(0.007)  # linear in units below 40 too
    torch_cells = [dataclasses.replace(c, framework="torch") for c in cells]
    assert cost.measure_seconds == pytest.approx(pack_cost(Pack("p", "v", torch_cells), keras).measure_seconds)
    unknown = pack_cost(pack, CALIBRATION)
    assert unknown.seconds is None and unknown.disk_bytes == cost.disk_bytes > 0
    assert job_resources(pack, CALIBRATION)["runtime"] == 240
    cnn = pack_cost(Pack("q", "v", [Cell(dataset="cifar10", arch="vgg16", width=64, n_train=1000)]), CALIBRATION)
    text = report(["v"], [unknown, cnn, cost], CALIBRATION, "bench.json")
    assert "1 CNN pack jobs are not in the hours" in text
    assert "1 Keras pack jobs are not in the hours (the calibration has no `keras` benchmark" in text


def test_job_resources_are_twice_the_estimate_with_a_floor():
    slow = Calibration("slow machine", 1e-4, np.array([10, 100]), np.array([1.0, 4.0]))
    big = Pack("p", "v", [Cell(width=w, n_train=48000, checkpoints=(0, 200), batch_size=64) for w in (100, 200)])
    cost = pack_cost(big, slow)
    res = job_resources(big, slow)
    assert res["runtime"] == math.ceil(2 * cost.seconds / 60) > 30
    assert job_resources(big, slow, "train")["runtime"] == math.ceil(2 * cost.train_seconds / 60)
    assert job_resources(big, slow, "measure")["runtime"] == 30  # a few seconds: the floor
    codes_mb = 3 * cost.disk_bytes / 2 / 1e6
    assert res["mem_mb"] == math.ceil(4000 + 4 * 784 * 70000 / 1e6 + codes_mb)
    cnn = Pack("p", "v", [Cell(dataset="cifar10", arch="vgg16", width=64, n_train=1000)])
    assert job_resources(cnn, slow)["runtime"] == 240


def test_calibration_files(tmp_path):
    shipped = Calibration.load(SHIPPED)
    assert shipped.unit_step_seconds > 0 and (np.diff(shipped.measure_lengths) > 0).all()
    # a pack of 4 models, 100 units, 10 steps: 1 ms per step whatever the units, 10 µs per unit; alone, each
    # model pays the 1 ms
    bench = json.loads(SHIPPED.read_text()) | {"train_models": 4, "train_units": 100, "train_steps_per_epoch": 10,
                                               "stacked_seconds": 10 * (1e-3 + 100 * 1e-5),
                                               "one_by_one_pack_of_one_seconds": 10 * (4 * 1e-3 + 100 * 1e-5)}
    (tmp_path / "two_parts.json").write_text(json.dumps(bench))
    two_parts = Calibration.load(tmp_path / "two_parts.json")
    assert two_parts.pack_step_seconds == pytest.approx(1e-3) and two_parts.unit_step_seconds == pytest.approx(1e-5)
    for odd in ({"one_by_one_pack_of_one_seconds": 0.01},  # packs of one faster than the pack: all per unit
                {"train_models": 1}):  # one model: nothing to tell the parts apart
        (tmp_path / "odd.json").write_text(json.dumps(bench | odd))
        per_unit_only = Calibration.load(tmp_path / "odd.json")
        assert per_unit_only.pack_step_seconds == 0 and per_unit_only.unit_step_seconds == pytest.approx(2e-5)
    (tmp_path / "none.json").write_text(json.dumps(bench | {"train_units": 0}))
    with pytest.raises(ValueError, match="none.json: the training benchmark counts no steps, models or units"):
        Calibration.load(tmp_path / "none.json")
    bad = tmp_path / "bench.json"
    bad.write_text(json.dumps({"device": "cpu"}))
    with pytest.raises(ValueError, match="bench.json: not a `make bench` result"):
        Calibration.load(bad)


def test_estimate_cli_on_the_shipped_grids(tmp_path):
    from acthash.params.config import resolve_file
    from acthash.params.layout import Layout
    from acthash.store.plan import plan_work

    for experiments in ("mnist_width", "all"):
        out = subprocess.run(["acthash", "estimate", experiments, "--results", str(tmp_path),
                              "--config", str(REPO / "config" / "config.yaml")],
                             capture_output=True, text=True, check=True).stdout
        packs = plan_work(resolve_file(REPO / "config" / "config.yaml", experiments), Layout(str(tmp_path))).packs
        assert f"jobs: {len(packs)} on the cluster" in out
        assert f"cells to compute: {sum(len(p.cells) for p in packs)}" in out
        assert "machine hours on the calibration machine" in out and "largest job: pack" in out


def test_estimate_cli_takes_config_overrides(tmp_path):
    """`--set` as the workflow's --config (the Keras cross-check of docs/reproduction): the overrides reach the
    plan, whose packs `pack_cost` prices (its Keras arithmetic: the test above)."""
    from acthash.params.config import resolve_file
    from acthash.params.layout import Layout
    from acthash.store.plan import plan_work

    overrides = {"framework": "keras", "width": [10, 40], "seed": [0, 1], "view": "keras"}
    out = subprocess.run(["acthash", "estimate", "mnist_width", "--results", str(tmp_path), "--set",
                          "framework=keras", "width=[10, 40]", "seed=[0,1]", "view=keras"],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    packs = plan_work(resolve_file(REPO / "config" / "config.yaml", "mnist_width", **overrides),
                      Layout(str(tmp_path))).packs
    assert "views: mnist_width@keras" in out and "cells to compute: 4" in out
    want = sum(pack_cost(p, Calibration.load(SHIPPED)).seconds for p in packs)
    assert f"machine hours on the calibration machine: {want / 3600:.2f} h" in out  # 8 minutes
    bad = subprocess.run(["acthash", "estimate", "mnist_width", "--set", "framework"], capture_output=True,
                         text=True, cwd=REPO)
    assert bad.returncode != 0 and "--set framework: not KEY=VALUE" in bad.stderr
    bad = subprocess.run(["acthash", "estimate", "mnist_width", "--set", "experiments=demo"], capture_output=True,
                         text=True, cwd=REPO)
    assert bad.returncode != 0 and "--set experiments: give it as the experiments argument" in bad.stderr
