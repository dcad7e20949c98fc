"""How results are summarised over seeds: the mean and the sample standard deviation (ddof 1), the one
convention of every "mean ± sd" in tables, figure bands and the comparison with the paper."""

from __future__ import annotations

import math

import xarray as xr
from xarray.core.groupby import DataArrayGroupBy

DDOF = 1  # sample standard deviation: seeds are a sample of initialisations


def mean_sd(da: xr.DataArray | DataArrayGroupBy, dim: str = "seed") -> tuple[xr.DataArray, xr.DataArray]:
    """Mean and sample standard deviation of `da` (or of each group) over `dim` (NaN skipped; sd is NaN for a
    single value)."""
    return da.mean(dim), da.std(dim, ddof=DDOF)


def pm(mean: float, sd: float, digits: int = 3) -> str:
    """'0.123 ± 0.004'; the mean alone when the sd is undefined (one seed)."""
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if math.isfinite(sd) else f"{mean:.{digits}f}"
