"""The kit every parameter record is built with (`Cell`, `PhaseRule`): a field that carries its description, grid
axis label, allowed values and neutral value (`param`); the checks and words derived from it (`check_value`,
`allowed`, `check_key`); and the short hash that addresses cells, packs and digests. No numpy or torch."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
from dataclasses import field
from typing import Any

HASH_CHARS = 16  # hex characters of every short hash: cell addresses, pack ids, cell digests


def short_hash(data: bytes) -> str:
    """The first HASH_CHARS hex characters of the sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS]


def param(default: Any, doc: str, *, axis: str = "", choices: tuple[Any, ...] | None = None,
          lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
          neutral: Any = None) -> Any:
    """A field of a parameter record (`Cell`, `PhaseRule`) with its description, whether it is a grid axis, and
    its allowed values.

    `axis`: for a grid axis, its label on figures and in the merged dataset (`long_name`); empty otherwise.

    `neutral`: for a parameter added after cells were computed, the value that reproduces what was done before
    it existed; a cell with that value leaves the key out of its hash, so existing cells keep their addresses.
    """
    return field(default=default, metadata={"doc": doc, "axis": axis, "choices": choices, "lo": lo, "hi": hi,
                                            "lo_open": lo_open, "hi_open": hi_open, "neutral": neutral})


def check_key(key: str, known: tuple[str, ...] | list[str], where: str = "", what: str = "key") -> None:
    """Raise ValueError for a `what` (key, experiment) not in `known`, suggesting the closest one."""
    if key in known:
        return
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
    raise ValueError(f"{where}{key}: unknown {what}; {hint}")


def allowed(name: str, fields: dict[str, dataclasses.Field]) -> str:
    """The allowed values of parameter `name` in words, e.g. 'float in [0, 1)' or 'one of lbfgs, liblinear'."""
    f = fields[name]
    m, kind = f.metadata, {"tuple[int, ...]": "list of int"}.get(str(f.type), str(f.type))
    if m["choices"]:
        return "one of " + ", ".join(map(str, m["choices"]))
    lo, hi = (v if v is None or isinstance(v, int) else f"{v:g}" for v in (m["lo"], m["hi"]))
    if m["lo"] is not None and m["hi"] is not None:
        return f"{kind} in {'(' if m['lo_open'] else '['}{lo}, {hi}{')' if m['hi_open'] else ']'}"
    if m["lo"] is not None:
        return f"{kind} {'>' if m['lo_open'] else '>='} {lo}"
    return kind


def check_value(name: str, value: Any, fields: dict[str, dataclasses.Field]) -> str | None:
    """A problem with `value` for parameter `name` (one of `fields`, a record's fields by name) as one phrase, or
    None."""
    f = fields[name]
    m, kind = f.metadata, str(f.type)
    if kind.startswith("tuple") and not isinstance(value, (list, tuple)):
        return f"{name}={value!r}: must be a {allowed(name, fields)}"
    values = list(value) if kind.startswith("tuple") else [value]
    if kind.startswith("tuple") and not values:
        return f"{name}={value!r}: needs at least one value"
    for v in values:
        if kind == "bool":
            ok = isinstance(v, bool)
        elif kind in ("int", "tuple[int, ...]"):
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif kind == "float":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        elif kind == "str":
            ok = isinstance(v, str)
        else:  # a type checked by its owner
            return None
        if ok and m["choices"]:
            ok = v in m["choices"]
        if ok and m["lo"] is not None:
            ok = v > m["lo"] if m["lo_open"] else v >= m["lo"]
        if ok and m["hi"] is not None:
            ok = v < m["hi"] if m["hi_open"] else v <= m["hi"]
        if not ok:
            return f"{name}={value!r}: must be {allowed(name, fields)}"
    return None
