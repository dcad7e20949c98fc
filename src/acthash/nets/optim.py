"""Optimizers for stacked parameters with frozen members: Adam (Keras' update form) and SGD with momentum (an
ablation of the optimizer choice), each adding the L2 penalty's gradient 2·λ·W of the decayed kernels (Keras
`kernel_regularizer`) itself. Each entry's update is the same arithmetic wherever the entry sits, so a
member's training does not depend on which members share its pack."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numba
import numpy as np
import torch
from torch import Tensor


@numba.njit(parallel=True, cache=True)
def _keras_adam(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, frozen: np.ndarray, lr_t: np.floating,
                b1: np.floating, c1: np.floating, b2: np.floating, c2: np.floating, eps: np.floating) -> None:
    """Keras' Adam step in place on (rows, cols) arrays, one pass, in the arrays' precision (the scalars come in
    it): the same scalar operations for every entry, in the vectorised body and the remainder alike (no fused
    multiply-add, no reassociation: numba without fastmath). A row whose `frozen` entry is set (a stopped
    member's) is not touched: neither read nor written."""
    for r in numba.prange(p.shape[0]):
        if frozen[r]:
            continue
        for j in range(p.shape[1]):
            gi = g[r, j]
            mi = b1 * m[r, j] + c1 * gi
            vi = b2 * v[r, j] + c2 * (gi * gi)
            m[r, j], v[r, j] = mi, vi
            p[r, j] = p[r, j] - lr_t * mi / (np.sqrt(vi) + eps)


@numba.njit(parallel=True, cache=True)
def _keras_adam_decayed(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, frozen: np.ndarray,
                        decay: np.ndarray, lr_t: np.floating, b1: np.floating, c1: np.floating, b2: np.floating,
                        c2: np.floating, eps: np.floating) -> None:
    """`_keras_adam` whose gradient takes the L2 term first, g + decay[row]·p (a product, then a sum), in the
    same pass."""
    for r in numba.prange(p.shape[0]):
        if frozen[r]:
            continue
        d = decay[r]
        for j in range(p.shape[1]):
            pj = p[r, j]
            gi = g[r, j] + d * pj
            mi = b1 * m[r, j] + c1 * gi
            vi = b2 * v[r, j] + c2 * (gi * gi)
            m[r, j], v[r, j] = mi, vi
            p[r, j] = pj - lr_t * mi / (np.sqrt(vi) + eps)


Decayed = Sequence[tuple[Tensor, Tensor]]  # (parameter, the member owning each of its rows): the L2-penalised


def _row_coefficients(decayed: Decayed, l2: Tensor) -> dict[int, Tensor]:
    """2·λ of each row of each decayed parameter (by `id`), from λ per member (M,) (padding rows: 0)."""
    coef = torch.cat([l2, l2.new_zeros(1)]) * 2
    return {id(p): coef[rows] for p, rows in decayed}


@torch.no_grad()
def add_l2_grad(decayed: Decayed, l2: Tensor) -> None:
    """Add 2·λ·W to the gradient of each decayed parameter (torch's element-wise kernels)."""
    coef = _row_coefficients(decayed, l2)
    for p, _ in decayed:
        p.grad.view(coef[id(p)].shape[0], -1).addcmul_(p.view(coef[id(p)].shape[0], -1), coef[id(p)].unsqueeze(1))


def _stopped(active: Tensor) -> Tensor:
    """(M + 1,) bool: the members whose `active` entry is False, then padding (owner M), which is never frozen."""
    return torch.cat([~active, active.new_zeros(1)])


class _Freezer:
    """Keeps stopped members' entries unchanged through an optimizer step that steps every entry (torch's fused
    Adam on a GPU, SGD). Every owner map has the leading dims of its parameter and singletons after, so a member
    owns whole rows of the parameter seen as (rows, rest): the step is taken for all, then the stopped members'
    rows (found once per set of stopped members) are written back. Copying only those rows costs a fraction of
    the step; snapshotting whole tensors made an epoch with one stopped member of a 161-member pack 2.7 times
    slower."""

    def __init__(self, params: Sequence[Tensor], owners: Sequence[Tensor]) -> None:
        for p, own in zip(params, owners):
            lead = list(own.shape)
            while lead and lead[-1] == 1:
                lead.pop()
            if own.dim() > p.dim() or list(p.shape[:len(lead)]) != lead:
                raise ValueError(f"owner map {tuple(own.shape)} does not give whole rows of {tuple(p.shape)}")
        self.owners = list(owners)
        self._rows: tuple[tuple[bool, ...], list[Tensor]] | None = None

    def rows(self, active: Tensor) -> list[Tensor]:
        key = tuple(active.tolist())
        if self._rows is None or self._rows[0] != key:
            inactive = _stopped(active)
            self._rows = key, [inactive[own].reshape(-1).nonzero().squeeze(1) for own in self.owners]
        return self._rows[1]

    def hold(self, tensors: Sequence[Sequence[Tensor]], active: Tensor) -> Callable[[], None]:
        """Save the rows of members whose `active` entry is False in every tensor of `tensors` (one list per
        parameter: the parameter and its optimizer state); the returned function writes them back."""
        if bool(active.all()):
            return lambda: None
        saved = []
        for own, rows, ts in zip(self.owners, self.rows(active), tensors):
            flat = [t.view(own.numel(), -1) for t in ts]
            saved.append((rows, flat, [f.index_select(0, rows) for f in flat]))

        def restore() -> None:
            for rows, flat, before in saved:
                for f, b in zip(flat, before):
                    f.index_copy_(0, rows, b)
        return restore


class StackedAdam:
    """Adam over stacked parameters, each with an owner map: the member id of every entry (M = padding).

    Keras 2 form: lr_t = lr·sqrt(1−β2^t)/(1−β1^t); p −= lr_t·m/(sqrt(v)+ε). On the CPU a numba kernel computes
    it as written, in the parameters' precision, as fast as torch's fused CPU kernel (docs/benchmarks.md), which
    rounds an entry differently in its vector body and its scalar tail, so a member's weights depended on where
    its entries fell in the stacked tensors; on a GPU every entry runs the same code, and torch's fused kernel
    computes the update with ε' = ε/sqrt(1−β2^t). All members share the learning rate and the step count (they
    start together and a stopped member never resumes). A member whose `active` entry is False keeps its
    parameters and moments unchanged (a stopped or diverged member is frozen): on the CPU the kernel skips its
    rows, on a GPU they are stepped and written back (`_Freezer`); padding entries have zero gradients and
    moments, so they never move.
    """

    def __init__(self, params: Sequence[Tensor], owners: Sequence[Tensor], eps: float,
                 betas: tuple[float, float] = (0.9, 0.999), decayed: Decayed = ()) -> None:
        self.params, self.freezer, self.decayed = list(params), _Freezer(params, owners), list(decayed)
        self.eps, (self.b1, self.b2) = eps, betas
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
        # the CPU kernels see each parameter as (rows, cols), each row one member's (or padding): a decayed
        # parameter by the rows of its L2 map, any other by those of its owner map
        by_row = {id(p): rows for p, rows in self.decayed}
        self._row_owners = [by_row.get(id(p), own.reshape(-1)) for p, own in zip(self.params, owners)]
        self._shapes = [(len(rows), -1) for rows in self._row_owners]
        self._frozen: tuple[tuple[bool, ...], list[np.ndarray]] | None = None  # rows of stopped members, per active set
        self._arrays: list[list[np.ndarray]] | None = None
        self._coef: tuple[Tensor, dict[int, np.ndarray]] | None = None  # λ per member, and its rows' 2·λ (CPU)

    @torch.no_grad()
    def step(self, lr: float, active: Tensor, l2: Tensor | None = None) -> None:
        """One update with learning rate `lr` for the members where `active` ((M,) bool) is True, the gradients
        of the decayed parameters taking the L2 term 2·λ_m·W first (`l2`: λ per member, (M,); None: no term)."""
        self.t += 1
        t = float(self.t)
        if self.params[0].device.type == "cpu":
            self._cpu_step(lr, t, l2, active)
        else:
            restore = self.freezer.hold(list(zip(self.params, self.m, self.v)), active)
            if l2 is not None:
                add_l2_grad(self.decayed, l2)
            torch._fused_adam_(self.params, [p.grad for p in self.params], self.m, self.v, [],
                               [self.t] * len(self.params), lr=lr, beta1=self.b1, beta2=self.b2, weight_decay=0.0,
                               eps=self.eps / math.sqrt(1 - self.b2**t), amsgrad=False, maximize=False)
            restore()

    def _frozen_rows(self, active: Tensor) -> list[np.ndarray]:
        """Per parameter, which of its rows belong to a member whose `active` entry is False (padding rows never),
        kept while the set of active members is the same (it changes only when a member stops)."""
        key = tuple(active.tolist())
        if self._frozen is None or self._frozen[0] != key:
            stopped = _stopped(active).cpu()
            self._frozen = key, [stopped[rows.cpu()].numpy() for rows in self._row_owners]
        return self._frozen[1]

    def _decay_coefficients(self, l2: Tensor) -> dict[int, np.ndarray]:
        """`_row_coefficients` as numpy arrays, kept while λ per member is the same (it changes only when a member
        stops)."""
        if self._coef is None or not torch.equal(self._coef[0], l2):
            self._coef = l2.clone(), {i: c.numpy() for i, c in _row_coefficients(self.decayed, l2).items()}
        return self._coef[1]

    def _cpu_step(self, lr: float, t: float, l2: Tensor | None, active: Tensor) -> None:
        """One numba pass per parameter over the rows of active members, in the parameters' precision (Keras:
        scalars in the weights' dtype)."""
        real = np.dtype(str(self.params[0].dtype).removeprefix("torch.")).type
        b1, b2, one = real(self.b1), real(self.b2), real(1)
        scalars = (real(lr) * (np.sqrt(one - b2 ** real(t)) / (one - b1 ** real(t))), b1, one - b1, b2, one - b2,
                   real(self.eps))
        coef = {} if l2 is None else self._decay_coefficients(l2)
        if self._arrays is None:  # numpy views of parameters and moments: they are updated in place, never replaced
            self._arrays = [[x.detach().view(shape).numpy() for x in (p, m, v)]
                            for p, m, v, shape in zip(self.params, self.m, self.v, self._shapes)]
        for p, (pa, ma, va), shape, frozen in zip(self.params, self._arrays, self._shapes, self._frozen_rows(active)):
            ga = p.grad.contiguous().view(shape).numpy()
            if id(p) in coef:
                _keras_adam_decayed(pa, ga, ma, va, frozen, coef[id(p)], *scalars)
            else:
                _keras_adam(pa, ga, ma, va, frozen, *scalars)

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, state: dict) -> None:
        for dst, src in zip(self.m + self.v, state["m"] + state["v"]):
            dst.copy_(src)
        self.t.copy_(state["t"])


class StackedSGD:
    """SGD with heavy-ball momentum over stacked parameters, torch's form: b = μ·b + g; p −= lr·b (the first
    step takes b = g). Keras' form v = μ·v − lr·g; p += v is the same while the learning rate is constant and
    differs after a decay. Frozen members keep parameters and momentum buffers, as in `StackedAdam`."""

    def __init__(self, params: Sequence[Tensor], owners: Sequence[Tensor], momentum: float,
                 decayed: Decayed = ()) -> None:
        self.params, self.freezer, self.momentum = list(params), _Freezer(params, owners), momentum
        self.decayed = list(decayed)
        self.b = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: float, active: Tensor, l2: Tensor | None = None) -> None:
        """One update with learning rate `lr` for the members where `active` ((M,) bool) is True, the gradients
        of the decayed parameters taking the L2 term 2·λ_m·W first (`l2`: λ per member, (M,))."""
        if l2 is not None:
            add_l2_grad(self.decayed, l2)
        restore = self.freezer.hold(list(zip(self.params, self.b)), active)
        torch._foreach_mul_(self.b, self.momentum)  # the buffers start at zero: the first step takes b = g
        torch._foreach_add_(self.b, [p.grad for p in self.params])
        torch._foreach_add_(self.params, self.b, alpha=-lr)
        restore()

    def state_dict(self) -> dict:
        return {"b": self.b}

    def load_state_dict(self, state: dict) -> None:
        for dst, src in zip(self.b, state["b"]):
            dst.copy_(src)
