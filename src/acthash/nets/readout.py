"""Reading a pack's networks at a checkpoint: every member's codes and network metrics on its training rows
and the test set (through the batch-norm statistics its recipe names), and its codes of seeded random inputs
(their redundancy is measured with the other metrics). A `Trainer` (nets.train) owns one, built on its model and
data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from acthash.data.probes import random_inputs
from acthash.nets.codes import MemberCodes, extract
from acthash.nets.results import Checkpoint
from acthash.params.cell import Cell


@dataclass(frozen=True, eq=False)
class Readout:
    """What reading a pack's networks needs: its stacked `model` and `cells`; the training inputs as the model
    takes them (`x`, rows of the flattened images) and as loaded (`x_np`, for random inputs shaped like them),
    the test set's (`x_test`, `y_test`); per input group its training rows (`group_index`) and first member
    (`leaders`); per member its input group (`group`), training labels (`labels`) and sampled code units."""

    model: torch.nn.Module
    cells: list[Cell]
    x: torch.Tensor
    x_np: np.ndarray
    x_test: torch.Tensor
    y_test: np.ndarray
    group_index: list[np.ndarray]
    leaders: list[int]
    group: torch.Tensor
    labels: list[np.ndarray]
    units: list[np.ndarray | None]

    def codes(self) -> tuple[list[MemberCodes], list[MemberCodes]]:
        """Every member's codes (with the network's loss and accuracy) of its training rows and of the test set,
        through the batch-norm statistics the recipe's `code_bn` names; the training state is left as it was."""
        test_index = [np.arange(len(self.y_test))] * len(self.group_index)
        sets = [(self.x, self.group_index, self.labels),
                (self.x_test, test_index, [self.y_test] * len(self.cells))]
        if self.cells[0].code_bn == "moving":
            train, test = (extract(self.model, x, index, labels, units=self.units) for x, index, labels in sets)
            return train, test
        if len({len(i) for i in self.group_index}) > 1:
            raise ValueError("code_bn='batch': every input group of a pack must code as many training rows "
                             f"(here {sorted({len(i) for i in self.group_index})}); set pack_over: [width] so "
                             "that each n_train trains in its own pack")
        running = [(v, v.clone()) for k, v in self.model.named_buffers() if k.rpartition(".")[2].startswith("running_")]
        out = []
        try:
            for x, index, labels in sets:
                self.model.adopt_batch_statistics(x[torch.as_tensor(np.stack(index), device=x.device)])
                out.append(extract(self.model, x, index, labels, units=self.units))
        finally:
            for buffer, saved in running:
                buffer.copy_(saved)
        return out[0], out[1]

    def checkpoints(self, epoch: int) -> list[Checkpoint]:
        """Every member's codes and network metrics now, as the checkpoint of `epoch` (with its codes of random
        inputs where the recipe asks for them)."""
        train, test = self.codes()
        rand = self.random_codes() if self.cells[0].random_inputs != "none" else [None] * len(self.cells)
        return [Checkpoint(epoch, *member) for member in zip(train, test, rand)]

    def random_codes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each member's codes of seeded random inputs shaped like its train and test sets (the same inputs at
        every checkpoint), as the rows redundancy is counted on (whole packed rows, or their digests)."""
        kind, n_test = self.cells[0].random_inputs, len(self.y_test)
        blocks, train_idx, test_idx, start = [], [], [], 0
        for g, lead in enumerate(self.leaders):
            n = len(self.group_index[g])
            blocks.append(random_inputs(kind, n + n_test, self.x_np, self.cells[lead].seed))
            train_idx.append(np.arange(start, start + n))
            test_idx.append(np.arange(start + n, start + n + n_test))
            start += n + n_test
        x = torch.as_tensor(np.concatenate(blocks), dtype=self.x.dtype, device=self.x.device)
        dummy = [np.zeros(len(train_idx[g]), dtype=np.int64) for g in self.group.tolist()]
        train = extract(self.model, x, train_idx, dummy, units=self.units)
        test = extract(self.model, x, test_idx, [np.zeros(n_test, dtype=np.int64)] * len(self.cells), units=self.units)
        return [(a.rows_for_redundancy, b.rows_for_redundancy) for a, b in zip(train, test)]
