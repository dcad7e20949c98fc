"""A pack of M CNNs (VGG-16/19 with BN, CIFAR-style ResNet-18/20; docs/spec.md Part B §2.5) as one model.

Every convolution is one grouped convolution over the M members' channels laid side by side (member m owns
channels m·C … (m+1)·C − 1 of every layer), so each member keeps its own weights, BN statistics and data
order while the pack runs as one network. Fully connected layers (VGG's fc6/fc7, the softmax head) are
grouped 1×1 convolutions on the 1×1 map left after the last pooling. `width` is the base channel count:
VGG 64 → 64-128-256-512-512 and fc 512, ResNet-18 64 → 64…512, ResNet-20 16 → 16/32/64 (the reference
networks); smaller widths give slimmer networks for the model-size axis. Inputs smaller than 32×32
(MNIST-like 28×28, digits 8×8) are zero-padded to 32×32 so that the five 2×2 poolings of VGG are defined.

Conventions (Keras-like, as the MLP): Glorot-uniform kernels drawn per member from its own seed, BN γ=1
β=0, no conv/fc bias (a bias before BN is redundant), zero head bias. L2 applies to every conv and fc
kernel except ResNet projection shortcuts (as the reference) and the softmax head (as the MLP recipe).
The code is every ReLU output of every channel at every position, plus fc ReLUs (VGG) / post-addition
ReLUs (ResNets), layer by layer in channel, row, column order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from acthash.nets.layers import batch_norm, glorot_uniform
from acthash.params.cell import ARCHS

# arch → (convs per VGG block, or blocks per ResNet stage)
VGG = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
RESNET = {"resnet18": (2, 2, 2, 2), "resnet20": (3, 3, 3)}
CNN_ARCHS = tuple(a for a in ARCHS if a != "mlp")  # each has an entry in VGG or RESNET (tested)
MIN_SIDE = 32


class _ConvBN(nn.Module):
    """M members' k×k convolutions (no bias) followed by batch normalisation, over M·cout channels."""

    def __init__(self, m: int, cin: int, cout: int, k: int, stride: int, decay: bool, dtype: torch.dtype) -> None:
        super().__init__()
        self.m, self.cout, self.k, self.stride, self.decay = m, cout, k, stride, decay
        self.weight = nn.Parameter(torch.zeros(m * cout, cin, k, k, dtype=dtype))
        self.gamma = nn.Parameter(torch.ones(m * cout, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(m * cout, dtype=dtype))
        self.register_buffer("running_mean", torch.zeros(m * cout, dtype=dtype))
        self.register_buffer("running_var", torch.ones(m * cout, dtype=dtype))

    def init_member(self, i: int, gen: torch.Generator) -> None:
        cin, area = self.weight.shape[1], self.k * self.k
        values = glorot_uniform((self.cout, cin, self.k, self.k), area * cin, area * self.cout, gen)
        self.weight[i * self.cout:(i + 1) * self.cout] = values.to(self.weight.dtype)

    def forward(self, x: Tensor, active: Tensor | None, eps: float, momentum: float) -> Tensor:
        y = F.conv2d(x, self.weight, stride=self.stride, padding=self.k // 2, groups=self.m)
        keep = None if active is None else active.repeat_interleave(self.cout)
        return batch_norm(y, self.running_mean, self.running_var, self.gamma, self.beta, self.training, momentum,
                          eps, keep)


class _VGG(nn.Module):
    """VGG-16/19 with BN: blocks of 3×3 convolutions (widths ×1, ×2, ×4, ×8, ×8) each closed by max-pooling,
    then two fully connected ReLU layers of 8·width (1×1 convolutions), the dropout sites."""

    def __init__(self, arch: str, m: int, c: int, width: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.blocks, self.layers, cin = VGG[arch], nn.ModuleList(), c
        for block, n_conv in enumerate(self.blocks):
            cout = width * min(2**block, 8)
            for _ in range(n_conv):
                self.layers.append(_ConvBN(m, cin, cout, 3, 1, True, dtype))
                cin = cout
        self.fc = nn.ModuleList([_ConvBN(m, cin, 8 * width, 1, 1, True, dtype),
                                 _ConvBN(m, 8 * width, 8 * width, 1, 1, True, dtype)])
        self.features = 8 * width

    def forward(self, x: Tensor, conv: Callable[[_ConvBN, Tensor], Tensor], hidden: list[Tensor],
                dropout: Sequence[Tensor | None] | None) -> Tensor:
        layers = iter(self.layers)
        for n_conv in self.blocks:
            for _ in range(n_conv):
                x = torch.relu(conv(next(layers), x))
                hidden.append(x)
            x = F.max_pool2d(x, 2)
        for s, layer in enumerate(self.fc):
            x = torch.relu(conv(layer, x))
            hidden.append(x)
            if self.training and dropout is not None and dropout[s] is not None:
                x = x * dropout[s].transpose(0, 1).reshape(x.shape[0], -1, 1, 1)
        return x


class _ResNet(nn.Module):
    """CIFAR-style ResNet-18/20: a 3×3 stem, stages of basic blocks (two 3×3 convolutions and the identity or a
    1×1 projection; widths ×1, ×2, ...), global average pooling. No dropout sites."""

    def __init__(self, arch: str, m: int, c: int, width: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_ConvBN(m, c, width, 3, 1, True, dtype)])
        self.blocks: list[tuple[int, int, int | None]] = []  # (conv1 index, conv2 index, projection index or None)
        cin = width
        for stage, n_blocks in enumerate(RESNET[arch]):
            cout = width * 2**stage
            for b in range(n_blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                first = len(self.layers)
                self.layers.append(_ConvBN(m, cin, cout, 3, stride, True, dtype))
                self.layers.append(_ConvBN(m, cout, cout, 3, 1, True, dtype))
                proj = None
                if stride != 1 or cin != cout:
                    proj = len(self.layers)
                    self.layers.append(_ConvBN(m, cin, cout, 1, stride, False, dtype))
                self.blocks.append((first, first + 1, proj))
                cin = cout
        self.fc = nn.ModuleList()
        self.features = cin

    def forward(self, x: Tensor, conv: Callable[[_ConvBN, Tensor], Tensor], hidden: list[Tensor],
                dropout: Sequence[Tensor | None] | None) -> Tensor:
        x = torch.relu(conv(self.layers[0], x))
        hidden.append(x)
        for c1, c2, proj in self.blocks:
            y = torch.relu(conv(self.layers[c1], x))
            hidden.append(y)
            x = torch.relu(conv(self.layers[c2], y) + (x if proj is None else conv(self.layers[proj], x)))
            hidden.append(x)
        return F.adaptive_avg_pool2d(x, 1)


def _body_keys(state: dict, prefix: str, *args: object) -> None:
    """Training states saved before the VGG/ResNet bodies (acthash < 0.3.0) name their layers `layers.*` and
    `fc.*`; they are now `body.layers.*` and `body.fc.*` (a preempted CNN pack resumes across the upgrade)."""
    for key in [k for k in state if k.startswith((f"{prefix}layers.", f"{prefix}fc."))]:
        state[f"{prefix}body.{key[len(prefix):]}"] = state.pop(key)


class StackedCNN(nn.Module):
    """M CNNs of one architecture and width; same interface as `StackedMLP`.

    `forward` takes inputs (G, B, C·H·W), one batch per input group (`groups[m]` is member m's), and returns
    logits (M, B, n_classes) and the post-ReLU maps, each (B, M·C, H, W).
    """

    def __init__(self, arch: str, image_shape: Sequence[int], n_classes: int, width: int, seeds: Sequence[int],
                 groups: Sequence[int] | None, bn_eps: float, bn_momentum: float,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if arch not in CNN_ARCHS:
            raise ValueError(f"arch={arch!r} not in {CNN_ARCHS}")
        m = len(seeds)
        self.arch, self.m, self.n_classes, self.bn_eps, self.bn_momentum = arch, m, n_classes, bn_eps, bn_momentum
        self.groups = list(groups) if groups is not None else list(range(m))
        self.image_shape = tuple(int(s) for s in image_shape)
        c, h, w = self.image_shape
        pad_h, pad_w = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
        self.pad = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)  # F.pad order: W then H
        self.register_buffer("group_index", torch.as_tensor(self.groups))
        self.widths = [width] * m  # the pack's member widths (base channels), as StackedMLP.widths
        self.body = (_VGG if arch in VGG else _ResNet)(arch, m, c, width, dtype)
        features = self.body.features
        self.head = nn.Parameter(torch.zeros(m * n_classes, features, 1, 1, dtype=dtype))
        self.head_bias = nn.Parameter(torch.zeros(m * n_classes, dtype=dtype))
        self.drop_widths = [[8 * width] * m] * len(self.fc)  # dropout sites (VGG's fc ReLUs), per member
        with torch.no_grad():
            for i, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(int(seed))
                for layer in list(self.layers) + list(self.fc):
                    layer.init_member(i, gen)
                values = glorot_uniform((n_classes, features), features, n_classes, gen)
                self.head[i * n_classes:(i + 1) * n_classes, :, 0, 0] = values.to(dtype)
        self.code_lengths = [sum(int(h[0].numel()) // m for h in self._trace())] * m
        self._register_load_state_dict_pre_hook(_body_keys)

    @property
    def layers(self) -> nn.ModuleList:
        """The convolutions of the body, in order."""
        return self.body.layers

    @property
    def fc(self) -> nn.ModuleList:
        """The fully connected layers (VGG; none in a ResNet)."""
        return self.body.fc

    @torch.no_grad()
    def _trace(self) -> list[Tensor]:
        """The hidden maps of one blank input (to count code bits)."""
        was = self.training
        self.eval()
        x = torch.zeros(len(set(self.groups)), 1, math.prod(self.image_shape), dtype=self.head.dtype,
                        device=self.head.device)
        hidden = self(x)[1]
        self.train(was)
        return hidden

    # -- interface shared with StackedMLP ------------------------------------------------------------
    def owners(self) -> list[Tensor]:
        """For each tensor of `parameters()`, the member owning each entry (broadcastable)."""
        out = []
        for p in self.parameters():
            member = torch.arange(self.m, device=p.device).repeat_interleave(p.shape[0] // self.m)
            out.append(member.view((-1,) + (1,) * (p.dim() - 1)))
        return out

    def _decayed(self) -> list[nn.Module]:
        return [layer for layer in list(self.layers) + list(self.fc) if layer.decay]

    def decayed(self) -> list[tuple[Tensor, Tensor]]:
        """The decayed kernels, each with the member owning each of its rows (output channels), (rows,)."""
        return [(layer.weight, torch.arange(self.m, device=layer.weight.device).repeat_interleave(layer.cout))
                for layer in self._decayed()]

    def l2_per_member(self) -> Tensor:
        """Σ W² of each member's decayed kernels, (M,)."""
        return sum(layer.weight.pow(2).view(self.m, -1).sum(1) for layer in self._decayed())

    def member_bits(self, hidden: list[Tensor], i: int, n: int) -> Tensor:
        """Code bits (n, code_lengths[i]) of member i for the first n rows of a forward's hidden maps."""
        return torch.cat([h[:n, i * (h.shape[1] // self.m):(i + 1) * (h.shape[1] // self.m)].reshape(n, -1) > 0
                          for h in hidden], dim=1)

    # -- forward ---------------------------------------------------------------------------------------
    def forward(self, x: Tensor, dropout: Sequence[Tensor | None] | None = None,
                active: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """Logits and post-ReLU maps. In training mode BN uses batch statistics and updates the running
        statistics of `active` members only; `dropout[s]` is a (M, B, fc) keep/scale mask or None."""
        b = x.shape[1]
        c, h, w = self.image_shape
        x = x[self.group_index].view(self.m, b, c, h, w)
        x = x.transpose(0, 1).reshape(b, self.m * c, h, w)
        if any(self.pad):
            x = F.pad(x, self.pad)
        hidden: list[Tensor] = []
        x = self.body(x, lambda layer, inp: layer(inp, active, self.bn_eps, self.bn_momentum), hidden, dropout)
        logits = F.conv2d(x, self.head, self.head_bias, groups=self.m)
        return logits.view(b, self.m, self.n_classes).transpose(0, 1), hidden
