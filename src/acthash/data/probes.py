"""Random inputs shaped like the data, for the random-input redundancy probe (docs/spec.md Part B §1.7, bug 13)."""

from __future__ import annotations

import numpy as np


def random_inputs(kind: str, n: int, x_train: np.ndarray, seed: int) -> np.ndarray:
    """(n, D) float32 random inputs, seeded: `uniform01` U[0,1), `neg_uniform01` −U[0,1) (the reference's
    CIFAR-10 choice), `gaussian_like_data` N(mean, std) per input dimension of the training inputs."""
    rng = np.random.default_rng([seed, 3])
    flat = x_train.reshape(len(x_train), -1)
    if kind == "uniform01":
        return rng.random((n, flat.shape[1]), dtype=np.float32)
    if kind == "neg_uniform01":
        return -rng.random((n, flat.shape[1]), dtype=np.float32)
    if kind == "gaussian_like_data":
        mean, std = flat.mean(0), flat.std(0)
        return (rng.standard_normal((n, flat.shape[1]), dtype=np.float32) * std + mean).astype(np.float32)
    raise ValueError(f"random_inputs={kind!r} not in ('uniform01', 'neg_uniform01', 'gaussian_like_data')")
