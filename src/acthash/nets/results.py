"""What the trainer produces for each member — its codes and network metrics at each checkpoint, losses,
learning rates, status — and their plain form (tensors, numbers, strings) for the training state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from acthash.nets.codes import MemberCodes


@dataclass
class Checkpoint:
    """One member at one checkpoint epoch: codes on its train rows and on the test set, and (with random_inputs)
    the rows of its codes of random inputs shaped like each (`MemberCodes.rows_for_redundancy`)."""

    epoch: int
    train: MemberCodes
    test: MemberCodes
    random: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class MemberResult:
    """Everything the trainer produced for one member."""

    code_length: int  # bits of the whole code
    units: np.ndarray | None = None  # the units kept for the metrics of a long code (`sample_units`)
    status: str = "ok"  # ok | diverged
    stopped_epoch: int | None = None
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)


def to_plain(result: MemberResult) -> dict:
    """A member's result as nested dicts and lists of numbers, strings and tensors (numpy arrays become CPU
    tensors) for the training state."""
    def plain(v):
        if isinstance(v, np.ndarray):
            return torch.from_numpy(v.copy())
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v.item() if isinstance(v, np.generic) else v

    return plain(dataclasses.asdict(result))


def member_result(d: dict) -> MemberResult:
    """The inverse of `to_plain`."""
    def arr(v):
        return v.cpu().numpy() if isinstance(v, torch.Tensor) else v

    def codes(c: dict) -> MemberCodes:
        return MemberCodes(**{k: arr(v) for k, v in c.items()})

    cps = [Checkpoint(c["epoch"], codes(c["train"]), codes(c["test"]),
                      None if c["random"] is None else tuple(arr(v) for v in c["random"])) for c in d["checkpoints"]]
    return MemberResult(d["code_length"], arr(d["units"]), d["status"], d["stopped_epoch"], list(d["loss"]),
                        list(d["lr"]), cps)
