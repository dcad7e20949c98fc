"""The stacked trainer against single-model training, early stopping, divergence and resume (digits, float64)."""

import dataclasses
import re

import numpy as np
import pytest
import torch

from acthash.nets.train import check_packable
from acthash.nets.trainstate import STATE_FORMAT, load_state, save_state
from acthash.params.cell import Cell

from .conftest import assert_member_results_equal, assert_pack_equals_alone, make_trainer
from .synthetic import small_cell

BASE = small_cell(width=8, n_train=600, checkpoints=(0, 1, 2), batch_size=32, lr=5e-3)
MEMBERS = [
    dataclasses.replace(BASE, width=5, seed=1),
    dataclasses.replace(BASE, width=12, seed=2, weight_decay=1e-3),
    dataclasses.replace(BASE, width=8, seed=3, dropout=0.3),
    dataclasses.replace(BASE, width=9, seed=4, label_noise=0.4, subset="stratified_random"),
]


# same seed and rows: one input group sharing a wide first layer, differing in width, decay, dropout, noise
SHARED = [
    dataclasses.replace(BASE, width=5, seed=7),
    dataclasses.replace(BASE, width=12, seed=7, weight_decay=1e-3),
    dataclasses.replace(BASE, width=8, seed=7, dropout=0.3),
    dataclasses.replace(BASE, width=9, seed=7, label_noise=0.4),
    dataclasses.replace(BASE, width=6, seed=8),
]


def member_weights(trainer, i):
    return torch.cat([k.flatten() for k in trainer.model.member_layers(i)])


@pytest.mark.parametrize("members", [MEMBERS, SHARED], ids=["own-groups", "shared-group"])
def test_each_member_of_a_pack_equals_training_it_alone(members):
    """Float32, bit for bit: a member's arithmetic does not depend on the rest of its pack."""
    if members is SHARED:
        assert make_trainer(members).model.groups == [0, 0, 0, 0, 1]
    assert_pack_equals_alone(members, member_weights)


def test_members_in_several_width_buckets_with_ghost_rows_equal_training_each_alone(monkeypatch):
    """Depth 2 with dropout, decay and label noise in two width buckets (no cost per bucket: width 5 beside a
    ghost row, three of width 40), the logits back through the buckets' reordering: bit for bit as each member
    alone."""
    from acthash.nets import mlp

    monkeypatch.setattr(mlp, "BUCKET_CALL_COST", 0)
    members = [dataclasses.replace(m, depth=2, width=m.width if i == 0 else 40, n_train=300, checkpoints=(0, 1))
               for i, m in enumerate(MEMBERS)]
    model = make_trainer(members).model
    assert len(model.buckets) == 2 and any(int(b.ids.max()) == len(members) for b in model.buckets)  # a ghost row
    assert assert_pack_equals_alone(members, member_weights) is None


@pytest.mark.parametrize("recipe", [{}, {"depth": 2, "optimizer": "sgd", "sgd_momentum": 0.9}],
                         ids=["adam", "depth2-sgd"])
def test_a_cell_has_the_same_numbers_alone_and_in_any_pack(recipe):
    """One cell trained alone and inside two different packs (other widths, seeds, rows, decay, dropout, a
    shared input group, a wider widest member), in float32 with early stopping on: bit-identical losses,
    stopping epoch, codes, predictions and network metrics at every checkpoint."""
    cell = dataclasses.replace(BASE, width=7, seed=7, patience=1, lr=5e-2, checkpoints=(0, 1, 4, 8), **recipe)
    packs = [[dataclasses.replace(m, lr=5e-2, patience=1, checkpoints=cell.checkpoints, **recipe) for m in group] + [cell]
             for group in (MEMBERS, SHARED)]
    packs[1].append(dataclasses.replace(cell, width=40, seed=9))
    alone = make_trainer([cell], torch.float32).run()[0]
    assert alone.stopped_epoch is not None  # early stopping was exercised
    for pack in packs:
        trainer = make_trainer(pack, torch.float32)
        assert_member_results_equal(trainer.run()[pack.index(cell)], alone)


def test_pack_rejects_cells_that_cannot_share_a_model():
    with pytest.raises(ValueError, match="'depth'"):
        check_packable([BASE, dataclasses.replace(BASE, depth=2)], [100, 100])
    with pytest.raises(ValueError, match="rows per tiled epoch"):
        check_packable([BASE, BASE], [100, 90])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_stopped_member_is_frozen_while_others_train(optimizer):
    cells = [dataclasses.replace(BASE, seed=s, patience=1, optimizer=optimizer) for s in (1, 2)]
    trainer = make_trainer(cells)
    trainer.train_epoch()  # moments / momentum buffers are non-zero: a stopped member would keep moving
    trainer.best = [0.0, 1.0]
    trainer._end_epoch(np.array([0.5, 0.1]), np.array([0.0, 0.0]))  # member 0 did not improve: patience 1 hit
    assert trainer.active.tolist() == [False, True]
    assert trainer.results[0].stopped_epoch == trainer.epoch
    before = [member_weights(trainer, i).clone() for i in range(2)]
    running = trainer.model.norm0.running_mean.clone()
    state = [s.clone() for s in trainer.opt.state_dict()["m" if optimizer == "adam" else "b"]]
    trainer.train_epoch()
    torch.testing.assert_close(member_weights(trainer, 0), before[0], rtol=0, atol=0)
    after = trainer.opt.state_dict()["m" if optimizer == "adam" else "b"]
    head = [name for name, _ in trainer.model.named_parameters()].index("buckets.0.head")  # (row, classes, units)
    rows = [trainer.model.where[i][1] for i in range(2)]
    torch.testing.assert_close(after[head][rows[0]], state[head][rows[0]], rtol=0, atol=0)  # its optimizer state too
    assert not torch.equal(after[head][rows[1]], state[head][rows[1]])
    torch.testing.assert_close(trainer.model.norm0.running_mean[0], running[0], rtol=0, atol=0)
    assert not torch.equal(member_weights(trainer, 1), before[1])


def test_once_every_member_has_stopped_the_run_skips_to_its_checkpoints():
    """Epochs after the last member stopped change nothing; skipping them gives the same results."""
    cells = [dataclasses.replace(BASE, seed=s, patience=1, lr=5e-2, checkpoints=(0, 2, 30, 40)) for s in (1, 2)]
    skipping, full = make_trainer(cells), make_trainer(cells)
    full.all_stopped = lambda: False  # the run without the shortcut: every epoch, members masked
    logs = []
    skipping.log = logs.append
    a, b = skipping.run(), full.run()
    assert any("every member has stopped" in line for line in logs) and skipping.epoch == 40
    assert all(r.stopped_epoch and r.stopped_epoch < 30 for r in a)
    for x, y in zip(a, b):
        assert x.loss == y.loss and x.lr == y.lr and x.stopped_epoch == y.stopped_epoch
        assert [c.epoch for c in x.checkpoints] == [c.epoch for c in y.checkpoints] == [0, 2, 30, 40]
        for cx, cy in zip(x.checkpoints, y.checkpoints):
            np.testing.assert_array_equal(cx.train.packed, cy.train.packed)
            np.testing.assert_array_equal(cx.test.packed, cy.test.packed)


def test_diverged_member_is_marked_and_does_not_disturb_the_others():
    cells = [dataclasses.replace(BASE, seed=s) for s in (1, 2)]
    trainer = make_trainer(cells)
    with torch.no_grad():
        trainer.model.kernel0[0, 0, 0] = float("nan")
    results = trainer.run()
    assert results[0].status == "diverged" and results[0].stopped_epoch == 1
    assert results[0].checkpoints[0].epoch == 0 and len(results[0].checkpoints) == 1
    alone = make_trainer([cells[1]]).run()[0]
    np.testing.assert_allclose(results[1].loss, alone.loss, rtol=1e-9)


def test_learning_rate_decays_after_each_lr_step_epochs():
    """Epochs are 1-based: lr for epochs 1..lr_step, lr·decay from epoch lr_step + 1 (the reference)."""
    cell = dataclasses.replace(BASE, checkpoints=(0, 5), lr_step=2, lr_decay=0.5, early_stopping=False)
    history = make_trainer([cell]).run()[0].lr
    np.testing.assert_allclose(history, [5e-3, 5e-3, 2.5e-3, 2.5e-3, 1.25e-3])


def test_training_state_is_read_back_as_plain_data_only_and_a_bad_one_is_set_aside(tmp_path):
    """The state file holds tensors, numbers and strings: it loads with weights_only=True. A file that would
    unpickle an object is refused rather than run, and one cut short does not block its pack: each is moved to
    `.damaged`, named in the log, and the run trains from the start. A state of another version's layout is moved
    to `.old` the same way."""
    trainer = make_trainer(MEMBERS[:2])
    trainer.evaluate()
    save_state(trainer, tmp_path / "s.pt")
    torch.load(tmp_path / "s.pt", weights_only=True)
    evil, cut = tmp_path / "evil.pt", tmp_path / "cut.pt"
    torch.save({"hashes": [c.param_hash for c in MEMBERS[:2]], "x": Cell()}, evil)
    cut.write_bytes((tmp_path / "s.pt").read_bytes()[:500])
    for path, why in ((evil, "[Ww]eights only load failed"), (cut, "")):
        logs = []
        fresh = make_trainer(MEMBERS[:2])
        fresh.log = logs.append
        assert not load_state(fresh, path) and fresh.epoch == 0
        assert not path.exists() and path.with_name(path.name + ".damaged").exists()
        assert re.search(f"training state {path} unreadable .*{why}.*training from the start", logs[0]), logs
    older = tmp_path / "older.pt"  # a state of another version's layout: set aside, not loaded
    torch.save({**torch.load(tmp_path / "s.pt", weights_only=True), "format": STATE_FORMAT - 1}, older)
    logs, fresh = [], make_trainer(MEMBERS[:2])
    fresh.log = logs.append
    assert not load_state(fresh, older) and fresh.epoch == 0 and older.with_name("older.pt.old").exists()
    assert re.search("another layout \\(format .* of another acthash version.*training from the start", logs[0]), logs
    other = tmp_path / "other.pt"  # tensors of another bucket plan: set aside before anything is loaded
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    state["model"] = {**state["model"], "kernel0": state["model"]["kernel0"][:, :-1]}
    torch.save(state, other)
    logs, fresh = [], make_trainer(MEMBERS[:2])
    before = fresh.model.kernel0.clone()
    fresh.log = logs.append
    assert not load_state(fresh, other) and torch.equal(fresh.model.kernel0, before)
    assert "another layout (other model tensors)" in logs[0], logs
    order = tmp_path / "order.pt"  # the same shapes, the bucket's members in another order
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    state["model"] = {**state["model"], "buckets.0.ids": state["model"]["buckets.0.ids"].flip(0)}
    torch.save(state, order)
    logs, fresh = [], make_trainer(MEMBERS[:2])
    fresh.log = logs.append
    assert not load_state(fresh, order) and "another layout (other member order" in logs[0], logs
    stranger = tmp_path / "stranger.pt"  # another pack's state: refused, and neither loaded nor set aside
    torch.save({**torch.load(tmp_path / "s.pt", weights_only=True), "format": STATE_FORMAT - 1,
                "hashes": ["0" * 16, "1" * 16]}, stranger)
    with pytest.raises(ValueError, match="belongs to other cell parameters"):
        load_state(make_trainer(MEMBERS[:2]), stranger)
    assert stranger.exists()
    assert load_state(make_trainer(MEMBERS[:2]), tmp_path / "s.pt")


def test_an_owner_map_must_give_whole_rows_of_its_parameter():
    from acthash.nets.optim import StackedAdam

    StackedAdam([torch.zeros(4, 3)], [torch.arange(4).view(4, 1)], eps=1e-7)  # rows 0..3: one member each
    with pytest.raises(ValueError, match=r"owner map \(1, 3\) does not give whole rows of \(4, 3\)"):
        StackedAdam([torch.zeros(4, 3)], [torch.zeros(1, 3, dtype=torch.long)], eps=1e-7)


def test_adams_l2_term_follows_each_steps_decay_per_member():
    """Zero loss gradients: only the L2 term moves a row, so a member's row moves once its λ is set (the CPU pass
    keeps the rows' coefficients between steps; a changed λ must reach them)."""
    from acthash.nets.optim import StackedAdam

    w = torch.ones(2, 3)
    w.grad = torch.zeros(2, 3)
    opt = StackedAdam([w], [torch.arange(2).view(2, 1)], eps=1e-7, decayed=[(w, torch.arange(2))])
    active = torch.ones(2, dtype=torch.bool)
    opt.step(1e-3, active, torch.tensor([1e-2, 0.0]))
    assert bool((w[0] < 1).all()) and bool((w[1] == 1).all())
    opt.step(1e-3, active, torch.tensor([0.0, 1e-2]))
    assert bool((w[1] < 1).all())


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resume_from_saved_state_equals_an_uninterrupted_run(tmp_path, optimizer):
    cells = [dataclasses.replace(c, optimizer=optimizer) for c in MEMBERS[:3]]
    state = tmp_path / "pack.state.pt"
    first = make_trainer(cells)
    while first.epoch < 1:
        first.train_epoch()
    first.evaluate()
    save_state(first, state)
    resumed = make_trainer(cells).run(state)
    straight = make_trainer(cells).run()
    for a, b in zip(resumed, straight):
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12)
        np.testing.assert_array_equal(a.checkpoints[-1].test.packed, b.checkpoints[-1].test.packed)


def test_a_single_checkpoint_pack_killed_mid_training_resumes_from_its_periodic_state(tmp_path):
    """With one checkpoint (epoch 6), state is saved between checkpoints every `state_every_s`: a run stopped
    in epoch 5 resumes from epoch 4, not from the start, and ends as the uninterrupted run."""
    cells = [dataclasses.replace(c, checkpoints=(6,), early_stopping=False) for c in MEMBERS[:2]]
    state = tmp_path / "pack.state.pt"
    killed = make_trainer(cells)

    def die_in_epoch_5(line: str) -> None:
        if line.startswith("epoch 5/6"):
            raise KeyboardInterrupt  # as a kill would, before the state of epoch 5 is written

    killed.log = die_in_epoch_5
    with pytest.raises(KeyboardInterrupt):
        killed.run(state, state_every_s=0)
    resumed, logs = make_trainer(cells), []
    resumed.log = logs.append
    a, b = resumed.run(state, state_every_s=0), make_trainer(cells).run()
    assert logs[0] == f"resumed from {state} at epoch 4" and resumed.seconds_before > 0  # earlier time counted
    for x, y in zip(a, b):
        assert x.loss == y.loss
        np.testing.assert_array_equal(x.checkpoints[-1].test.packed, y.checkpoints[-1].test.packed)


def test_training_learns_digits():
    res = make_trainer([dataclasses.replace(BASE, width=32, checkpoints=(0, 5))], torch.float32).run()[0]
    first, last = res.checkpoints
    assert last.test.correct / 300 > 0.75 > 0.25 > first.test.correct / 300


def keras_adam(params, grads, state, lr, eps=1e-7, b1=0.9, b2=0.999):
    """Keras 2's Adam written out: lr_t = lr·sqrt(1−β2^t)/(1−β1^t); p −= lr_t·m/(sqrt(v)+ε)."""
    state["t"] = state.get("t", 0) + 1
    lr_t = lr * (1 - b2 ** state["t"]) ** 0.5 / (1 - b1 ** state["t"])
    for p, g in zip(params, grads):
        m, v = state.setdefault(id(p), (torch.zeros_like(p), torch.zeros_like(p)))
        m.mul_(b1).add_((1 - b1) * g)
        v.mul_(b2).add_((1 - b2) * g * g)
        p.sub_(lr_t * m / (v.sqrt() + eps))


@pytest.mark.parametrize("depth, recipe", [(1, {}), (2, {}), (2, {"optimizer": "sgd", "sgd_momentum": 0.8}),
                                           (2, {"bn_variance": "biased"})],
                         ids=["depth1", "depth2", "sgd", "biased-bn-variance"])
def test_pack_of_one_steps_like_a_plain_pytorch_mlp(depth, recipe):
    """The stacked model and optimizer against the recipe written plainly: nn.Linear → BatchNorm1d(eps 1e-3,
    momentum 0.01) → ReLU blocks, a Linear head, CE + λ·ΣW² of the hidden kernels through autograd and Keras'
    Adam (or torch's SGD with momentum), from the same initial weights on the same batches (float64, rtol 1e-10:
    only summation order differs). With bn_variance='biased' the running variance is followed by hand."""
    cell = dataclasses.replace(BASE, width=7, depth=depth, weight_decay=1e-3, **recipe)
    trainer = make_trainer([cell])
    model, w = trainer.model, 7
    linears = [torch.nn.Linear(64, w)] + [torch.nn.Linear(w, w) for _ in range(depth - 1)]
    layers = []
    kernels = model.member_layers(0)
    for kernel, lin in zip(kernels, linears):
        lin.weight.data, lin.bias.data = kernel.detach().clone(), torch.zeros(w, dtype=torch.float64)
        layers += [lin, torch.nn.BatchNorm1d(w, eps=1e-3, momentum=0.01), torch.nn.ReLU()]
    head = torch.nn.Linear(w, 10)
    head.weight.data, head.bias.data = kernels[-1].detach().clone(), torch.zeros(10, dtype=torch.float64)
    ref = torch.nn.Sequential(*layers, head).double().train()
    state: dict = {}
    sgd = torch.optim.SGD(ref.parameters(), lr=5e-3, momentum=0.8) if cell.optimizer == "sgd" else None
    biased_var = torch.ones(w, dtype=torch.float64)  # the first BN's running variance, Keras' biased update

    def follow_biased_var(module, inputs, output) -> None:
        biased_var.mul_(0.99).add_(0.01 * inputs[0].detach().var(0, unbiased=False))

    ref[1].register_forward_hook(follow_biased_var)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        x = torch.rand(32, 64, generator=gen, dtype=torch.float64) * 16
        y = torch.randint(0, 10, (32,), generator=gen)
        loss = trainer.step(x[None], y[None], 5e-3)
        ce = torch.nn.functional.cross_entropy(ref(x), y)
        l2 = sum(lin.weight.pow(2).sum() for lin in linears)
        params = list(ref.parameters())
        grads = torch.autograd.grad(ce + 1e-3 * l2, params)
        with torch.no_grad():
            np.testing.assert_allclose(float(loss[0]), float(ce + 1e-3 * l2), rtol=1e-10)
            if sgd is None:
                keras_adam(params, grads, state, 5e-3)
        if sgd is not None:
            for p, g in zip(params, grads):
                p.grad = g
            sgd.step()
    for kernel, lin in zip(kernels, linears + [head]):
        torch.testing.assert_close(kernel, lin.weight, rtol=1e-10, atol=1e-12)
    expected_var = biased_var if cell.bn_variance == "biased" else ref[1].running_var
    torch.testing.assert_close(model.norm0.running_var[0, :w], expected_var, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(biased_var, ref[1].running_var, rtol=1e-4, atol=0)  # the two updates differ


def test_a_batch_of_one_row_keeps_bn_statistics_finite():
    """An epoch whose row count is 1 mod the batch size ends on one row: its batch variance is 0 and the
    running variance decays by the momentum (torch's unbiased update alone would make it NaN)."""
    trainer = make_trainer([BASE])
    before = trainer.model.norm0.running_var.clone()
    x, y = torch.rand(1, 1, 64, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.long)
    assert torch.isfinite(trainer.step(x, y, 5e-3)).all()
    torch.testing.assert_close(trainer.model.norm0.running_var, before * (1 - BASE.bn_momentum))


def test_first_epoch_readings_leave_training_untouched_and_end_at_the_epoch_1_checkpoint():
    from acthash.data.samples import cell_samples
    from acthash.data.sources import load
    from acthash.metrics.distinct import redundancy_ratio_packed
    from acthash.metrics.knn import knn_predict
    from acthash.run.ablation import first_epoch_readings, table

    cells = [small_cell(width=w, n_train=1000, seed=s, checkpoints=(0, 1), early_stopping=False)
             for w in (8, 24) for s in (0, 1)]
    ds = first_epoch_readings(cells, ".", fractions=(0.25, 0.5, 1))
    assert list(ds["epoch"].values) == [0, 0.25, 0.5, 1] and list(ds["width"].values) == [8, 8, 24, 24]
    results = make_trainer(cells, dtype=torch.float32).run()
    samples = [cell_samples(c, load("digits", ".").y_train, 10) for c in cells]
    for i, res in enumerate(results):  # epoch 0 and the end of the first epoch: the trainer's own checkpoints
        for col, cp in ((0, res.checkpoints[0]), (-1, res.checkpoints[1])):
            assert ds["redundancy_train"][i, col] == redundancy_ratio_packed(cp.train.rows_for_redundancy)
            assert ds["redundancy_test"][i, col] == redundancy_ratio_packed(cp.test.rows_for_redundancy)
            knn = knn_predict(cp.train.packed, samples[i].labels, cp.test.packed, cells[i].knn_k)
            assert ds["knn_test"][i, col] == (knn == load("digits", ".").y_test).mean()
    assert not np.allclose(ds["redundancy_train"][:, 1], ds["redundancy_train"][:, -1])  # mid-epoch differs
    assert table(ds).splitlines()[2].startswith(f"| 8 | {float(ds['redundancy_train'][:2, 0].mean()):.3f} ± ")
    from acthash import __version__
    from acthash.analysis.drift import provenance
    from acthash.store.machine import cpu_model

    assert provenance(ds) == f"trained by acthash {__version__} on {cpu_model()}, measured by {__version__}"
    same = first_epoch_readings(cells[:1], ".", fractions=(0.01, 0.02, 1))  # both round to the first step
    assert np.isfinite(same["redundancy_train"]).all()
    assert float(same["redundancy_train"][0, 1]) == float(same["redundancy_train"][0, 2])


def test_codes_read_with_batch_statistics_are_a_training_mode_forward_and_leave_training_untouched():
    """code_bn='batch': each set's codes are those of a training-mode forward of the whole set as one batch;
    the weights, running statistics and losses are those of the same run read with moving averages."""
    cells = [dataclasses.replace(BASE, width=w, seed=s, depth=2, checkpoints=(0, 2)) for w, s in ((6, 1), (9, 2))]
    moving = make_trainer(cells)
    batch = make_trainer([dataclasses.replace(c, code_bn="batch") for c in cells])
    a, b = moving.run(), batch.run()
    for ra, rb in zip(a, b):
        np.testing.assert_array_equal(ra.loss, rb.loss)
    for name, value in moving.model.state_dict().items():
        torch.testing.assert_close(batch.model.state_dict()[name], value, rtol=0, atol=0)
    model = batch.model
    x = batch.x[torch.as_tensor(np.stack(batch.readout.group_index))]
    model.adopt_batch_statistics(x)  # the first layer's statistics: those of its input, biased variance
    pre = torch.baddbmm(model.bias0.unsqueeze(2), model.kernel0, x.transpose(1, 2))  # (G, units, rows)
    torch.testing.assert_close(model.norm0.running_mean, pre.mean(2), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.norm0.running_var, pre.var(2, unbiased=False), rtol=1e-12, atol=1e-12)
    model.load_state_dict(moving.model.state_dict())
    model.train()  # a training-mode forward of each set as one batch; no momentum, statistics untouched
    model.bn_settings.momentum = 0.0
    test_x = batch.readout.x_test.expand(len(batch.readout.group_index), -1, -1)
    changed = False
    for split, inputs, rows in (("train", x, len(batch.readout.group_index[0])), ("test", test_x, len(batch.readout.y_test))):
        _, hidden = model(inputs)
        for i, res in enumerate(b):
            bits = model.member_bits(hidden, i, rows).numpy()
            stored = np.unpackbits(getattr(res.checkpoints[-1], split).packed, axis=1)[:, :bits.shape[1]]
            np.testing.assert_array_equal(stored, bits, err_msg=f"{split} codes of member {i}")
            by_moving = np.unpackbits(getattr(a[i].checkpoints[-1], split).packed, axis=1)[:, :bits.shape[1]]
            changed |= not np.array_equal(stored, by_moving)
    assert changed  # the moving averages lag: the two readings differ


def test_keras_clipped_cross_entropy_floors_the_loss_and_stops_the_gradient_of_fitted_examples():
    """ce_clip: the loss of probabilities clipped to [c, 1 - c]; an example whose probability lies outside
    adds nothing to the gradient, so a batch of such examples (and no weight decay) leaves the weights alone."""
    exact = make_trainer([dataclasses.replace(BASE, n_train=100)])
    clipped = make_trainer([dataclasses.replace(BASE, n_train=100, ce_clip=0.2)])
    clipped.model.load_state_dict(exact.model.state_dict())
    x = exact.x[exact.rows[:, :16]]
    logits, _ = exact.model(x)
    y = logits.argmax(-1)  # labels the network predicts; their probabilities are > 0.1, most > 0.2 or not
    loss_exact = exact.step(x, y, 0.0)
    loss_clip = clipped.step(x, y, 0.0)
    p = torch.softmax(logits.detach(), -1).gather(2, y.unsqueeze(2)).squeeze(2)
    want = -torch.log(p.clamp(0.2, 0.8)).mean(1) + clipped.wd * clipped.model.l2_per_member()
    torch.testing.assert_close(loss_clip, want)
    assert not torch.allclose(loss_clip, loss_exact)
    hopeless = make_trainer([dataclasses.replace(BASE, n_train=100, ce_clip=0.2, weight_decay=0.0)])
    before = [t.detach().clone() for t in hopeless.model.parameters()]
    worst = hopeless.model(x)[0].argmin(-1)  # every example's label has probability < 0.2: all clipped
    hopeless.step(x, worst, 0.01)
    assert all(torch.equal(a, b) for a, b in zip(before, hopeless.model.parameters()))  # no gradient at all
    assert Cell(ce_clip=0.0).param_hash == Cell().param_hash


def test_zero_debiased_running_statistics_are_the_batch_statistics_seen_so_far():
    """bn_zero_debias (TF's moving averages, Keras 2.2): after one training step the running mean and variance
    are that batch's; after two, the debiased averages (d·m·b1 + m·b2) / (1 − d²); a stopped member's units
    keep theirs while the others move."""
    from acthash.nets.mlp import StackedMLP

    torch.manual_seed(0)
    m, eps = 0.01, Cell().bn_eps
    model = StackedMLP(6, 3, 1, [4, 4], [0, 1], None, True, eps, m, torch.float64, bn_zero_debias=True)
    model.train()
    x1, x2, x3 = (torch.rand(2, 32, 6, dtype=torch.float64) for _ in range(3))

    def batch_stats(x):
        with torch.no_grad():
            plain = StackedMLP(6, 3, 1, [4, 4], [0, 1], None, True, eps, 1.0, torch.float64)
            plain.load_state_dict({k: v for k, v in model.state_dict().items() if k in plain.state_dict()})
            plain.train()
            plain(x)  # momentum 1: the running statistics become the batch's
            return plain.norm0.running_mean.clone(), plain.norm0.running_var.clone()

    (b1, v1), _ = batch_stats(x1), model(x1)
    torch.testing.assert_close((model.norm0.running_mean, model.norm0.running_var), (b1, v1))
    (b2, v2), _ = batch_stats(x2), model(x2)
    d = 1 - m
    torch.testing.assert_close(model.norm0.running_mean, (d * m * b1 + m * b2) / (1 - d**2))
    torch.testing.assert_close(model.norm0.running_var, (d * m * v1 + m * v2) / (1 - d**2))
    before = model.norm0.running_mean.clone()
    model(x3, None, torch.tensor([True, False]))  # member 1 stopped
    owner = model.wide_owner.flatten()
    assert torch.equal(model.norm0.running_mean.flatten()[owner == 1], before.flatten()[owner == 1])
    assert not torch.equal(model.norm0.running_mean.flatten()[owner == 0], before.flatten()[owner == 0])


def test_a_zero_debiased_model_trains_as_the_plain_one_and_reads_its_codes_through_other_statistics():
    """bn_zero_debias changes only the running statistics: the same cell trains to the same weights and losses
    (the batch statistics normalise training), its loss falls, and its codes, read through the running
    statistics, differ from the plain model's after one epoch."""
    cells = [dataclasses.replace(BASE, n_train=300, bn_zero_debias=z, checkpoints=(1, 3)) for z in (False, True)]
    trainers = [make_trainer([c]) for c in cells]
    plain, debiased = (t.run()[0] for t in trainers)
    assert torch.equal(member_weights(trainers[0], 0), member_weights(trainers[1], 0))
    np.testing.assert_array_equal(debiased.loss, plain.loss)
    assert debiased.loss[-1] < debiased.loss[0]
    assert not np.array_equal(debiased.checkpoints[0].test.packed, plain.checkpoints[0].test.packed)
