"""The layers the stacked networks share (`acthash.nets.mlp`, `acthash.nets.cnn`): Keras' Glorot-uniform draw, batch
normalisation with Keras' and TF's options (`BNSettings`, `batch_norm`, `UnitBatchNorm` over units-major
activations), and the MLP's two products with hand-written gradients: the wide first layer of every input group
(`wide_product`) and a bucket's deeper layer (`member_product`), each writing its kernel's gradient in place, as
functions (the training pass by hand, `acthash.nets.mlp_pass`) and as autograd functions (`WideInput`,
`MemberLinear`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn


def glorot_uniform(shape: Sequence[int], fan_in: int, fan_out: int, gen: torch.Generator) -> Tensor:
    """Keras' glorot_uniform draw of a kernel of `shape` (float64, from `gen`): U(±sqrt(6 / (fan_in + fan_out)))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 * limit - limit


@dataclasses.dataclass
class BNSettings:
    """Batch norm as a pack's recipe sets it, shared by every layer of a model (changed together, in place)."""
    eps: float
    momentum: float
    biased_var: bool = False
    zero_debias: bool = False


BNKernel = Callable[..., Any]  # torch.batch_norm's arguments without cudnn_enabled → output (or a tuple)


def _autograd_batch_norm(x: Tensor, weight: Tensor, bias: Tensor, running_mean: Tensor, running_var: Tensor,
                         training: bool, momentum: float, eps: float) -> Tensor:
    """torch's batch norm, which autograd differentiates (cuDNN's kernel on a GPU where enabled)."""
    return torch.batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps,
                            torch.backends.cudnn.enabled)


def batch_norm(x: Tensor, running_mean: Tensor, running_var: Tensor, weight: Tensor, bias: Tensor, training: bool,
               momentum: float, eps: float, keep: Tensor | None = None, biased_var: bool = False,
               kernel: BNKernel = _autograd_batch_norm) -> Any:
    """torch's fused batch norm over channel dim 1 (PyTorch momentum, unbiased running variance). In training
    the running statistics move only for channels where `keep` (bool, one per channel) is True: a stopped
    member keeps its own; None moves them all. `biased_var`: the running variance moves towards the batch's
    biased variance instead (tf.keras' non-fused layer, no Bessel correction). `kernel`: the batch norm called,
    torch.batch_norm's arguments but cudnn_enabled (`torch.native_batch_norm` also returns the batch's mean and
    inverse standard deviation, which a backward by hand needs); its result is returned."""
    single = x.numel() == x.shape[1]
    if not training or (keep is None and not single and not biased_var):
        return kernel(x, weight, bias, running_mean, running_var, training, momentum, eps)
    mean, var = running_mean.clone(), running_var.clone()
    out = kernel(x, weight, bias, mean, var, True, momentum, eps)
    with torch.no_grad():
        if single:  # one value per channel: variance 0 (torch's unbiased update would divide by zero)
            var = running_var * (1 - momentum)
        elif biased_var:  # var = (1 − m)·rv + m·s²·n/(n − 1): take the m·s²/(n − 1) back out
            var = var - (var - (1 - momentum) * running_var) / (x.numel() // x.shape[1])
        running_mean.copy_(mean if keep is None else torch.where(keep, mean, running_mean))
        running_var.copy_(var if keep is None else torch.where(keep, var, running_var))
    return out


class UnitBatchNorm(nn.Module):
    """Batch norm of units-major activations (…, units, B), each unit a channel: γ, β and the running statistics
    of one layer of units (`shape`: the activations' shape without the batch)."""

    def __init__(self, shape: tuple[int, ...], settings: BNSettings, dtype: torch.dtype) -> None:
        super().__init__()
        self.settings = settings
        self.gamma = nn.Parameter(torch.ones(shape, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(shape, dtype=dtype))
        self.register_buffer("running_mean", torch.zeros(shape, dtype=dtype))
        self.register_buffer("running_var", torch.ones(shape, dtype=dtype))
        if settings.zero_debias:  # TF's zero-debiased moving averages: biased sums and per-unit step counts
            for name in ("biased_mean", "biased_var", "debias_steps"):
                self.register_buffer(name, torch.zeros(shape, dtype=dtype))

    def forward(self, h: Tensor, keep: Tensor | None) -> Tensor:
        """BN of h (…, units, B); in training the running statistics of units where `keep` (bool per unit, or None:
        all) is True move."""
        return self._normalise(h, keep, _autograd_batch_norm).view(h.shape)

    def with_statistics(self, h: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """`forward` in training through `torch.native_batch_norm` (the CPU kernel autograd's batch norm runs):
        the output, then the batch's mean and inverse standard deviation per unit, for a backward by hand."""
        out, mean, invstd = self._normalise(h, keep, torch.native_batch_norm)
        return out.view(h.shape), mean, invstd

    def _normalise(self, h: Tensor, keep: Tensor | None, kernel: BNKernel) -> Any:
        s = self.settings
        debias = self.training and s.zero_debias
        if debias and keep is None:  # the path that normalises with copies: the buffers are rewritten below
            keep = torch.ones(h.shape[:-1], dtype=torch.bool, device=h.device)
        out = batch_norm(h.reshape(1, -1, h.shape[-1]), self.running_mean.view(-1), self.running_var.view(-1),
                         self.gamma.flatten(), self.beta.flatten(), self.training, s.momentum, s.eps,
                         None if keep is None else keep.flatten(), s.biased_var, kernel)
        if debias:
            self._zero_debias(h, keep)
        return out

    @torch.no_grad()
    def _zero_debias(self, h: Tensor, keep: Tensor) -> None:
        """Replace the running statistics just updated by TF's zero-debiased moving averages (standalone Keras
        2.2's `moving_average_update`): biased ← d·biased + (1 − d)·batch from biased = 0, running = biased /
        (1 − dᵗ) after t updates (d = 1 − momentum), so early running statistics are the batch statistics seen
        so far, not mostly their initial values. Units where `keep` is False are left as they are."""
        rows = h.reshape(-1, h.shape[-1])
        batch = (rows.mean(1), rows.var(1, correction=0 if self.settings.biased_var else 1))
        moved = keep.flatten()
        steps = self.debias_steps.view(-1)
        steps.add_(moved.to(steps.dtype))
        decay = 1 - self.settings.momentum
        for stat, value in zip(("mean", "var"), batch):
            biased = getattr(self, f"biased_{stat}").view(-1)
            biased.copy_(torch.where(moved, decay * biased + (1 - decay) * value, biased))
            running = getattr(self, f"running_{stat}").view(-1)
            running.copy_(torch.where(moved, biased / (1 - decay ** steps), running))


def wide_product(x: Tensor, kernel: Tensor, bias: Tensor) -> Tensor:
    """The wide first layer, units-major: (G, T, B) = kernel·xᵀ + bias, for x (G, B, D), kernel (G, T, D).

    An even number of groups is one batched product (torch splits the groups between threads); an odd number is
    one product per group, each on all threads (batched, G = 3 ran 1.3–1.4× slower on 2 cores, one thread idle
    part of the time; a batch of one matrix takes another BLAS kernel). Both give each row the same bits
    (tests/test_model.py compares a member alone, in 2 groups and in 3 and 5)."""
    if kernel.shape[0] % 2 == 0:
        return torch.baddbmm(bias.unsqueeze(2), kernel, x.transpose(1, 2))
    out = kernel.new_empty(kernel.shape[0], kernel.shape[1], x.shape[1])
    for g in range(kernel.shape[0]):
        torch.addmm(bias[g].unsqueeze(1), kernel[g], x[g].T, out=out[g])
    return out


def wide_kernel_grad(grad: Tensor, x: Tensor, out: Tensor) -> Tensor:
    """The wide kernel's gradient grad·x (G, T, D) for the output's gradient (G, T, B), written into `out`,
    grouped as `wide_product` groups its product."""
    if grad.shape[0] % 2 == 0:
        return torch.bmm(grad, x, out=out)
    for g in range(grad.shape[0]):
        torch.mm(grad[g], x[g], out=out[g])
    return out


def member_product(h: Tensor, kernel: Tensor, bias: Tensor) -> Tensor:
    """A deeper layer of a bucket: (R, cap, B) = kernelᵀ·h + bias, for h (R, cap, B) and kernel (R, cap, cap)
    stored (in, out)."""
    return torch.baddbmm(bias.unsqueeze(2), kernel.transpose(1, 2), h)


def member_grads(h: Tensor, kernel: Tensor, grad: Tensor, kernel_grad: Tensor) -> tuple[Tensor, Tensor]:
    """`member_product`'s gradients for the output's gradient `grad`: its input's, kernel·grad, and its bias's;
    the kernel's, h·gradᵀ, is written into `kernel_grad` with one GEMM in the kernel's own layout (autograd would
    compute the transposed product and copy it into a new tensor)."""
    torch.bmm(h, grad.transpose(1, 2), out=kernel_grad)
    return torch.bmm(kernel, grad), grad.sum(2)


class WideInput(torch.autograd.Function):
    """`wide_product` for autograd. The backward writes the kernel's gradient straight into `grad_buffer` and
    makes that the kernel's `.grad` (the kernel gradient is *set*, not accumulated: zero the gradients with
    set_to_none before each backward, as the trainer does). Autograd would allocate, zero and add a gradient of
    in_dim × Σ widths every step, as large as the kernel itself. x gets no gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, kernel: Tensor, bias: Tensor, grad_buffer: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.kernel, ctx.grad_buffer = kernel, grad_buffer
        return wide_product(x, kernel, bias)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, None, Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        if ctx.needs_input_grad[1]:
            ctx.kernel.grad = wide_kernel_grad(grad, x, ctx.grad_buffer)
        return None, None, grad.sum(2), None


class MemberLinear(torch.autograd.Function):
    """`member_product` for autograd, its kernel's gradient written into `grad_buffer` and made its `.grad` (set,
    not accumulated, as `WideInput`)."""

    @staticmethod
    def forward(ctx, h: Tensor, kernel: Tensor, bias: Tensor, grad_buffer: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(h, kernel)
        ctx.kernel, ctx.grad_buffer = kernel, grad_buffer
        return member_product(h, kernel, bias)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, Tensor, None]:  # type: ignore[override]
        h, kernel = ctx.saved_tensors
        if not ctx.needs_input_grad[1]:
            return torch.bmm(kernel, grad), None, grad.sum(2), None
        grad_h, grad_bias = member_grads(h, kernel, grad, ctx.grad_buffer)
        ctx.kernel.grad = ctx.grad_buffer
        return grad_h, None, grad_bias, None
