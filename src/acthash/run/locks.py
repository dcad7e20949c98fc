"""Locks that keep two processes from computing the same cell at once: a pack job holds one per cell for its
whole run. They live beside the cell files (`.<hash>.lock`, removed by their holder when it is done), so they
hold across Snakemake invocations and cluster nodes that share the results tree, and they are POSIX record
locks, so they die with their process."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def lock_path(out: Path) -> Path:
    """The lock file of the cell file `out`."""
    return out.with_name(f".{out.stem}.lock")


@contextmanager
def cell_locks(outs: Sequence[Path], say: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock of every cell file of `outs` (taken in sorted order, so two packs sharing cells cannot
    deadlock); a lock another process holds is waited for, saying who holds it."""
    held: list[tuple[Path, TextIO]] = []
    try:
        for out in sorted({Path(o) for o in outs}, key=str):
            path = lock_path(out)
            path.parent.mkdir(parents=True, exist_ok=True)
            f = _lock(path, out.stem, say)
            held.append((path, f))
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
            f.flush()
        yield
    finally:
        for path, f in held:
            path.unlink(missing_ok=True)  # still held: a waiter then finds its file gone and takes a new one
            f.close()


def _lock(path: Path, cell: str, say: Callable[[str], None]) -> TextIO:
    """The open lock file at `path`, locked by this process (waiting for its holder if need be). Locking needs
    POSIX locks on the results tree's filesystem (local disks, NFS with its lock service, Lustre with flock)."""
    while True:
        f = open(path, "a+")
        try:
            try:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):  # no lock service, ...: not "someone holds it"
                    raise OSError(err.errno, f"cannot lock {path} ({err.strerror}); the results tree needs a "
                                  "filesystem with POSIX locks") from err
                f.seek(0)
                holder = f.read().strip() or "another process"
                say(f"cell {cell}: being computed by {holder} (lock {path}); waiting until it ends")
                fcntl.lockf(f, fcntl.LOCK_EX)
            if os.fstat(f.fileno()).st_ino == os.stat(path).st_ino:
                return f
        except OSError as err:  # its holder removed the file when done (NFS: a stale handle): take the new one
            if err.errno not in (errno.ENOENT, errno.ESTALE):
                f.close()
                raise
        f.close()
