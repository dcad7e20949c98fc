"""The dims of a merged dataset: the grid's (width, epoch, n_train, seed and any other varying axis), and the
training curves' own `epoch_trained`, which only `train_loss` and `train_lr` have."""

from __future__ import annotations

import xarray as xr

CURVE_DIM = "epoch_trained"


def grid_dims(ds: xr.Dataset) -> list[str]:
    """The dims of `ds` over which its metrics vary (every dim but the training curves')."""
    return [d for d in ds.dims if d != CURVE_DIM]


def varying_dims(ds: xr.Dataset) -> list[str]:
    """The grid dims of `ds`, seed aside, that hold more than one value: what its figures and tables are drawn over."""
    return [d for d in grid_dims(ds) if d != "seed" and ds.sizes[d] > 1]
