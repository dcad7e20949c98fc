"""Reading a pack's networks at a checkpoint: every member's codes and network metrics on its training rows
and the test set (through the batch-norm statistics its recipe names), and the redundancy of codes of seeded
random inputs. A part of `Trainer` (nets.train), which holds the model, data and members it reads."""

from __future__ import annotations

import numpy as np
import torch

from acthash.data.probes import random_inputs
from acthash.metrics.distinct import redundancy_ratio_packed
from acthash.nets.codes import MemberCodes, extract
from acthash.nets.results import Checkpoint


class Readout:
    """Checkpoint evaluation of a `Trainer`."""

    def read_codes(self) -> tuple[list[MemberCodes], list[MemberCodes]]:
        """Every member's codes (with the network's loss and accuracy) of its training rows and of the test set,
        through the batch-norm statistics the recipe's `code_bn` names; the training state is left as it was."""
        test_index = [np.arange(len(self.y_test))] * len(self.group_index)
        sets = [(self.x, self.group_index, [s.labels for s in self.samples]),
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
                self.model.adopt_batch_statistics(x[torch.as_tensor(np.stack(index), device=self.device)])
                out.append(extract(self.model, x, index, labels, units=self.units))
        finally:
            for buffer, saved in running:
                buffer.copy_(saved)
        return out[0], out[1]

    def evaluate(self) -> None:
        """Codes and network metrics of every member at the current epoch (diverged members skipped)."""
        train, test = self.read_codes()
        rand = self._random_redundancy() if self.cells[0].random_inputs != "none" else [{}] * len(self.cells)
        for i, res in enumerate(self.results):
            if res.status == "ok":
                res.checkpoints.append(Checkpoint(self.epoch, train[i], test[i], rand[i]))

    def _random_redundancy(self) -> list[dict[str, float]]:
        """Redundancy of each member's codes on seeded random inputs shaped like its train and test sets
        (the same inputs at every checkpoint)."""
        kind, n_test = self.cells[0].random_inputs, len(self.y_test)
        blocks, train_idx, test_idx, start = [], [], [], 0
        for g, lead in enumerate(self.leaders):
            n = len(self.group_index[g])
            blocks.append(random_inputs(kind, n + n_test, self.x_np, self.cells[lead].seed))
            train_idx.append(np.arange(start, start + n))
            test_idx.append(np.arange(start + n, start + n + n_test))
            start += n + n_test
        x = torch.as_tensor(np.concatenate(blocks), dtype=self.x.dtype, device=self.device)
        dummy = [np.zeros(len(train_idx[g]), dtype=np.int64) for g in self.group.tolist()]
        train = extract(self.model, x, train_idx, dummy, units=self.units)
        test = extract(self.model, x, test_idx, [np.zeros(n_test, dtype=np.int64)] * len(self.cells), units=self.units)
        return [{"redundancy_random_train": redundancy_ratio_packed(a.rows_for_redundancy),
                 "redundancy_random_test": redundancy_ratio_packed(b.rows_for_redundancy)} for a, b in zip(train, test)]
