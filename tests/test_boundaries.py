"""Critical widths, their ranges and their power laws on a dataset built with known crossings."""

import numpy as np
import pytest
import xarray as xr

from acthash.analysis.boundaries import boundary_table, bracket, critical_widths, crossing, power_law

from .synthetic import merged

WIDTHS = 2 ** np.arange(1, 21)
NS = np.array([100, 1000, 10000, 100000])


def known(slope: float = 0.5) -> xr.Dataset:
    """R = 0.1 − 0.05·log10(w / w_c(n)): R crosses 0.1 at w_c(n) = 2·n^slope and 0.01 at w_c·10^1.8. Three
    seeds offset by −0.01, 0, +0.01 (their mean is the law). Epoch 0: R = 1 everywhere (never crosses)."""
    wc = 2 * NS.astype(float) ** slope
    r = 0.1 - 0.05 * np.log10(WIDTHS[None, :] / wc[:, None])  # (n, width)
    r = r[:, :, None] + np.array([-0.01, 0.0, 0.01])  # not clipped to [0, 1]: the law exactly
    data = np.stack([np.ones_like(r), r])  # (epoch, n, width, seed)
    return merged({"redundancy_test": data, "redundancy_train": data},
                  {"epoch": [0, 10], "n_train": NS, "width": WIDTHS, "seed": [0, 1, 2]}, "known")


def test_a_crossing_is_interpolated_in_log_width_and_sides_are_named():
    assert crossing(np.array([10, 100]), np.array([0.3, 0.1]), 0.2) == pytest.approx((np.sqrt(1000), 0))
    assert crossing(np.array([10, 100]), np.array([0.05, 0.0]), 0.1)[1] == -1  # already below at the first
    assert crossing(np.array([10, 100]), np.array([0.5, 0.4]), 0.1)[1] == 1  # never below


def test_a_bracket_is_the_grid_widths_around_the_first_crossing():
    widths = np.array([10, 20, 40])
    assert bracket(widths, np.array([0.5, 0.2, 0.05]), 0.1) == (20, 40)
    assert bracket(widths, np.array([0.05, 0.02, 0.01]), 0.1) == (0, 10)  # below the grid
    assert bracket(widths, np.array([0.5, 0.4, 0.3]), 0.1) == (40, np.inf)  # never below
    lo, hi = bracket(widths, np.array([0.5, np.nan, 0.05]), 0.1)
    assert np.isnan(lo) and np.isnan(hi)


def test_critical_widths_recover_the_built_in_law_within_ranges_of_grid_widths_around_every_seed():
    cw = critical_widths(known()).sel(epoch=10)
    want = 2 * NS ** 0.5
    np.testing.assert_allclose(cw["width_r_hi"], want, rtol=1e-9)
    np.testing.assert_allclose(cw["width_r_lo"], want * 10 ** 1.8, rtol=1e-9)
    assert (cw["bracket_r_hi_lo"] < want).all() and (cw["bracket_r_hi_hi"] >= want).all()  # the mean's bracket
    assert set(np.unique(cw["width_r_hi_lo"])) <= set(WIDTHS) | {0}  # ends are grid widths
    for s in range(3):  # every seed's own crossing lies inside the range
        assert ((cw["width_r_hi_lo"] < cw["seed_r_hi"].isel(seed=s)) &
                (cw["seed_r_hi"].isel(seed=s) <= cw["width_r_hi_hi"])).all()
    assert (critical_widths(known()).sel(epoch=0)["side_r_hi"] == 1).all()  # R = 1: above the grid
    fit = power_law(cw, "r_hi", "n_train")
    assert fit["b"] == pytest.approx(0.5) and fit["r2"] == pytest.approx(1)
    # each seed's crossings follow the law too (constant offsets); the brackets' ends are steps of the grid
    ends = [np.polyfit(np.log(NS), np.log(cw[f"bracket_r_hi_{e}"].values), 1)[0] for e in ("lo", "hi")]
    assert (fit["b_lo"], fit["b_hi"]) == pytest.approx((min(0.5, *ends), max(0.5, *ends)))
    assert fit["b_hi"] - fit["b_lo"] > 0.01  # the grid's precision shows in the range


def test_the_boundary_table_prints_every_cell_and_the_power_law():
    table = boundary_table(known(0.3))
    assert "| epoch | n_train | width at R = 0.1 (under/critical) |" in table
    assert "| 10 | 100 | 4–8 [4, 16] |" in table  # 2 · 100^0.3 = 7.96; the seed at +0.01 crosses past 8
    assert f"| 0 | 100 | > {WIDTHS.max():g} | > {WIDTHS.max():g} |" in table
    assert "epoch 10, under/critical: b = 0.30 [" in table and "holds" in table


def test_the_table_says_where_a_width_does_not_depend_on_n_or_too_few_widths_cross():
    ds = known(0.3)
    flat = ds.copy(deep=True)
    # every n like n = 100, but for rounding (as epoch 0's crossings are): a fit's R² would be noise
    rounding = (1 + 1e-13 * np.arange(4))[:, None, None]
    flat["redundancy_test"][:] = ds["redundancy_test"].isel(n_train=[0]).values * rounding
    assert np.ptp(critical_widths(flat).sel(epoch=10)["width_r_hi"].values) > 0
    assert "epoch 10, under/critical: the same width at every n_train over 4 points: no dependence" in \
        boundary_table(flat)
    few = ds.sel(width=WIDTHS[WIDTHS <= 512])  # R = 0.01 crosses inside it at n = 100 only (w = 502)
    assert ("epoch 10, critical/sufficient: a crossing inside the grid at 1 of the 4 n_train values: too few to fit"
            in boundary_table(few))
