"""Locks that keep two processes from computing the same cell at once: a pack job holds one per cell for its
whole run. They live beside the cell files (`.<hash>.lock`), so they hold across Snakemake invocations and
cluster nodes that share the results tree, and they are POSIX record locks, so they die with their process."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def lock_path(out: Path) -> Path:
    """The lock file of the cell file `out`."""
    return out.with_name(f".{out.stem}.lock")


@contextmanager
def cell_locks(outs: Sequence[Path], say: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock of every cell file of `outs` (taken in sorted order, so two packs sharing cells cannot
    deadlock); a lock another process holds is waited for, saying who holds it."""
    held = []
    try:
        for out in sorted({Path(o) for o in outs}, key=str):
            path = lock_path(out)
            path.parent.mkdir(parents=True, exist_ok=True)
            f = open(path, "a+")
            held.append(f)
            try:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                say(f"cell {out.stem}: being computed by {holder} (lock {path}); waiting until it ends")
                fcntl.lockf(f, fcntl.LOCK_EX)
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
            f.flush()
        yield
    finally:
        for f in held:
            f.close()
