"""Data augmentation for training batches (never for codes).

MLPs (docs/spec.md Part B §2.7 proposal): small random rotations and shifts for digits and clothes, random 4-pixel
shifts for CIFAR-10/SVHN with horizontal flips for CIFAR-10. CNNs (the reference's `ImageDataGenerator`,
§2.5): rotations up to 15°, shifts up to 10 % of the side, horizontal flips except for digits (§5 #14).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acthash.params.datasets import DATASETS


def policy(dataset: str, image_side: int, cnn: bool) -> tuple[float, int, bool]:
    """(max rotation in degrees, max shift in pixels, horizontal flips) for a dataset and model family: the
    dataset record's MLP policy, or the reference's CNN policy (digit-like datasets never flipped)."""
    if cnn:
        return 15.0, max(1, round(0.1 * image_side)), not DATASETS[dataset].digit_like
    return DATASETS[dataset].mlp_augment


def augment_batch(x: Tensor, image_shape: tuple[int, ...], dataset: str, gen: torch.Generator,
                  cnn: bool = False) -> Tensor:
    """Randomly rotated, shifted (and, where `policy` says so, flipped) copies of flattened images x (..., C·H·W).

    Random draws come from `gen` (CPU), so a seeded generator gives the same batches on any device."""
    lead, (c, h, w) = x.shape[:-1], image_shape
    imgs = x.reshape(-1, c, h, w)
    n = imgs.shape[0]
    max_rot, max_shift, flip = policy(dataset, w, cnn)
    angle = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * math.radians(max_rot)
    shift = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=gen).to(torch.float64)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).to(torch.float64) if flip else torch.ones(n, dtype=torch.float64)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos * sign, -sin, -2 * shift[:, 0] / w], 1),
                         torch.stack([sin * sign, cos, -2 * shift[:, 1] / h], 1)], 1).to(x.dtype).to(x.device)
    grid = torch.nn.functional.affine_grid(theta, [n, c, h, w], align_corners=False)
    out = torch.nn.functional.grid_sample(imgs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(*lead, c * h * w)
