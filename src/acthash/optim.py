"""Adam for stacked parameters (Keras update form) with frozen members, on torch's fused Adam kernel."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


class StackedAdam:
    """Adam over stacked parameters, each with an owner map: the member id of every entry (M = padding).

    Keras 2 form: lr_t = lr·sqrt(1−β2^t)/(1−β1^t); p −= lr_t·m/(sqrt(v)+ε). torch's fused kernel computes
    the same update with ε' = ε/sqrt(1−β2^t). All members share the learning rate and the step count (they
    start together and a stopped member never resumes). A member whose `active` entry is False keeps its
    parameters and moments unchanged (a stopped or diverged member is frozen); padding entries have zero
    gradients and moments, so they never move.
    """

    def __init__(self, params: Sequence[Tensor], owners: Sequence[Tensor], n_members: int, eps: float = 1e-7,
                 betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.params, self.owners, self.n_members = list(params), list(owners), n_members
        self.eps, (self.b1, self.b2) = eps, betas
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros((), dtype=torch.float32, device=self.params[0].device)

    @torch.no_grad()
    def step(self, lr: float, active: Tensor) -> None:
        """One update with learning rate `lr` for the members where `active` ((M,) bool) is True."""
        self.t += 1
        t = float(self.t)
        frozen = None
        if not bool(active.all()):
            inactive = torch.cat([~active, active.new_zeros(1)])
            frozen = [(inactive[own], p.clone(), m.clone(), v.clone())
                      for own, p, m, v in zip(self.owners, self.params, self.m, self.v)]
        grads = [p.grad for p in self.params]
        torch._fused_adam_(self.params, grads, self.m, self.v, [], [self.t] * len(self.params), lr=lr,
                           beta1=self.b1, beta2=self.b2, weight_decay=0.0,
                           eps=self.eps / math.sqrt(1 - self.b2**t), amsgrad=False, maximize=False)
        for (mask, p0, m0, v0), p, m, v in zip(frozen or [], self.params, self.m, self.v):
            p.copy_(torch.where(mask, p0, p))
            m.copy_(torch.where(mask, m0, m))
            v.copy_(torch.where(mask, v0, v))

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, state: dict) -> None:
        for dst, src in zip(self.m + self.v, state["m"] + state["v"]):
            dst.copy_(src)
        self.t.copy_(state["t"])
