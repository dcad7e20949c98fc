"""Optimizers for stacked parameters with frozen members: Adam (Keras' update form) and SGD with momentum (an
ablation of the optimizer choice). Each entry's update is the same arithmetic wherever the entry sits, so a
member's training does not depend on which members share its pack."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numba
import numpy as np
import torch
from torch import Tensor


@numba.njit(parallel=True, cache=True)
def _keras_adam(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr_t: np.floating, b1: np.floating,
                c1: np.floating, b2: np.floating, c2: np.floating, eps: np.floating) -> None:
    """Keras' Adam step in place, one pass, in the arrays' precision (the scalars come in it): the same scalar
    operations for every entry, in the vectorised body and the remainder alike (no fused multiply-add, no
    reassociation: numba without fastmath)."""
    for i in numba.prange(p.size):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * (gi * gi)
        m[i], v[i] = mi, vi
        p[i] = p[i] - lr_t * mi / (np.sqrt(vi) + eps)


class _Freezer:
    """Keeps stopped members' entries unchanged through an optimizer step. Every owner map has the leading
    dims of its parameter and singletons after, so a member owns whole rows of the parameter seen as
    (rows, rest): the step is taken for all, then the stopped members' rows (found once per set of stopped
    members) are written back. Copying only those rows costs a fraction of the step; snapshotting whole
    tensors made an epoch with one stopped member of a 161-member pack 2.7 times slower."""

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
            inactive = torch.cat([~active, active.new_zeros(1)])  # padding (owner M) is never frozen
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
    parameters and moments unchanged (a stopped or diverged member is frozen); padding entries have zero
    gradients and moments, so they never move.
    """

    def __init__(self, params: Sequence[Tensor], owners: Sequence[Tensor], eps: float,
                 betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.params, self.freezer = list(params), _Freezer(params, owners)
        self.eps, (self.b1, self.b2) = eps, betas
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros((), dtype=torch.float32, device=self.params[0].device)

    @torch.no_grad()
    def step(self, lr: float, active: Tensor) -> None:
        """One update with learning rate `lr` for the members where `active` ((M,) bool) is True."""
        self.t += 1
        t = float(self.t)
        restore = self.freezer.hold(list(zip(self.params, self.m, self.v)), active)
        grads = [p.grad for p in self.params]
        if self.params[0].device.type == "cpu":
            self._cpu_step(lr, t, grads)
        else:
            torch._fused_adam_(self.params, grads, self.m, self.v, [], [self.t] * len(self.params), lr=lr,
                               beta1=self.b1, beta2=self.b2, weight_decay=0.0,
                               eps=self.eps / math.sqrt(1 - self.b2**t), amsgrad=False, maximize=False)
        restore()

    def _cpu_step(self, lr: float, t: float, grads: Sequence[Tensor]) -> None:
        real = np.dtype(str(self.params[0].dtype).removeprefix("torch.")).type  # Keras: scalars in the weights' dtype
        b1, b2, one = real(self.b1), real(self.b2), real(1)
        lr_t = real(lr) * (np.sqrt(one - b2 ** real(t)) / (one - b1 ** real(t)))
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            arrays = (x.detach().view(-1).numpy() for x in (p, g.contiguous(), m, v))
            _keras_adam(*arrays, lr_t, b1, one - b1, b2, one - b2, real(self.eps))

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

    def __init__(self, params: Sequence[Tensor], owners: Sequence[Tensor], momentum: float) -> None:
        self.params, self.freezer, self.momentum = list(params), _Freezer(params, owners), momentum
        self.b = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: float, active: Tensor) -> None:
        """One update with learning rate `lr` for the members where `active` ((M,) bool) is True."""
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
