"""What the tests build by hand, in one place: small cells on the bundled digits dataset (they train in seconds
on a CPU) and datasets shaped like a merged view, with metrics of a known law."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from acthash.params.cell import Cell
from acthash.params.registry import BY_NAME

# the dataset and sample size every small test cell starts from (scikit-learn's digits, no download)
SMALL = {"dataset": "digits", "n_train": 300}


def small_cell(**changes: Any) -> Cell:
    """A cell of `SMALL` with `changes`."""
    return Cell(**{**SMALL, **changes})


def merged(metrics: dict[str, np.ndarray | Callable[[xr.Dataset], xr.DataArray]], coords: dict[str, list],
           experiment: str = "synthetic") -> xr.Dataset:
    """A dataset shaped like a merged view over `coords` (dims in that order): each metric an array of that shape
    or a function of the coordinates (given as an xarray mesh, e.g. `lambda m: 1 / m["width"]`), labelled as the
    merge labels it (the registry's long name and units), its experiment and view named."""
    mesh = xr.Dataset(coords=coords)
    data = {}
    for name, values in metrics.items():
        if callable(values):  # over every dim, whichever the law uses
            da = xr.broadcast(values(mesh).astype(float), *(mesh[d] for d in coords))[0].transpose(*coords)
        else:
            da = xr.DataArray(np.asarray(values, dtype=float), dims=list(coords))
        attrs = {"long_name": BY_NAME[name].long_name, "units": BY_NAME[name].units} if name in BY_NAME else {}
        data[name] = da.assign_attrs(attrs)
    return xr.Dataset(data, coords=coords, attrs={"experiment": experiment, "view": experiment})
