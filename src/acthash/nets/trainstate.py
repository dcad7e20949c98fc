"""A pack's complete training state on disk — model, optimizer, random streams, early-stopping counters and
the results so far — written atomically after each checkpoint and read back to resume a preempted job: what a
`Trainer` (nets.train) saves and resumes from."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from acthash.nets.results import member_result, to_plain
from acthash.store.atomic import replacing

if TYPE_CHECKING:
    from acthash.nets.train import Trainer

# The layout of the saved model, optimizer and results: 2 from acthash 0.5.0 (the MLP's deeper layers in width
# buckets), 3 when the results kept codes of random inputs instead of their redundancy. A state of another layout
# (a pack job resumed after an upgrade) is set aside and the pack trains from the start.
STATE_FORMAT = 3


def save_state(trainer: Trainer, path: Path) -> None:
    """Write `trainer`'s complete training state atomically (temporary name, then rename), as plain tensors,
    numbers and strings only, so that reading it back (`weights_only=True`) cannot run code."""
    t = trainer
    state = {
        "format": STATE_FORMAT, "hashes": [c.param_hash for c in t.cells], "epoch": t.epoch,
        "model": t.model.state_dict(), "opt": t.opt.state_dict(),
        "cpu_streams": [g.get_state() for g in t.order_gens + t.aug_gens], "drop": [g.get_state() for g in t.drop_gens],
        "active": t.active, "best": t.best, "wait": t.wait, "results": [to_plain(r) for r in t.results],
        "seconds": t.seconds_before + time.perf_counter() - t.started,
    }
    with replacing(path) as tmp:
        torch.save(state, tmp)


def load_state(trainer: Trainer, path: Path) -> bool:
    """Resume `trainer` from the state at `path` → True; a state that cannot be read (cut short, damaged) is
    moved to `<path>.damaged`, one of another layout (another acthash version's format, other width buckets) to
    `<path>.old`, each with a log line, and training starts over → False. A state of other cells raises."""
    try:  # on the CPU first: a device short of memory is no damaged file
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, pickle.UnpicklingError, RuntimeError) as err:  # cut short, not plain data, not a zip
        os.replace(path, path.with_name(path.name + ".damaged"))
        why = (str(err).strip().splitlines() or [""])[0][:200]
        trainer.log(f"training state {path} unreadable ({type(err).__name__}: {why}); moved to "
                 f"{path.name}.damaged, training from the start")
        return False
    if state.get("hashes") != [c.param_hash for c in trainer.cells]:
        raise ValueError(f"{path}: training state belongs to other cell parameters; delete it to start over")
    wrong = _other_layout(trainer, state)
    if wrong:
        os.replace(path, path.with_name(path.name + ".old"))
        trainer.log(f"training state {path} has another layout ({wrong}); moved to {path.name}.old, training from "
                 "the start")
        return False
    trainer.model.load_state_dict(state["model"])
    trainer.opt.load_state_dict(state["opt"])
    for g, s in zip(trainer.order_gens + trainer.aug_gens + trainer.drop_gens, state["cpu_streams"] + state["drop"]):
        g.set_state(s.cpu())
    trainer.active.copy_(state["active"])
    trainer.best, trainer.wait, trainer.epoch = state["best"], state["wait"], state["epoch"]
    trainer.results = [member_result(r) for r in state["results"]]
    trainer.seconds_before = float(state.get("seconds", 0.0))  # states before 0.4.0 do not say
    return True


def _other_layout(trainer: Trainer, state: dict) -> str:
    """Why a saved state does not fit `trainer`'s model and optimizer ('' when it does), checked before
    anything is loaded: another acthash version's format, other tensors (e.g. other width buckets) or other
    integer buffers (a bucket's member ids: the same shapes can hold members in another order)."""
    if state.get("format", 1) != STATE_FORMAT:
        return f"format {state.get('format', 1)} of another acthash version; this one reads {STATE_FORMAT}"
    ours = trainer.model.state_dict()  # on the trainer's device; the saved state was read onto the CPU
    if {k: tuple(v.shape) for k, v in state["model"].items()} != {k: tuple(v.shape) for k, v in ours.items()}:
        return "other model tensors"
    if any(not v.is_floating_point() and not torch.equal(v, ours[k].cpu()) for k, v in state["model"].items()):
        return "other member order in the model's buckets"
    saved, mine = state["opt"], trainer.opt.state_dict()
    if set(saved) != set(mine) or any([tuple(t.shape) for t in saved[k]] != [tuple(t.shape) for t in mine[k]]
                                      for k in mine if k != "t"):
        return "other optimizer tensors"
    return ""
