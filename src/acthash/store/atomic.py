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


@contextmanager
def replacing(path: Path | str) -> Iterator[Path]:
    """The temporary path (`temp_path`) to write `path` under: when the block completes, it replaces `path` in one
    rename; when the block fails, it is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_text(path: Path | str, text: str) -> Path:
    """Write `text` to `path` under a temporary name beside it, then rename: readers see all of it or none."""
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def publish_file(src: Path | str, dst: Path | str) -> None:
    """Make `dst` a copy of `src` in one rename: readers of `dst` see the old file or the new one, never none.
    A copy, not a link: whatever happens to the published file leaves the workflow's staged one intact."""
    with replacing(dst) as tmp:
        shutil.copyfile(src, tmp)


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
    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        yield f
        f.attrs["complete"] = True
