"""What a cell's file says about it — done, diverged, unmeasured, damaged or missing — decided here and nowhere
else: the workflow's plan (which packs run, which cells are re-measured), a pack job's check of each of its
cells and `acthash status` all ask `cell_state`, and a results tree is surveyed with each file opened once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from acthash.params.layout import Layout
from acthash.params.registry import unmeasured
from acthash.store.cellfile import CellFileError, read_cell


@dataclass(frozen=True)
class CellState:
    """One cell file's state. `detail`: why it is damaged or unmeasured; `digest`: what a merge would take from
    it (`CellRecord.digest`, None without a readable file); `token`: the file as found ('missing', or its size
    and modification time), so a job that repairs a file damaged later is not mistaken for an earlier one;
    `origin`: (hardware, acthash versions of training and measuring) (`CellRecord.origin`), None without a
    readable file."""

    state: str
    detail: str = ""
    digest: str | None = None
    token: str = "missing"
    origin: tuple[str, str, str] | None = None

    @property
    def to_compute(self) -> bool:
        """Its pack must (re)train it: no usable file."""
        return self.state in ("missing", "damaged")

    @property
    def to_remeasure(self) -> bool:
        """Its stored codes lack a metric registered since it was measured."""
        return self.state == "unmeasured"

    @property
    def kept(self) -> bool:
        """No job of a run changes its file (done or diverged)."""
        return not (self.to_compute or self.to_remeasure)


def cell_state(path: Path | str, expected_hash: str) -> CellState:
    """The state of the cell file at `path`, which must be complete and made with `expected_hash`."""
    path = Path(path)
    if not path.exists():
        return CellState("missing")
    try:
        rec = read_cell(path, expected_hash)
    except (CellFileError, OSError) as err:  # OSError: h5py on a corrupt chunk
        stat = path.stat()
        return CellState("damaged", str(err).removeprefix(f"{path}: "), token=f"{stat.st_size}-{stat.st_mtime_ns}")
    lacks = unmeasured(rec.metrics, rec.status, rec.noisy)
    if lacks:
        return CellState("unmeasured", f"lacks {', '.join(lacks)}", rec.digest, "complete", rec.origin)
    if rec.status != "ok":
        return CellState(rec.status, "metrics are NaN", rec.digest, "complete", rec.origin)
    return CellState("done", "", rec.digest, "complete", rec.origin)


def survey(hashes: Iterable[str], layout: Layout) -> dict[str, CellState]:
    """Cell hash → state of each distinct cell hash in the results tree of `layout` (one read per file)."""
    out: dict[str, CellState] = {}
    for h in hashes:
        if h not in out:
            out[h] = cell_state(layout.cell(h), h)
    return out
