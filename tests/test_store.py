"""Cell files: atomic writes, rejection of incomplete, corrupt and mismatched files."""

import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from acthash.store.atomic import atomic_h5
from acthash.store.cellfile import CellFileError, open_checked


def test_atomic_write_only_appears_when_complete(tmp_path):
    out = tmp_path / "cell.h5"
    with pytest.raises(RuntimeError):
        with atomic_h5(out) as f:
            f["x"] = np.arange(3)
            raise RuntimeError("writer died")
    assert not out.exists() and not list(tmp_path.iterdir())
    with atomic_h5(out) as f:
        f.attrs["param_hash"] = "abc"
    with open_checked(out, "abc") as f:
        assert f.attrs["complete"]


def test_killed_writer_leaves_no_file_that_passes_as_complete(tmp_path):
    out = tmp_path / "cell.h5"
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from acthash.store.atomic import atomic_h5
        with atomic_h5({str(out)!r}) as f:
            f["codes"] = np.zeros((1000, 100), np.uint8)
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -9
    assert not out.exists()
    leftovers = list(tmp_path.iterdir())
    assert leftovers and all(p.name.startswith(".cell.h5.tmp") for p in leftovers)
    for p in leftovers:  # even opened directly, the partial file is refused
        with pytest.raises(CellFileError, match="incomplete|not a readable"):
            open_checked(p)


def test_reader_names_the_file_for_missing_corrupt_and_mismatched(tmp_path):
    with pytest.raises(CellFileError, match="missing"):
        open_checked(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(CellFileError, match="bad.h5: not a readable HDF5"):
        open_checked(bad)
    half = tmp_path / "half.h5"
    with h5py.File(half, "w") as f:
        f["x"] = 1
    with pytest.raises(CellFileError, match="half.h5: incomplete"):
        open_checked(half)
    good = tmp_path / "good.h5"
    with atomic_h5(good) as f:
        f.attrs["param_hash"] = "aaa"
    with pytest.raises(CellFileError, match="good.h5: made with other parameters"):
        open_checked(good, "bbb")
