"""The codes API: a cell's stored codes, found by file or by a merged dataset's coordinates, recompute its
stored redundancy and code length exactly."""

import dataclasses

import numpy as np
import pytest

import acthash
from acthash.analysis.merge import collect, merge_records
from acthash.params.config import View
from acthash.params.layout import Layout
from acthash.params.phase_rule import PhaseRule
from acthash.run.runner import run_layout_pack

from .synthetic import small_cell

BASE = small_cell(width=6, checkpoints=(0, 2), batch_size=32, kmeans_n_init=2)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Two trained digits cells in a results tree and their merged dataset."""
    root = tmp_path_factory.mktemp("results")
    cells = [dataclasses.replace(BASE, seed=s) for s in (0, 1)]
    paths = run_layout_pack(cells, Layout(str(root)), ".", device="cpu")
    plan = View("codes", "codes", {}, cells, PhaseRule(), ("seed",), 8).plan()
    return root, paths, merge_records(plan, collect(plan, paths))


def redundancy(codes: np.ndarray) -> float:
    return (len(codes) - len(np.unique(codes, axis=0))) / len(codes)


def test_codes_from_a_file_recompute_the_stored_redundancy_and_code_length(tree):
    _, paths, ds = tree
    for seed, path in enumerate(paths):
        for epoch in (0, 2):
            c = acthash.cell_codes(path, epoch)
            assert c.train.shape == (300, 6) and c.test.shape == (300, 6) and set(np.unique(c.train)) <= {0, 1}
            stored = ds.sel(seed=seed, epoch=epoch)
            assert redundancy(c.train) == stored["redundancy_train"].item()
            assert redundancy(c.test) == stored["redundancy_test"].item()
            assert c.keep.sum() == stored["code_bits_total"].item()
            assert len(c.y_train) == 300 and (c.pred_test >= 0).all()


def test_a_cell_codes_prints_as_one_line_of_shapes(tree):
    text = repr(acthash.cell_codes(tree[1][0], 2))
    assert "\n" not in text and "epoch 2: train (300, 6) and test (300, 6) 0/1, 6 units stored of 6" in text


def test_codes_by_a_merged_datasets_coordinates_are_those_of_the_cells_file(tree):
    root, paths, ds = tree
    by_coords = acthash.cell_codes(ds, results=root, seed=1, epoch=2)
    assert by_coords.path == paths[1]
    np.testing.assert_array_equal(by_coords.train, acthash.cell_codes(paths[1]).train)  # default: last epoch
    packed = acthash.cell_codes(ds, results=root, seed=1, epoch=2, packed=True)
    np.testing.assert_array_equal(packed.train, np.packbits(by_coords.train, axis=1))


def test_a_selection_of_several_cells_or_a_missing_epoch_is_named(tree):
    root, paths, ds = tree
    with pytest.raises(ValueError, match="selects 2 cells; also give seed"):
        acthash.cell_codes(ds, results=root, epoch=2)
    with pytest.raises(ValueError, match=r"no checkpoint at epoch 1; it has \[0, 2\]"):
        acthash.cell_codes(paths[0], 1)


def test_a_flipped_bit_in_stored_codes_is_refused_by_name(tree, tmp_path):
    """Each checkpoint's codes carry a seal written with them: a changed bit is an error naming the file and
    epoch wherever codes are read (the codes API, a re-measurement), not other numbers."""
    import shutil

    import h5py

    from acthash.run.pack import remeasure
    from acthash.store.cellfile import CellFileError

    _, paths, _ = tree
    copy = tmp_path / paths[0].name
    shutil.copy(paths[0], copy)
    with h5py.File(copy, "a") as f:
        f["codes/2/train"][0, 0] ^= 1
    with pytest.raises(CellFileError, match=f"{copy}: the stored codes of epoch 2 changed since they were written"):
        acthash.cell_codes(copy, 2)
    with pytest.raises(CellFileError, match="epoch 2 changed"):
        remeasure(copy)
    assert acthash.cell_codes(copy, 0).train.shape == (300, 6)  # the other checkpoint is intact


def test_loading_a_dataset_that_is_not_there_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics.nc: no merged dataset there; run its experiment first"):
        acthash.load(tmp_path / "results/mnist_weight_decay/metrics.nc")
