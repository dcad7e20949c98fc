"""The trainer: a pack of cells trained as one stacked model, with per-member data order, schedule,
early stopping, divergence handling, evaluation at checkpoint epochs and resumable state.

A pack of one is the single-model case. Members must share dataset, architecture, depth, BN, the
checkpoint list, batch size and the number of rows per (tiled) epoch; they may differ in seed, weight
decay, dropout, label noise, sample subset and (MLPs only) width.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from acthash.data.augment import augment_batch
from acthash.data.probes import random_inputs
from acthash.data.samples import Samples, stream_seed
from acthash.metrics.fast import redundancy_ratio_packed
from acthash.nets.cnn import StackedCNN
from acthash.nets.codes import MemberCodes, extract, sample_units
from acthash.nets.mlp import StackedMLP
from acthash.nets.optim import StackedAdam, StackedSGD
from acthash.params.cell import PACK_SHARED, Cell


@dataclass
class Checkpoint:
    """One member at one checkpoint epoch: codes on its train rows and on the test set."""

    epoch: int
    train: MemberCodes
    test: MemberCodes
    random: dict[str, float] = field(default_factory=dict)  # redundancy of random-input codes


@dataclass
class MemberResult:
    """Everything the trainer produced for one member."""

    code_length: int  # bits of the whole code
    units: np.ndarray | None = None  # the units kept for the metrics of a long code (`sample_units`)
    status: str = "ok"  # ok | diverged
    stopped_epoch: int | None = None
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)


def to_plain(result: MemberResult) -> dict:
    """A member's result as nested dicts and lists of numbers, strings and tensors (numpy arrays become CPU
    tensors) for the training state."""
    def plain(v):
        if isinstance(v, np.ndarray):
            return torch.from_numpy(v.copy())
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v.item() if isinstance(v, np.generic) else v

    return plain(dataclasses.asdict(result))


def member_result(d: dict) -> MemberResult:
    """The inverse of `to_plain`."""
    def arr(v):
        return v.cpu().numpy() if isinstance(v, torch.Tensor) else v

    def codes(c: dict) -> MemberCodes:
        return MemberCodes(**{k: arr(v) for k, v in c.items()})

    cps = [Checkpoint(c["epoch"], codes(c["train"]), codes(c["test"]), dict(c["random"])) for c in d["checkpoints"]]
    return MemberResult(d["code_length"], arr(d["units"]), d["status"], d["stopped_epoch"], list(d["loss"]),
                        list(d["lr"]), cps)


def check_packable(cells: Sequence[Cell], rows_per_epoch: Sequence[int]) -> None:
    """Raise a ValueError naming the first key on which the cells of a pack disagree."""
    for key in PACK_SHARED:
        values = {str(getattr(c, key)) for c in cells}
        if len(values) > 1:
            raise ValueError(f"cells of one pack must share {key!r}; got {sorted(values)}")
    if cells[0].arch != "mlp" and len({c.width for c in cells}) > 1:
        raise ValueError(f"CNN cells of one pack must share 'width'; got {sorted({c.width for c in cells})}")
    if len(set(rows_per_epoch)) > 1:
        raise ValueError(f"cells of one pack must have equal rows per tiled epoch; got {sorted(set(rows_per_epoch))}")


def _lr(cell: Cell, epoch: int) -> float:
    """Step decay of the reference: lr·decay^((epoch−1) // step) for 1-based epoch."""
    return cell.lr * cell.lr_decay ** ((epoch - 1) // cell.lr_step)


class Trainer:
    """Train `cells` (sharing the keys in PACK_SHARED) as one stacked model on `device`."""

    def __init__(self, cells: Sequence[Cell], samples: Sequence[Samples], x_train: np.ndarray,
                 x_test: np.ndarray, y_test: np.ndarray, n_classes: int, device: str = "cpu",
                 dtype: torch.dtype = torch.float32, log: Callable[[str], None] | None = None,
                 image_shape: tuple[int, ...] | None = None) -> None:
        check_packable(cells, [len(s.rows) for s in samples])
        self.cells, self.samples, self.device = list(cells), list(samples), torch.device(device)
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        c0 = cells[0]
        self.x_np, self.image_shape = x_train, image_shape or tuple(x_train.shape[1:])
        self.x = torch.as_tensor(x_train.reshape(len(x_train), -1), dtype=dtype, device=self.device)
        self.x_test = torch.as_tensor(x_test.reshape(len(x_test), -1), dtype=dtype, device=self.device)
        self.y_test = y_test
        # members with the same seed and training rows see the same batches: one input group
        keys = [(c.seed, s.index[s.rows].tobytes()) for c, s in zip(cells, samples)]
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        leaders = sorted(set(first.values()))
        self.group = torch.as_tensor([leaders.index(first[k]) for k in keys], device=self.device)
        seeds, groups = [c.seed for c in cells], self.group.tolist()
        if c0.arch == "mlp":
            self.model: StackedMLP | StackedCNN = StackedMLP(
                self.x.shape[1], n_classes, c0.depth, [c.width for c in cells], seeds, groups, c0.bn, c0.bn_eps,
                c0.bn_momentum, dtype, bn_biased_var=c0.bn_variance == "biased")
        else:
            self.model = StackedCNN(c0.arch, self.image_shape, n_classes, c0.width, seeds, groups, c0.bn_eps,
                                    c0.bn_momentum, dtype)
        self.model.to(self.device)
        self.units = [sample_units(n, c.code_units, stream_seed(c.seed, 4))
                      for c, n in zip(cells, self.model.code_lengths)]
        params, owners = list(self.model.parameters()), self.model.owners()
        self.opt = (StackedAdam(params, owners, eps=c0.adam_eps) if c0.optimizer == "adam"
                    else StackedSGD(params, owners, momentum=c0.sgd_momentum))
        m = len(cells)
        self.group_index = [samples[i].index for i in leaders]
        self.rows = torch.as_tensor(np.stack([samples[i].index[samples[i].rows] for i in leaders]), device=self.device)
        self.labels = torch.as_tensor(np.stack([s.labels[s.rows] for s in samples]), device=self.device)
        self.wd = torch.tensor([c.weight_decay for c in cells], dtype=dtype, device=self.device)
        self.leaders = leaders
        self.order_gens = [torch.Generator().manual_seed(stream_seed(cells[i].seed, 1)) for i in leaders]
        self.aug_gens = [torch.Generator().manual_seed(stream_seed(cells[i].seed, 2)) for i in leaders]
        self.drop_gens = [torch.Generator(device=self.device).manual_seed(stream_seed(c.seed, 3)) for c in cells]
        self.active = torch.ones(m, dtype=torch.bool, device=self.device)
        self.bn_active: torch.Tensor | None = None  # `active`, or None while every member is (no BN masking)
        self.best = [float("inf")] * m
        self.wait = [0] * m
        self.epoch = 0
        self.results = [MemberResult(n, u) for n, u in zip(self.model.code_lengths, self.units)]

    # -- one epoch -------------------------------------------------------------------------------
    def _dropout_masks(self, b: int) -> list[torch.Tensor | None]:
        rates = [c.dropout for c in self.cells]
        sites = self.model.drop_widths
        if not any(rates):
            return [None] * len(sites)
        masks = []
        for widths in sites:
            mask = torch.ones(len(rates), b, max(widths), dtype=self.x.dtype, device=self.device)
            for i, (p, w) in enumerate(zip(rates, widths)):
                if p > 0:
                    keep = torch.rand(b, w, generator=self.drop_gens[i], device=self.device) >= p
                    mask[i, :, :w] = keep.to(self.x.dtype) / (1 - p)
            masks.append(mask)
        return masks

    def _inputs(self, rows: torch.Tensor) -> torch.Tensor:
        """Training inputs (G, B, D) of the given rows, augmented per group when the recipe asks for it."""
        x, c0 = self.x[rows], self.cells[0]
        if not c0.augment:
            return x
        return torch.stack([augment_batch(x[g], self.image_shape, c0.dataset, gen, cnn=c0.arch != "mlp")
                            for g, gen in enumerate(self.aug_gens)])

    def train_epoch(self, after_step: Callable[[int], None] | None = None) -> None:
        """One epoch for every active member; updates histories, early stopping and divergence status.
        `after_step(i)` is called after the epoch's step i (0-based), e.g. to read codes mid-epoch; the model
        is back in training mode for the next step."""
        self.model.train()
        self.epoch += 1
        n_rows, m = self.rows.shape[1], len(self.cells)
        bsz = self.cells[0].batch_size
        perm = torch.stack([torch.randperm(n_rows, generator=g) for g in self.order_gens]).to(self.device)
        member_perm = perm[self.group]
        lr_now = _lr(self.cells[0], self.epoch)  # the schedule is a shared key of a pack
        self.bn_active = None if bool(self.active.all()) else self.active  # members stop only between epochs
        lr = np.full(m, lr_now)
        total = torch.zeros(m, dtype=torch.float64, device=self.device)
        for start in range(0, n_rows, bsz):
            pos = perm[:, start:start + bsz]
            rows = torch.gather(self.rows, 1, pos)
            y = torch.gather(self.labels, 1, member_perm[:, start:start + bsz])
            loss = self.step(self._inputs(rows), y, lr_now, self._dropout_masks(pos.shape[1]))
            total += loss.to(torch.float64) * pos.shape[1]
            if after_step is not None:
                after_step(start // bsz)
                self.model.train()
        self._end_epoch((total / n_rows).cpu().numpy(), lr)

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float,
             dropout: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """One optimizer step of the active members on inputs (G, B, …) and labels (M, B); returns each member's
        loss as Keras reports it: cross-entropy + L2 term at the weights of this step's forward pass, (M,)."""
        logits, _ = self.model(x, dropout, self.bn_active)
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
        with torch.no_grad():
            loss = ce + self.wd * self.model.l2_per_member()
        self.model.zero_grad(set_to_none=True)  # the wide MLP layer *sets* its kernel gradient (WideInput)
        (ce * self.active).sum().backward()
        self.model.add_l2_grad(self.wd * self.active)
        self.opt.step(lr, self.active)
        return loss

    def _end_epoch(self, epoch_loss: np.ndarray, lr: np.ndarray) -> None:
        for i, (cell, res) in enumerate(zip(self.cells, self.results)):
            if not bool(self.active[i]):
                continue
            res.loss.append(float(epoch_loss[i]))
            res.lr.append(float(lr[i]))
            if not np.isfinite(epoch_loss[i]):
                res.status, res.stopped_epoch = "diverged", self.epoch
                self.active[i] = False
                self.log(f"member {i} ({cell.name}) diverged at epoch {self.epoch}: loss {epoch_loss[i]}")
                continue
            if epoch_loss[i] < self.best[i]:
                self.best[i], self.wait[i] = float(epoch_loss[i]), 0
            else:
                self.wait[i] += 1
            if cell.early_stopping and self.wait[i] >= cell.patience:
                res.stopped_epoch = self.epoch
                self.active[i] = False

    # -- evaluation ------------------------------------------------------------------------------
    def read_codes(self) -> tuple[list[MemberCodes], list[MemberCodes]]:
        """Every member's codes (with the network's loss and accuracy) of its training rows and of the test set,
        through the batch-norm statistics the recipe's `code_bn` names; the training state is left as it was."""
        test_index = [np.arange(len(self.y_test))] * len(self.group_index)
        sets = [(self.x, self.group_index, [s.labels for s in self.samples]),
                (self.x_test, test_index, [self.y_test] * len(self.cells))]
        if self.cells[0].code_bn == "moving":
            train, test = (extract(self.model, x, index, labels, units=self.units) for x, index, labels in sets)
            return train, test
        if len({len(i) for i in self.group_index}) > 1:
            raise ValueError("code_bn='batch': every input group of a pack must code as many training rows "
                             f"(here {sorted({len(i) for i in self.group_index})}); set pack_over: [width] so "
                             "that each n_train trains in its own pack")
        running = [(v, v.clone()) for k, v in self.model.named_buffers() if k.startswith("running_")]
        out = []
        try:
            for x, index, labels in sets:
                self.model.adopt_batch_statistics(x[torch.as_tensor(np.stack(index), device=self.device)])
                out.append(extract(self.model, x, index, labels, units=self.units))
        finally:
            for buffer, saved in running:
                buffer.copy_(saved)
        return out[0], out[1]

    def evaluate(self) -> None:
        """Codes and network metrics of every member at the current epoch (diverged members skipped)."""
        train, test = self.read_codes()
        rand = self._random_redundancy() if self.cells[0].random_inputs != "none" else [{}] * len(self.cells)
        for i, res in enumerate(self.results):
            if res.status == "ok":
                res.checkpoints.append(Checkpoint(self.epoch, train[i], test[i], rand[i]))

    def _random_redundancy(self) -> list[dict[str, float]]:
        """Redundancy of each member's codes on seeded random inputs shaped like its train and test sets
        (the same inputs at every checkpoint)."""
        kind, n_test = self.cells[0].random_inputs, len(self.y_test)
        blocks, train_idx, test_idx, start = [], [], [], 0
        for g, lead in enumerate(self.leaders):
            n = len(self.group_index[g])
            blocks.append(random_inputs(kind, n + n_test, self.x_np, self.cells[lead].seed))
            train_idx.append(np.arange(start, start + n))
            test_idx.append(np.arange(start + n, start + n + n_test))
            start += n + n_test
        x = torch.as_tensor(np.concatenate(blocks), dtype=self.x.dtype, device=self.device)
        dummy = [np.zeros(len(train_idx[g]), dtype=np.int64) for g in self.group.tolist()]
        train = extract(self.model, x, train_idx, dummy, units=self.units)
        test = extract(self.model, x, test_idx, [np.zeros(n_test, dtype=np.int64)] * len(self.cells), units=self.units)
        return [{"redundancy_random_train": redundancy_ratio_packed(a.rows_for_redundancy),
                 "redundancy_random_test": redundancy_ratio_packed(b.rows_for_redundancy)} for a, b in zip(train, test)]

    # -- the whole run ---------------------------------------------------------------------------
    def all_stopped(self) -> bool:
        """True once every member has stopped (early stopping or divergence): later epochs change nothing."""
        return not bool(self.active.any())

    def run(self, state_path: Path | None = None) -> list[MemberResult]:
        """Train to the last checkpoint, evaluating at each checkpoint epoch; with `state_path`, save the
        full training state after each checkpoint and resume from it if it exists."""
        checkpoints = self.cells[0].checkpoints
        if state_path is not None and Path(state_path).exists():
            self.load_state(Path(state_path))
            self.log(f"resumed from {state_path} at epoch {self.epoch}")
        if self.epoch == 0 and 0 in checkpoints:
            self.evaluate()
        while self.epoch < checkpoints[-1]:
            if self.all_stopped():  # no weight changes any more: on to the next checkpoint
                self.epoch = min(c for c in checkpoints if c > self.epoch)
                self.log(f"epoch {self.epoch}/{checkpoints[-1]}: every member has stopped; codes of the stopped "
                         "networks")
            else:
                t0 = time.perf_counter()
                self.train_epoch()
                n_active = int(self.active.sum())
                losses = [r.loss[-1] for r in self.results if r.loss]
                self.log(f"epoch {self.epoch}/{checkpoints[-1]} members={len(self.cells)} active={n_active} "
                         f"loss_mean={np.nanmean(losses) if losses else float('nan'):.4f} "
                         f"lr={_lr(self.cells[0], self.epoch):.1e} {time.perf_counter() - t0:.2f}s")
            if self.epoch in checkpoints:
                self.evaluate()
                if state_path is not None:
                    self.save_state(Path(state_path))
        return self.results

    def save_state(self, path: Path) -> None:
        """Write the complete training state atomically (temporary name, then rename), as plain tensors,
        numbers and strings only, so that reading it back (`weights_only=True`) cannot run code."""
        state = {
            "hashes": [c.param_hash for c in self.cells], "epoch": self.epoch, "model": self.model.state_dict(),
            "opt": self.opt.state_dict(), "cpu_streams": [g.get_state() for g in self.order_gens + self.aug_gens],
            "drop": [g.get_state() for g in self.drop_gens], "active": self.active, "best": self.best,
            "wait": self.wait, "results": [to_plain(r) for r in self.results],
        }
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load_state(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state["hashes"] != [c.param_hash for c in self.cells]:
            raise ValueError(f"{path}: training state belongs to other cell parameters; delete it to start over")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        for g, s in zip(self.order_gens + self.aug_gens + self.drop_gens, state["cpu_streams"] + state["drop"]):
            g.set_state(s.cpu())
        self.active.copy_(state["active"])
        self.best, self.wait, self.epoch = state["best"], state["wait"], state["epoch"]
        self.results = [member_result(r) for r in state["results"]]
