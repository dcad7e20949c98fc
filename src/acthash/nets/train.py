"""The trainer: a pack of cells trained as one stacked model, with per-member data order, schedule,
early stopping, divergence handling, evaluation at checkpoint epochs and resumable state.

A pack of one is the single-model case. Members must share the keys of `PACK_SHARED` (params/cell.py) and
the number of rows per (tiled) epoch, CNN members also their width (`check_packable`); the other
parameters may differ.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from acthash.data.augment import augment_batch
from acthash.data.samples import Samples, stream_seed
from acthash.nets import mlp_pass
from acthash.nets.cnn import StackedCNN
from acthash.nets.codes import sample_units
from acthash.nets.mlp import StackedMLP
from acthash.nets.optim import StackedAdam, StackedSGD
from acthash.nets.readout import Readout
from acthash.nets.results import MemberResult
from acthash.nets.trainstate import load_state, save_state
from acthash.params.cell import PACK_SHARED, Cell


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


def input_groups(cells: Sequence[Cell], samples: Sequence[Samples]) -> tuple[list[int], list[int]]:
    """Members with the same seed and training rows see the same batches: one input group. → (the group of each
    member, the first member of each group)."""
    keys = [(c.seed, s.index[s.rows].tobytes()) for c, s in zip(cells, samples)]
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    leaders = sorted(set(first.values()))
    return [leaders.index(first[k]) for k in keys], leaders


def stacked_model(cells: Sequence[Cell], groups: Sequence[int], in_dim: int, image_shape: tuple[int, ...],
                  n_classes: int, dtype: torch.dtype) -> StackedMLP | StackedCNN:
    """The pack's stacked model, each member initialised from its own seed."""
    c0, seeds = cells[0], [c.seed for c in cells]
    if c0.arch == "mlp":
        return StackedMLP(in_dim, n_classes, c0.depth, [c.width for c in cells], seeds, groups, c0.bn, c0.bn_eps,
                          c0.bn_momentum, dtype, bn_biased_var=c0.bn_variance == "biased",
                          bn_zero_debias=c0.bn_zero_debias)
    return StackedCNN(c0.arch, image_shape, n_classes, c0.width, seeds, groups, c0.bn_eps, c0.bn_momentum, dtype)


def stacked_optimizer(model: StackedMLP | StackedCNN, cell: Cell) -> StackedAdam | StackedSGD:
    """The pack's optimizer over the stacked model's parameters, each entry owned by its member (frozen when the
    member stops) and the kernels the L2 penalty decays marked."""
    params, owners, decayed = list(model.parameters()), model.owners(), model.decayed()
    if cell.optimizer == "adam":
        return StackedAdam(params, owners, eps=cell.adam_eps, decayed=decayed)
    return StackedSGD(params, owners, momentum=cell.sgd_momentum, decayed=decayed)


def dropout_masks(rates: Sequence[float], sites: Sequence[Sequence[int]], gens: Sequence[torch.Generator], b: int,
                  dtype: torch.dtype) -> list[torch.Tensor | None]:
    """Keep/scale masks (M, b, widest) of one step, one per dropout site (`sites`: each member's units there),
    drawn from each member's own generator; None everywhere when no member has dropout."""
    if not any(rates):
        return [None] * len(sites)
    masks = []
    for widths in sites:
        mask = torch.ones(len(rates), b, max(widths), dtype=dtype, device=gens[0].device)
        for i, (p, w) in enumerate(zip(rates, widths)):
            if p > 0:
                keep = torch.rand(b, w, generator=gens[i], device=gens[0].device) >= p
                mask[i, :, :w] = keep.to(dtype) / (1 - p)
        masks.append(mask)
    return masks


def autograd_loss_and_grads(model: StackedMLP | StackedCNN, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor,
                            active: torch.Tensor | None, dropout: Sequence[torch.Tensor | None] | None,
                            ce_clip: float) -> torch.Tensor:
    """Each member's mean cross-entropy (M,) on inputs x (G, B, …) and labels y (M, B), its gradient Σ_m
    weights[m]·ce[m] set on every parameter by autograd (`mlp_pass.loss_and_grads` computes the same by hand).
    `ce_clip`: Keras' loss on probabilities clipped to [ce_clip, 1 − ce_clip] (no gradient where clipped)."""
    logits, _ = model(x, dropout, active)
    if ce_clip:
        p = torch.softmax(logits, -1).gather(2, y.unsqueeze(2)).squeeze(2).clamp(ce_clip, 1 - ce_clip)
        ce = -torch.log(p).mean(1)
    else:
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
    model.zero_grad(set_to_none=True)  # the MLP's layers *set* their kernel gradients (WideInput)
    (ce * weights).sum().backward()
    return ce.detach()


def training_inputs(x: torch.Tensor, rows: torch.Tensor, cell: Cell, image_shape: tuple[int, ...],
                    gens: Sequence[torch.Generator]) -> torch.Tensor:
    """Training inputs (G, B, D) of the given rows (G, B) of x, augmented per group (`gens`: one generator per
    group) when the recipe asks for it."""
    if not cell.augment:  # one gather of whole rows (index_select: faster than advanced indexing)
        return x.index_select(0, rows.flatten()).view(*rows.shape, x.shape[1])
    return torch.stack([augment_batch(x[r], image_shape, cell.dataset, gen, cnn=cell.arch != "mlp")
                        for r, gen in zip(rows, gens)])


class Trainer:
    """Train `cells` (sharing the keys in PACK_SHARED) as one stacked model on `device`: the setup, the epoch
    loop and `run`; it reads its networks through its `readout` and saves and resumes through `trainstate`."""

    def __init__(self, cells: Sequence[Cell], samples: Sequence[Samples], x_train: np.ndarray,
                 x_test: np.ndarray, y_test: np.ndarray, n_classes: int, device: str = "cpu",
                 dtype: torch.dtype = torch.float32, log: Callable[[str], None] | None = None,
                 image_shape: tuple[int, ...] | None = None) -> None:
        check_packable(cells, [len(s.rows) for s in samples])
        self.cells, self.device = list(cells), torch.device(device)
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        # called after each epoch trained with (epoch, last epoch, members training, members, seconds)
        self.progress: Callable[[int, int, int, int, float], None] | None = None
        c0 = cells[0]
        self.image_shape = image_shape or tuple(x_train.shape[1:])
        self.x = torch.as_tensor(x_train.reshape(len(x_train), -1), dtype=dtype, device=self.device)
        groups, leaders = input_groups(cells, samples)
        self.group = torch.as_tensor(groups, device=self.device)
        self.model = stacked_model(cells, groups, self.x.shape[1], self.image_shape, n_classes, dtype).to(self.device)
        self.units = [sample_units(n, c.code_units, stream_seed(c.seed, 4))
                      for c, n in zip(cells, self.model.code_lengths)]
        self.opt = stacked_optimizer(self.model, c0)
        self.by_hand = mlp_pass.applies(self.model, c0.ce_clip)  # the training pass without autograd (same bits)
        m = len(cells)
        self.readout = Readout(self.model, self.cells, self.x, x_train,
                               torch.as_tensor(x_test.reshape(len(x_test), -1), dtype=dtype, device=self.device),
                               y_test, [samples[i].index for i in leaders], leaders, self.group,
                               [s.labels for s in samples], self.units)
        self.rows = torch.as_tensor(np.stack([samples[i].index[samples[i].rows] for i in leaders]), device=self.device)
        self.labels = torch.as_tensor(np.stack([s.labels[s.rows] for s in samples]), device=self.device)
        self.wd = torch.tensor([c.weight_decay for c in cells], dtype=dtype, device=self.device)
        self.order_gens = [torch.Generator().manual_seed(stream_seed(cells[i].seed, 1)) for i in leaders]
        self.aug_gens = [torch.Generator().manual_seed(stream_seed(cells[i].seed, 2)) for i in leaders]
        self.drop_gens = [torch.Generator(device=self.device).manual_seed(stream_seed(c.seed, 3)) for c in cells]
        self.active = torch.ones(m, dtype=torch.bool, device=self.device)
        self.bn_active: torch.Tensor | None = None  # `active`, or None while every member is (no BN masking)
        self.best, self.wait, self.epoch = [float("inf")] * m, [0] * m, 0  # early stopping's counters; epochs done
        self.seconds_before = 0.0  # training time of earlier processes of this run (from a resumed state)
        self.started = time.perf_counter()
        self.results = [MemberResult(n, u) for n, u in zip(self.model.code_lengths, self.units)]

    # -- one epoch -------------------------------------------------------------------------------
    def train_epoch(self, after_step: Callable[[int], None] | None = None) -> None:
        """One epoch for every active member; updates histories, early stopping and divergence status.
        `after_step(i)` is called after the epoch's step i (0-based), e.g. to read codes mid-epoch; the model
        is back in training mode for the next step."""
        self.model.train()
        self.epoch += 1
        n_rows, m = self.rows.shape[1], len(self.cells)
        bsz = self.cells[0].batch_size
        perm = torch.stack([torch.randperm(n_rows, generator=g) for g in self.order_gens]).to(self.device)
        rows_all = torch.gather(self.rows, 1, perm)  # the epoch's rows per group and labels per member, in order
        y_all = torch.gather(self.labels, 1, perm[self.group])
        rates = [c.dropout for c in self.cells]
        lr_now = self.cells[0].lr_at(self.epoch)  # the schedule is a shared key of a pack
        self.bn_active = None if bool(self.active.all()) else self.active  # members stop only between epochs
        lr = np.full(m, lr_now)
        total = torch.zeros(m, dtype=torch.float64, device=self.device)
        for start in range(0, n_rows, bsz):
            rows, y = rows_all[:, start:start + bsz], y_all[:, start:start + bsz]
            x = training_inputs(self.x, rows, self.cells[0], self.image_shape, self.aug_gens)
            drop = dropout_masks(rates, self.model.drop_widths, self.drop_gens, rows.shape[1], self.x.dtype)
            loss = self.step(x, y, lr_now, drop)
            total += loss.to(torch.float64) * rows.shape[1]
            if after_step is not None:
                after_step(start // bsz)
                self.model.train()
        self._end_epoch((total / n_rows).cpu().numpy(), lr)

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float,
             dropout: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """One optimizer step of the active members on inputs (G, B, …) and labels (M, B); returns each member's
        loss as Keras reports it: cross-entropy + L2 term at the weights of this step's forward pass, (M,)."""
        if self.by_hand:
            ce = mlp_pass.loss_and_grads(self.model, x, y, self.active, self.bn_active, dropout)
        else:
            ce = autograd_loss_and_grads(self.model, x, y, self.active, self.bn_active, dropout, self.cells[0].ce_clip)
        with torch.no_grad():
            loss = ce + self.wd * self.model.l2_per_member()
        self.opt.step(lr, self.active, self.wd * self.active)  # with the L2 penalty's gradient
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

    # -- the whole run ---------------------------------------------------------------------------
    def evaluate(self) -> None:
        """Codes and network metrics of every member at the current epoch (diverged members skipped)."""
        for res, checkpoint in zip(self.results, self.readout.checkpoints(self.epoch)):
            if res.status == "ok":
                res.checkpoints.append(checkpoint)

    def all_stopped(self) -> bool:
        """True once every member has stopped (early stopping or divergence): later epochs change nothing."""
        return not bool(self.active.any())

    def run(self, state_path: Path | None = None, state_every_s: float = float("inf")) -> list[MemberResult]:
        """Train to the last checkpoint, evaluating at each checkpoint epoch; with `state_path`, save the
        full training state after each checkpoint and after any epoch that ends `state_every_s` seconds or
        more after the last save, and resume from it if it exists."""
        checkpoints = self.cells[0].checkpoints
        saved = self.started = time.perf_counter()
        if state_path is not None and Path(state_path).exists() and load_state(self, Path(state_path)):
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
                losses = [r.loss[-1] for r in self.results if r.loss and np.isfinite(r.loss[-1])]  # not diverged
                self.log(f"epoch {self.epoch}/{checkpoints[-1]} members={len(self.cells)} active={n_active} "
                         f"loss_mean={np.mean(losses) if losses else float('nan'):.4f} "
                         f"lr={self.cells[0].lr_at(self.epoch):.1e} {time.perf_counter() - t0:.2f}s")
                if self.progress:
                    self.progress(self.epoch, checkpoints[-1], n_active, len(self.cells), time.perf_counter() - t0)
            if self.epoch in checkpoints:
                self.evaluate()
            due = self.epoch in checkpoints or time.perf_counter() - saved >= state_every_s
            if state_path is not None and due:
                save_state(self, Path(state_path))
                saved = time.perf_counter()
        return self.results
