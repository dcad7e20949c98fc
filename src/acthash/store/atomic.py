"""Atomic writes: a file is written under a temporary name in its own folder and renamed when complete, so a
reader sees the old file or the new one, never half of one; published copies are replaced the same way."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py


def temp_path(path: Path) -> Path:
    """Where this process writes `path` before renaming it into place: `.<name>.tmp<pid>` beside it (a killed
    writer's leftovers match `temp_glob`)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def temp_glob(path: Path) -> str:
    """The glob pattern, in `path`'s folder, of every writer's temporary file for `path` (`temp_path`)."""
    return f".{path.name}.tmp*"


def atomic_text(path: Path | str, text: str) -> Path:
    """Write `text` to `path` under a temporary name beside it, then rename: readers see all of it or none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def publish_file(src: Path | str, dst: Path | str) -> None:
    """Make `dst` a copy of `src` in one rename: readers of `dst` see the old file or the new one, never none.
    A copy, not a link: whatever happens to the published file leaves the workflow's staged one intact."""
    src, dst = Path(src), Path(dst)
    tmp = temp_path(dst)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def republish(staged: Path | str, published: Path | str) -> bool:
    """Publish `staged` again where the published copy is missing or of another size (removed or cut short
    since); True if it did."""
    staged, published = Path(staged), Path(published)
    if not staged.exists() or (published.exists() and published.stat().st_size == staged.stat().st_size):
        return False
    publish_file(staged, published)
    return True


@contextmanager
def atomic_h5(path: Path | str) -> Iterator[h5py.File]:
    """Open a temporary HDF5 file beside `path`; rename it to `path` only if the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with h5py.File(tmp, "w") as f:
            yield f
            f.attrs["complete"] = True
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
