"""Grid expansion, packing, the packs a run needs, status and the notebook API, on real (tiny) cell files."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import acthash
from acthash.analysis.merge import merge_files
from acthash.params.cell import FIELDS, Cell
from acthash.params.config import View
from acthash.params.grid import expand, packs
from acthash.params.layout import Layout, pack_id
from acthash.params.phase_rule import PhaseRule
from acthash.run.locks import lock_path
from acthash.run.pack import remeasure, train_pack
from acthash.run.runner import run_layout_pack, run_pack
from acthash.run.status import status
from acthash.store.cellfile import open_checked, read_cell, read_codes
from acthash.store.plan import Pack, Work, plan_work, read_work, write_plan, write_work

from .conftest import reseal
from .synthetic import SMALL, small_cell

BASE = {**SMALL, "checkpoints": [0, 2], "early_stopping": False, "kmeans_n_init": 2}


def test_expand_is_the_full_factorial_product_in_axis_order():
    cells = expand({**BASE, "width": [4, 8, 16], "seed": [0, 1], "n_train": [100, 300], "lr": 0.02})
    assert len(cells) == 12 and len({c.param_hash for c in cells}) == 12
    assert {c.lr for c in cells} == {0.02} and cells[0].checkpoints == (0, 2)
    assert [(c.width, c.n_train, c.seed) for c in cells[:3]] == [(4, 100, 0), (4, 100, 1), (4, 300, 0)]
    with pytest.raises(ValueError, match="n_train=2000: exceeds the digits training split"):
        expand({**BASE, "n_train": [100, 2000]})


def test_packs_group_by_every_parameter_but_the_pack_over_axes():
    cells = expand({**BASE, "width": [4, 8, 16], "seed": [0, 1], "n_train": [100, 300]})
    by = packs(cells, ("width", "seed"), 4)
    assert sorted(len(m) for m in by) == [2, 2, 4, 4]  # two n_train groups of 6, split at 4
    for members in by:
        assert len({c.n_train for c in members}) == 1
    assert len(packs(cells, ("width", "seed", "n_train"), 64)) == 1
    cnn = expand({**BASE, "arch": "resnet20", "width": [2, 4], "seed": [0, 1]})
    assert sorted(sorted((c.width, c.seed) for c in m) for m in packs(cnn)) == \
        [[(2, 0), (2, 1)], [(4, 0), (4, 1)]]  # a CNN pack holds one width


def _view(name: str, cells: list[Cell]) -> View:
    return View(name, "tiny", {}, cells, PhaseRule(), ("width", "seed"), 64)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A results tree with two views sharing cells; the cells of view `a` computed by the runner."""
    root = tmp_path_factory.mktemp("results")
    layout = Layout(str(root))
    a = _view("a", expand({**BASE, "width": [4, 12], "seed": [0, 1]}))
    b = _view("b", expand({**BASE, "width": [12, 20], "seed": [0]}))
    for view in (a, b):
        write_plan(view.plan(), layout.plan(view.name))
    (pack,) = plan_work([a], layout).packs
    run_layout_pack(pack.cells, layout, ".", "cpu", pid=pack.id)
    return layout, a, b


def test_only_cells_without_a_complete_file_are_packed_each_once(tree):
    layout, a, b = tree
    assert plan_work([a], layout).packs == []
    work = plan_work([a, b, b], layout)
    assert [(p.view, sorted(c.width for c in p.cells)) for p in work.packs] == [("b", [20])] and not work.damaged
    assert {s.state for s in work.states.values()} == {"done", "missing"} and work.remeasure == []
    fresh = _view("c", expand({**BASE, "width": [30], "seed": [0, 1]}))
    both = plan_work([fresh, dataclasses.replace(fresh, name="d")], layout).packs
    assert len(both) == 1 and both[0].view == "c"  # a cell two views share is computed once


def test_damaged_files_are_planned_for_repair_with_a_fresh_pack_id(tree, tmp_path):
    layout, a, _ = tree
    copy = Layout(str(tmp_path / "r"))
    shutil.copytree(layout.root, copy.root)
    victim = a.cells[0].param_hash
    path = copy.cell(victim)
    with open(path, "r+b") as f:
        f.truncate(1000)
    work = plan_work([a], copy)
    (pack,) = work.packs
    assert [c.param_hash for c in pack.cells] == [victim] and "not a readable HDF5" in work.damaged[victim]
    assert pack.id != pack_id([f"{victim}:missing"])  # not the id of a plain first run of this cell
    run_layout_pack(pack.cells, copy, ".", "cpu", pid=pack.id)
    assert plan_work([a], copy).packs == []
    assert len(list((tmp_path / "r/cells/damaged").iterdir())) == 1


def test_one_module_decides_every_cell_state_reading_each_file_once(tree, tmp_path, monkeypatch):
    """The plan (packs, re-measurements, damage) and `status` take each cell's state from `cellstate`, which
    reads each existing file once however many views list it."""
    import h5py

    from acthash.store import cellstate

    layout, a, b = tree
    copy = Layout(str(tmp_path / "r"))
    shutil.copytree(layout.root, copy.root)
    done, truncated, other, lacking = (c.param_hash for c in a.cells)
    new = next(c.param_hash for c in b.cells if c.param_hash not in {done, truncated, other, lacking})
    with open(copy.cell(truncated), "r+b") as f:
        f.truncate(1000)
    shutil.copy(copy.cell(done), copy.cell(other))  # a file of other parameters at this cell's address
    with h5py.File(copy.cell(lacking), "a") as f:
        del f["metrics/logreg_test"]  # measured before the metric existed
        reseal(f)
    reads, read = [], cellstate.read_cell
    monkeypatch.setattr(cellstate, "read_cell", lambda path, h: reads.append(path) or read(path, h))
    work = plan_work([a, b, a], copy)
    assert {h: s.state for h, s in work.states.items()} == \
        {done: "done", truncated: "damaged", other: "damaged", lacking: "unmeasured", new: "missing"}
    assert len(reads) == len(set(reads)) == 4  # the missing file is not opened
    assert "made with other parameters" in work.damaged[other] and "not a readable HDF5" in work.damaged[truncated]
    assert [c.param_hash for c in work.remeasure] == [lacking]
    assert sorted(c.param_hash for p in work.packs for c in p.cells) == sorted([truncated, other, new])
    table = status(copy.root).drop_duplicates("hash").set_index("hash")["state"]
    assert table.to_dict() == {h: s.state for h, s in work.states.items()}


def test_leftovers_of_killed_writers_are_removed_and_the_pack_completes(tmp_path):
    """Temporary files a killed job left (a cell file half written in the staging folder or beside the cells,
    the codes file, the training state) neither block nor mislead the next run of the pack: it removes them."""
    from acthash.params.layout import work_files

    layout = Layout(str(tmp_path / "r"))
    cells = [small_cell(width=w, checkpoints=(0, 1), kmeans_n_init=2) for w in (4, 6)]
    codes, state, staged = work_files(layout.pack_work(pack_id(c.param_hash for c in cells)))
    first = Path(layout.cell(cells[1].param_hash))
    junk = [staged / f".{cells[0].param_hash}.h5.tmp99999", first.with_name(f".{first.name}.tmp4"),
            codes.with_name(f".{codes.name}.tmp7"), state.with_name(f".{state.name}.tmp8")]
    for path in junk:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half written")
    outs = run_layout_pack(cells, layout, ".", device="cpu")
    assert [read_cell(o).params["width"] for o in outs] == [4, 6]
    assert not [p for p in junk if p.exists()] and not staged.exists()


@pytest.mark.parametrize("damage, said", [
    ("flip", "the stored codes of epoch 1 changed since they were written (their seal does not match)"),
    ("drop", "the stored codes of epoch 1 are incomplete"),  # h5py's KeyError for a lost group
])
def test_a_pack_codes_file_with_damaged_codes_is_trained_again(tmp_path, capsys, damage, said):
    """A flipped bit in a pack's codes file (left by a training job for its measuring job) breaks a codes seal,
    a lost checkpoint group leaves h5py to raise: the next run of the pack trains again instead of failing on it
    every time."""
    import h5py

    from acthash.params.layout import work_files

    layout = Layout(str(tmp_path / "r"))
    cells = [small_cell(width=w, checkpoints=(0, 1), kmeans_n_init=2) for w in (4, 6)]
    pid = pack_id(c.param_hash for c in cells)
    run_layout_pack(cells, layout, ".", device="cpu", train_only=True)
    codes = work_files(layout.pack_work(pid))[0]
    with h5py.File(codes, "a") as f:
        if damage == "flip":
            f["members/0000/codes/1/train"][0, 0] ^= 1
        else:
            del f["members/0001/codes/1"]
    outs = run_layout_pack(cells, layout, ".", device="cpu", pid=pid)
    err = capsys.readouterr().err
    assert f"{codes}: " in err and said in err and "training the pack again" in err
    assert [read_cell(o).params["width"] for o in outs] == [4, 6]


def test_cell_files_from_before_a_neutral_parameter_existed_stay_readable(tree, tmp_path):
    """A cell file written before some parameters existed (its params lack them) reads, merges and re-measures
    with their neutral values, at its address; one lacking a parameter with no neutral value is damaged, by
    name."""
    import h5py

    layout, a, _ = tree
    copy = Layout(str(tmp_path / "r"))
    shutil.copytree(layout.root, copy.root)
    old, broken = (copy.cell(c.param_hash) for c in a.cells[:2])
    added = [n for n, f in FIELDS.items() if f.metadata["neutral"] is not None]
    assert {"code_bn", "sgd_momentum"} <= set(added)
    stored = {}
    for path, drop in ((old, added), (broken, ["width"])):
        with h5py.File(path, "a") as f:  # as a version before those parameters wrote and sealed it
            stored[path] = f.attrs["params"]
            f.attrs["params"] = json.dumps({k: v for k, v in json.loads(stored[path]).items() if k not in drop})
            reseal(f)
    work = plan_work([a], copy)
    assert work.states[a.cells[0].param_hash].state == "done"
    assert work.states[a.cells[1].param_hash].detail == "corrupt, lacks 'parameter width'"
    assert read_cell(old).params == a.cells[0].params()
    with h5py.File(broken, "a") as f:
        f.attrs["params"] = stored[broken]
        reseal(f)
    ds = merge_files(copy.plan("a"), [copy.cell(c.param_hash) for c in a.cells], tmp_path / "a.nc")
    assert int(ds.sizes["width"]) == 2 and ds.attrs["view"] == "a"
    assert remeasure(old)[1] == Path(old)  # the same address: the neutral values leave the hash unchanged


def test_a_registered_metric_nothing_computes_stops_the_cell_file_from_being_written(tree, tmp_path, monkeypatch):
    from acthash.params import registry

    layout, a, _ = tree
    path = tmp_path / "cell.h5"
    shutil.copy(layout.cell(a.cells[0].param_hash), path)
    before = path.read_bytes()
    fake = registry.Metric("fake_metric", "code", "a metric nothing computes", "1", "registered, never computed")
    monkeypatch.setattr(registry, "METRICS", registry.METRICS + (fake,))
    monkeypatch.setattr(registry, "BY_NAME", {**registry.BY_NAME, "fake_metric": fake})
    with pytest.raises(RuntimeError, match=r"missing \['fake_metric'\], not registered \[\]"):
        remeasure(path)
    assert path.read_bytes() == before  # nothing written
    kept = tuple(m for m in registry.METRICS if m.name not in ("code_bits_total", "fake_metric"))
    monkeypatch.setattr(registry, "METRICS", kept)
    with pytest.raises(RuntimeError, match=r"missing \[\], not registered \['code_bits_total'\]"):
        remeasure(path)  # computed but no longer registered
    assert path.read_bytes() == before


def test_a_metric_of_the_codes_is_added_by_its_registry_entry_alone(tree, tmp_path, monkeypatch):
    """A registered metric with a `compute` is measured from the stored codes, written, and merged with its
    long name: no other source changes."""
    from acthash.params import registry
    from acthash.store.bits import unpack_bits

    layout, a, _ = tree
    copy = Layout(str(tmp_path / "r"))
    shutil.copytree(layout.root, copy.root)
    active = registry.Metric("active_test", "code", "active units, test", "1", "fraction of test code bits on",
                             compute=lambda codes: codes.test.mean())
    monkeypatch.setattr(registry, "METRICS", registry.METRICS + (active,))
    monkeypatch.setattr(registry, "BY_NAME", {**registry.BY_NAME, "active_test": active})
    paths = [copy.cell(c.param_hash) for c in a.cells]
    assert plan_work([a], copy).remeasure  # the files lack it: the plan re-measures them
    for path in paths:
        remeasure(path)
        with open_checked(path) as f:
            cell = read_cell(path)
            for i, epoch in enumerate(cell.epochs):
                stored = read_codes(f, int(epoch))
                test = unpack_bits(stored.test, len(stored.keep))[:, stored.keep]
                assert cell.metrics["active_test"][i] == pytest.approx(test.mean())
    ds = merge_files(copy.plan("a"), paths, tmp_path / "a.nc")
    assert ds["active_test"].attrs["long_name"] == "active units, test"
    assert np.isfinite(ds["active_test"]).all()


def test_status_counts_and_merge_reads_the_tree(tree, tmp_path):
    layout, a, b = tree
    table = status(layout.root)
    assert table.groupby(["view", "state"]).size().to_dict() == \
        {("a", "done"): 4, ("b", "done"): 1, ("b", "missing"): 1}
    ds = merge_files(layout.plan("a"), [layout.cell(c.param_hash) for c in a.cells], tmp_path / "a.nc")
    assert dict(ds.sizes) == {"width": 2, "epoch": 2, "n_train": 1, "seed": 2, "epoch_trained": 2}
    assert ds.attrs["view"] == "a" and np.isfinite(ds["knn_test"]).all()


def test_the_notebook_api_is_callable_every_time_and_listed(tree, tmp_path):
    layout, a, _ = tree
    first, second = acthash.status(layout.root), acthash.status(layout.root)
    assert first.equals(second)
    assert {"load", "status", "regime_map", "metric_lines", "run_cells"} <= set(dir(acthash))
    assert "annotations" not in dir(acthash)
    ds = merge_files(layout.plan("a"), [layout.cell(c.param_hash) for c in a.cells], tmp_path / "a.nc")
    fig = acthash.metric_lines(ds, x="width", hue="seed")
    assert len(fig.axes[0].lines) == 2  # one line per seed
    assert isinstance(acthash.regime_map(acthash.load(tmp_path / "a.nc"), "width", "epoch"), matplotlib.axes.Axes)


def test_merge_takes_from_receipts_only_the_cells_of_its_view(tree, tmp_path):
    layout, a, _ = tree
    receipt = tmp_path / "receipt.json"  # a pack shared with another view also wrote cells not in this one
    files = [layout.cell(c.param_hash) for c in a.cells] + [str(tmp_path / "ffffffffffffffff.h5")]
    receipt.write_text(json.dumps({"cells": files}))
    subprocess.run(["acthash", "merge", "--plan", layout.plan("a"), "--receipts", str(receipt), "--staged",
                    str(tmp_path / "s.nc"), "--out", str(tmp_path / "m.nc")], check=True, capture_output=True)
    assert acthash.load(tmp_path / "m.nc").sizes["width"] == 2


def test_remeasuring_with_other_parameters_keeps_the_addressed_file(tree, tmp_path, capfd):
    """The new cell goes beside the old file under its own hash, written under its own lock: while another
    process holds that lock (a pack computing the same cell), the re-measurement waits for it; a cell that
    process completes meanwhile is kept, one that was there before is measured again."""
    layout, a, _ = tree
    copy = Layout(str(tmp_path / "r"))
    shutil.copytree(layout.root, copy.root)
    path = Path(copy.cell(a.cells[0].param_hash))
    before = path.read_bytes()
    target = path.with_name(f"{dataclasses.replace(a.cells[0], knn_k=1).param_hash}.h5")
    def hold(then: str = "") -> subprocess.Popen:
        """Another process holding the new cell's lock for a second, then doing `then` before it lets go."""
        code = ("import fcntl, os, sys, time; f = open(sys.argv[1], 'a+'); fcntl.lockf(f, fcntl.LOCK_EX); "
                f"f.write('pid 1 on the test'); f.flush(); print('held', flush=True); time.sleep(1); {then}")
        holder = subprocess.Popen([sys.executable, "-c", code, str(lock_path(target))], stdout=subprocess.PIPE,
                                  text=True)
        assert holder.stdout.readline() == "held\n"
        return holder

    holder = hold()
    metrics, out = remeasure(path, knn_k=1)
    holder.wait()
    assert f"cell {target.stem}: being computed by pid 1 on the test" in capfd.readouterr().err
    assert out == target and path.read_bytes() == before and "knn_test" in metrics
    assert plan_work([a], copy).packs == []
    made = target.read_bytes()
    target.rename(target.with_suffix(".made"))  # the other process completes the cell while this one waits
    holder = hold(f"os.replace({str(target.with_suffix('.made'))!r}, {str(target)!r})")
    inode = target.with_suffix(".made").stat().st_ino
    assert remeasure(path, knn_k=1)[1] == target and target.stat().st_ino == inode and target.read_bytes() == made
    holder.wait()
    assert remeasure(path, knn_k=1)[1] == target and target.stat().st_ino != inode  # there before: written again


def test_an_interrupted_pack_job_reuses_its_codes_and_measured_cells(tmp_path, capfd):
    cells = expand({**BASE, "width": [4, 8], "seed": [0]})
    work = tmp_path / "packs" / "p"
    train_pack(cells, ".", work.with_name("p.h5"), "cpu")  # the job died after training, before measuring
    outs = [tmp_path / "cells" / f"{c.param_hash}.h5" for c in cells]
    capfd.readouterr()
    run_pack(cells, outs, ".", work, "cpu")
    err = capfd.readouterr().err
    assert "codes of every cell already in" in err and "epoch 2/2" not in err
    assert all(read_cell(o, o.stem).status == "ok" for o in outs) and not list((tmp_path / "packs").iterdir())


def test_the_work_file_keeps_the_packs_and_plans_of_an_earlier_parse_for_jobs_still_queued(tmp_path):
    """A second main-process parse of the same views (a dry run, a report) writes its packs first and keeps the
    earlier ones: a job of the first run still finds its pack; the cells read back equal the written ones."""
    cells = [small_cell(width=w) for w in (4, 8, 16)]
    path = tmp_path / "work.json"
    write_work(Work([Pack("a" * 16, "v", cells[:2])], [cells[2]], {"v": {"cells": 1}, "w": {"cells": 2}}), path)
    write_work(Work([Pack("b" * 16, "v", cells[2:])], [], {"v": {"cells": 3}}), path)
    work = read_work(path)
    assert [p.id for p in work.packs] == ["b" * 16, "a" * 16] and work.packs[1].cells == cells[:2]
    assert work.remeasure == [cells[2]] and work.states == {}
    assert work.plans == {"v": {"cells": 3}, "w": {"cells": 2}}  # the newer parse's plan of a view wins
    path.write_text("{")
    with pytest.raises(ValueError, match="work file cannot be read"):
        read_work(path)
