"""A pack's training progress for the person watching the run: one line at most every `every` seconds on
stdout (the terminal of a local run, SLURM's job output on a cluster), while the pack's log gets every epoch."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3.4 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class Progress:
    """Called by the trainer after each epoch; prints the first, the last and one epoch every `every` seconds:
    epoch, members still training, seconds per epoch (mean of the last 10) and the time left at that pace."""

    def __init__(self, label: str, every: float = 30.0, out: TextIO | None = None) -> None:
        self.label, self.every, self.out = label, every, out
        self.times: list[float] = []
        self.shown = float("-inf")

    def __call__(self, epoch: int, last: int, active: int, members: int, seconds: float) -> None:
        self.times.append(seconds)
        now = time.monotonic()
        if len(self.times) > 1 and epoch < last and now - self.shown < self.every:
            return
        self.shown = now
        pace = sum(self.times[-10:]) / len(self.times[-10:])
        print(f"{self.label}: epoch {epoch}/{last}, {active} of {members} networks training, {pace:.2f} s/epoch, "
              f"about {duration((last - epoch) * pace)} left", file=self.out or sys.stdout, flush=True)
