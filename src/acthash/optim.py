"""Adam for stacked parameters: per-member learning rate, step count and an active mask (Keras update form)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class StackedAdam:
    """Adam over parameters whose first dimension is the pack member.

    Keras 2 form: lr_t = lr·sqrt(1−β2^t)/(1−β1^t); p −= lr_t·m/(sqrt(v)+ε). A member whose `active` entry is
    False keeps its parameters, moments and step count unchanged (a stopped or diverged member is frozen).
    """

    def __init__(self, params: Sequence[Tensor], n_members: int, eps: float = 1e-7,
                 betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.params = list(params)
        self.eps, (self.b1, self.b2) = eps, betas
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.step_count = torch.zeros(n_members, dtype=torch.float64, device=self.params[0].device)

    @torch.no_grad()
    def step(self, lr: Tensor, active: Tensor) -> None:
        """One update. `lr`: (M,) learning rates; `active`: (M,) bool."""
        a64 = active.to(torch.float64)
        self.step_count += a64
        t = self.step_count.clamp(min=1)
        lr_t = (lr.to(torch.float64) * torch.sqrt(1 - self.b2**t) / (1 - self.b1**t) * a64)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            a = active.to(p.dtype).view(shape)
            g = p.grad
            m.mul_(1 - (1 - self.b1) * a).add_(g * ((1 - self.b1) * a))
            v.mul_(1 - (1 - self.b2) * a).add_(g * g * ((1 - self.b2) * a))
            p.sub_(lr_t.to(p.dtype).view(shape) * m / (v.sqrt() + self.eps))

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v, "step_count": self.step_count}

    def load_state_dict(self, state: dict) -> None:
        for dst, src in zip(self.m + self.v, state["m"] + state["v"]):
            dst.copy_(src)
        self.step_count.copy_(state["step_count"])
