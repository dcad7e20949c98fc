"""Which data a figure was drawn from: the SHA-256 of each dataset file, written into the figure's metadata
(`Source`) when it is saved and read back from a PNG, so a committed figure whose dataset has since changed is
found (`acthash evidence check`) instead of shown beside numbers it no longer matches."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from pathlib import Path

KEY = "Source"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def source_digest(paths: Iterable[Path | str]) -> str:
    """`sha256:<hex>` of each file, in the given order, separated by spaces."""
    return " ".join(f"sha256:{hashlib.sha256(Path(p).read_bytes()).hexdigest()}" for p in paths)


def source_metadata(paths: Iterable[Path | str]) -> dict[str, str]:
    """The `metadata` to pass to matplotlib's `savefig` (PNG or SVG) of a figure drawn from `paths`."""
    return {KEY: source_digest(paths)}


def png_source(path: Path | str) -> str | None:
    """The `Source` text a PNG carries (`source_metadata`), or None when it has none. A file that is not a PNG
    is an error naming it."""
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{path}: not a PNG file")
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"tEXt":
            key, _, text = body.partition(b"\0")
            if key.decode("latin-1") == KEY:
                return text.decode("latin-1")
        if kind == b"IEND":
            break
        at += 12 + length  # length, type, data, CRC
    return None
