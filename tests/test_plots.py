"""Figures and tables on small datasets made here: what is drawn, on which axes, with which labels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

from acthash.analysis.boundary_figure import boundary_lines
from acthash.analysis.line_figure import metric_lines, panels
from acthash.analysis.phase import REGIMES, classify
from acthash.analysis.plots import figures, provenance_note
from acthash.analysis.regime_figure import regime_map, regime_maps
from acthash.analysis.tables import factor_table

from .synthetic import merged


def dataset(**dims: list) -> xr.Dataset:
    """Random metrics over `dims` (plus seed 0–2), labelled as the merge labels them, with regimes."""
    dims = {**dims, "seed": [0, 1, 2]}
    shape = [len(v) for v in dims.values()]
    rng = np.random.default_rng(0)
    ds = merged({m: rng.random(shape) for m in ("redundancy_train", "redundancy_test", "kmeans_purity_train",
                                                "kmeans_purity_test", "knn_test", "logreg_test", "net_acc_test")},
                dims)
    reduced = [d for d in dims if d not in ("seed", "epoch")]
    ds["regime"] = (reduced + ["epoch"], rng.integers(0, 3, [len(dims[d]) for d in reduced + ["epoch"]]))
    ds["regime_agreement"] = (ds["regime"].dims, np.ones(ds["regime"].shape))
    ds["width"].attrs["long_name"] = "width"
    return ds


def test_factor_table_has_one_row_per_width_and_value_with_mean_and_sd_over_seeds():
    ds = dataset(width=[10, 20], weight_decay=[0.0, 1e-4], epoch=[5])
    ds["weight_decay"].attrs["long_name"] = "weight decay (L2)"
    table = factor_table(ds, "weight_decay").splitlines()
    assert table[2].startswith("| width | weight decay (L2) | R train | R test |")
    rows = table[4:]
    assert [r.split(" | ")[:2] for r in rows] == [["| 10", "0"], ["| 10", "0.0001"], ["| 20", "0"], ["| 20", "0.0001"]]
    cell = ds["knn_test"].sel(width=20, weight_decay=1e-4, epoch=5)
    want = f"{float(cell.mean()):.3f} ± {float(cell.std(ddof=1)):.3f}"  # sample sd, as every table
    assert rows[3].split(" | ")[2 + 3] == want  # columns: width, value, R train, R test, K-Means test, K-NN


def test_line_panels_put_wide_ranges_on_log_axes_and_epoch_zero_at_half():
    ds = dataset(width=[3, 8, 16, 100], epoch=[0, 1, 10])
    fig = metric_lines(ds, "epoch", "width")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.lines[0].get_xdata()[0] == 0.5
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "10"]  # the grid's own values
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 4  # one legend, one entry per width
    assert "epoch" not in fig._suptitle.get_text().split("\n")[1]  # the x dim is not stated as fixed
    assert len([a for a in fig.axes if a.get_visible()]) == len(panels(ds)) == 7
    plt.close(fig)
    fig = metric_lines(ds.sel(width=[8, 16]), "width")
    assert fig.axes[0].get_xscale() == "linear"  # 8 to 16: not worth a log axis
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["8", "16"]
    plt.close(fig)
    fig = metric_lines(dataset(width=[3, 8, 16, 32, 64], epoch=[5]), "width")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["3", "8", "16", "32", "64"]
    plt.close(fig)


def test_titles_keep_a_users_selection_and_fit_a_single_panel():
    ds = dataset(width=[3, 8, 16], n_train=[100, 10000], epoch=[1, 5])
    fig = metric_lines(ds.sel(n_train=10000), "width", metrics=("knn_test",))
    assert "n_train 10000" in fig._suptitle.get_text() and "epoch 5" in fig._suptitle.get_text()
    fig.canvas.draw()
    title, panel = fig._suptitle.get_window_extent(), fig.axes[0].get_window_extent()
    assert 0 <= title.x0 and title.x1 <= fig.bbox.x1 and panel.width < fig.bbox.width  # not clipped
    plt.close(fig)
    ax = regime_map(ds.sel(epoch=1), "width", "n_train")
    assert "epoch 1" in ax.get_title()
    plt.close(ax.figure)


def test_line_panels_draw_at_most_six_hue_values_first_and_last_included():
    ds = dataset(width=[3, 8], epoch=list(range(0, 200, 10)))
    fig = metric_lines(ds, "width", "epoch")
    entries = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(entries) == 6 == len(fig.axes[0].lines) and entries[0] == "epoch = 0" and entries[-1] == "epoch = 190"
    plt.close(fig)


def test_factor_axes_step_once_per_value_so_zero_and_small_weight_decays_stay_apart():
    ds = dataset(width=[10, 40], weight_decay=[0.0, 1e-6, 1e-5, 1e-4, 1e-3], epoch=[5])
    fig = metric_lines(ds, "weight_decay", "width")
    assert list(fig.axes[0].lines[0].get_xdata()) == [0, 1, 2, 3, 4]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1e-06", "1e-05", "0.0001", "0.001"]
    plt.close(fig)


def test_a_dataset_without_values_gets_its_regime_maps_and_no_line_panels():
    ds = dataset(width=[3, 8], n_train=[100, 1000], epoch=[5])
    for m in panels(ds):
        ds[m] = ds[m] * np.nan  # e.g. every cell diverged
    drawn = dict(figures(ds))
    assert list(drawn) == ["regimes_width_x_n_train"]
    with pytest.raises(ValueError, match="no metric with a value"):
        metric_lines(ds, "width")
    plt.close("all")


def test_regime_map_blocks_sit_at_their_grid_values_on_log_axes_with_every_value_labelled():
    ds = dataset(width=[3, 8, 16], n_train=[100, 1000], epoch=[5])
    ax = regime_map(ds, "width", "n_train")
    mesh = ax.collections[0]
    drawn = np.asarray(mesh.get_array()).reshape(2, 3)  # rows: n_train bottom to top; columns: width
    want = classify(ds.sel(epoch=5), slice_dims=("width", "n_train"))["regime"]  # the slice's own plateau
    np.testing.assert_array_equal(drawn, want.transpose("n_train", "width").values)
    edges = mesh.get_coordinates()[0, :, 0]  # x edges: halfway between log10 widths
    np.testing.assert_allclose(edges[1:-1], (np.log10([3, 8]) + np.log10([8, 16])) / 2)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "8", "16"]
    np.testing.assert_allclose(ax.get_xticks(), np.log10([3, 8, 16]))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["100", "1000"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    present = {REGIMES[int(v)] for v in np.unique(want)}
    assert {t for t in legend if t in REGIMES.values()} == present  # only the regimes drawn
    plt.close(ax.figure)


def test_regime_map_hatches_cells_without_data_and_says_so():
    ds = dataset(width=[3, 8, 16], n_train=[100, 1000], epoch=[5])
    ds["knn_test"][0, 1, 0, :] = np.nan  # width 3, n 1000: no accuracy, no regime
    ds["redundancy_test"][1, 0, 0, 0] = 0.99  # width 8, n 100: one seed far from the others
    ds["redundancy_test"][1, 0, 0, 1:] = 0.0
    ax = regime_map(ds, "width", "n_train")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "no data" in legend and "seeds disagree (< 80 %)" in legend
    hatched = [p.get_xy() for p in ax.patches if p.get_hatch() == "///"]
    assert len(hatched) == 1 and hatched[0][0] < np.log10(3) < hatched[0][0] + ax.patches[0].get_width()
    plt.close(ax.figure)


def test_small_multiples_show_one_map_per_value_of_the_third_axis_and_no_contours_on_categories():
    ds = dataset(width=[3, 8, 16], n_train=[100, 1000], epoch=[0, 1, 10])
    fig = regime_maps(ds, "width", "n_train", "epoch")
    shown = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in shown] == ["epoch 0", "epoch 1", "epoch 10"]
    assert all(len(a.collections) >= 1 for a in shown)
    plt.close(fig)
    arch = dataset(width=[3, 8], weight_decay=[0.0, 1e-4], epoch=[5])
    ax = regime_map(arch, "width", "weight_decay")
    assert not [c for c in ax.collections[1:] if "Contour" in type(c).__name__]  # a categorical axis: no contours
    assert list(ax.get_yticks()) == [0.0, 1.0]
    plt.close(ax.figure)


@pytest.mark.parametrize("metric", ["knn_test_true", "kmeans_purity_train_true", "logreg_test_true",
                                    "redundancy_random_train"])
def test_panels_include_optional_metrics_only_where_they_hold_values(metric):
    ds = dataset(width=[3, 8], epoch=[5])
    ds[metric] = ds["knn_test"] * np.nan
    assert metric not in panels(ds)
    ds[metric][0] = 0.5
    assert metric in panels(ds)


def test_the_boundary_figure_draws_each_epochs_critical_widths_over_n():
    from acthash.analysis.boundaries import critical_widths

    from .test_boundaries import known

    ds = known()
    fig = boundary_lines(ds)
    ax = fig.axes[0]
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    want = critical_widths(ds).sel(epoch=10)["width_r_hi"].values
    np.testing.assert_allclose(solid[0].get_ydata(), want)  # epoch 0 never crosses: only epoch 10 drawn
    assert ax.get_xscale() == ax.get_yscale() == "log" and "not drawn" in ax.get_title()
    plt.close(fig)


def test_a_boundary_figure_with_no_crossing_in_the_grid_says_so():
    from .test_boundaries import known

    ds = known().sel(epoch=[0])  # epoch 0 never crosses
    fig = boundary_lines(ds)
    ax = fig.axes[0]
    assert not ax.lines and [t.get_text() for t in ax.texts] == [
        f"R crosses neither threshold within widths {ds['width'].values.min():g}–{ds['width'].values.max():g}"]
    plt.close(fig)


def test_docs_figures_lists_the_catalogue_of_a_figures_folder():
    from acthash.analysis.catalog import KINDS, markdown_table

    from .conftest import REPO

    assert markdown_table() in (REPO / "docs" / "figures.md").read_text()
    assert [k.prefix for k in KINDS] == ["regimes", "boundaries", "lines", "table"]


def test_the_provenance_note_names_the_device_or_says_it_is_not_recorded():
    ds = dataset(width=[10, 20], epoch=[0, 1])
    assert provenance_note(ds.assign_attrs(trained_on="AMD EPYC")) == ("cells trained on AMD EPYC", False)
    assert provenance_note(ds.assign_attrs(acthash_version="0.1.0")) == \
        ("where the cells were trained is not recorded (merged by acthash 0.1.0)", False)
    assert provenance_note(ds.assign_attrs(mixture="trained on 2 devices")) == \
        ("MIXED PROVENANCE: cells trained on 2 devices", True)
