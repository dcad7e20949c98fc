"""The phase-chart rule's parameters (docs/spec.md Part A §6): its thresholds, the accuracy whose plateau it tests
and where that plateau is taken; the `phase:` block of the config sets them. No numpy or torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from acthash.params.fields import check_value, param
from acthash.params.registry import METRICS


@dataclass(frozen=True)
class PhaseRule:
    """The phase-chart rule (docs/spec.md Part A §6), `PhaseRule.TEXT`. The `phase:` block of the config sets
    these keys."""

    TEXT: ClassVar[str] = ("under if R >= r_hi; sufficient if R <= r_lo and accuracy >= plateau - eps; "
                           "critical otherwise")

    r_hi: float = param(0.1, "under-expressive if R >= r_hi", lo=0, hi=1)
    r_lo: float = param(0.01, "sufficient needs R <= r_lo", lo=0, hi=1)
    eps: float = param(0.02, "sufficient needs accuracy >= plateau - eps", lo=0)
    accuracy: str = param("knn_test", "the accuracy whose plateau is tested",
                          choices=tuple(m.name for m in METRICS if m.accuracy))
    r_metric: str = param("test", "which redundancy ratio: test, train or the larger (max)",
                          choices=("test", "train", "max"))
    plateau_over: Any = param("slice", 'where the seed-mean accuracy is maximised to get its plateau: "slice" (the '
                              'two dims of the chart slice drawn, docs/spec.md; the merged regime: width × epoch), '
                              'a list of dims, "all", or a fixed number')

    def __post_init__(self) -> None:
        fields = {f.name: f for f in dataclasses.fields(self)}
        problems = [m for n in fields if (m := check_value(n, getattr(self, n), fields))]
        p = self.plateau_over
        if isinstance(p, (list, tuple)):
            object.__setattr__(self, "plateau_over", tuple(p))
            if not all(isinstance(d, str) for d in p):
                problems.append(f"plateau_over={p!r}: a list of dimension names")
        elif p not in ("all", "slice") and (isinstance(p, bool) or not isinstance(p, (int, float))):
            problems.append(f"plateau_over={p!r}: must be \"slice\", a list of dims, \"all\" or a number")
        if problems:
            raise ValueError("; ".join(f"phase.{m}" for m in problems))

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["plateau_over"] = list(self.plateau_over) if isinstance(self.plateau_over, tuple) else self.plateau_over
        return d
