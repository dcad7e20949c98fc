"""The metric registry: every metric of a cell checkpoint with what computes it, its long name, units and
description, in one place. Light on purpose (no numpy or torch): the merge, status and plots read it without
loading the computation (`acthash.metrics.measure`)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One metric of a cell checkpoint. `source` says which stage computes it: the measurement of the stored
    codes (`acthash.metrics.measure.code_metrics`, "code"; through the entry's `compute` where it has one), the
    trainer ("net"), the measurement of the stored codes of random inputs (`random_metrics`, "random", only with
    random_inputs), or, only in label-noise cells ("noise"), `code_metrics` given the true labels and
    `noise_metrics`. A cell file holds exactly the metrics `expected` names (checked when it
    is written)."""

    name: str
    source: str
    long_name: str
    units: str
    description: str
    drawn: bool = True  # a panel of `metric_lines` (line_figure.panels)
    tabled: bool = False  # a column of the factor tables (tables.factor_table)
    accuracy: bool = False  # an accuracy the phase rule may test against its plateau (PhaseRule.accuracy)
    # a "code" metric computed from one checkpoint's codes alone: `code_metrics` applies it to their
    # `acthash.metrics.measure.Codes` (a layer above: not imported here), so adding such a metric is this entry
    compute: Callable[[Any], float] | None = None

    @property
    def attrs(self) -> dict[str, str]:
        """The netCDF attributes of its variable in a merged dataset."""
        return {"long_name": self.long_name, "units": self.units, "description": self.description}


METRICS = (
    Metric("redundancy_train", "code", "R train", "1",
           "redundancy ratio (N - #distinct codes)/N on the training examples", tabled=True),
    Metric("redundancy_test", "code", "R test", "1", "redundancy ratio (N - #distinct codes)/N on the test set",
           tabled=True),
    Metric("share_train", "code", "shared codes, train", "1",
           "fraction of the training examples whose code another training example shares (a second reading of "
           "determinism beside R; R <= share <= 2R)", drawn=False),
    Metric("share_test", "code", "shared codes, test", "1",
           "fraction of the test examples whose code another test example shares", drawn=False),
    Metric("kmeans_purity_train", "code", "K-Means purity, train", "1",
           "K-Means cluster purity (majority mapping) on training codes"),
    Metric("kmeans_purity_test", "code", "K-Means purity, test", "1", "K-Means cluster purity on test codes",
           tabled=True, accuracy=True),
    Metric("kmeans_hungarian_train", "code", "K-Means accuracy, train", "1",
           "K-Means accuracy, one-to-one Hungarian mapping, training codes", drawn=False),
    Metric("kmeans_hungarian_test", "code", "K-Means accuracy, test", "1",
           "K-Means accuracy, Hungarian mapping, test codes", drawn=False),
    Metric("knn_test", "code", "K-NN accuracy, test", "1",
           "K-NN (Hamming) accuracy, fit on training codes, scored on test codes", tabled=True, accuracy=True),
    Metric("logreg_test", "code", "logistic regression accuracy, test", "1",
           "one-vs-one logistic regression accuracy on test codes", tabled=True, accuracy=True),
    Metric("code_bits", "code", "code bits used", "bit",
           "number of non-constant code units the K-Means, K-NN and logistic regression saw (a seeded random "
           "sample of code_units units for codes longer than code_units, e.g. CNNs)", drawn=False,
           compute=lambda codes: codes.train.shape[1]),
    Metric("code_bits_total", "code", "code bits", "bit",
           "number of non-constant hidden units of the whole code over train and test", drawn=False),
    Metric("net_loss_train", "net", "network loss, train", "nat",
           "network cross-entropy on the training examples (training labels)", drawn=False),
    Metric("net_acc_train", "net", "network accuracy, train", "1",
           "network accuracy on the training examples (training labels)", drawn=False),
    Metric("net_loss_test", "net", "network loss, test", "nat", "network cross-entropy on the test set", drawn=False),
    Metric("net_acc_test", "net", "network accuracy, test", "1", "network accuracy on the test set", tabled=True,
           accuracy=True),
    Metric("knn_test_true", "noise", "K-NN accuracy with true labels, test", "1",
           "K-NN test accuracy with the true (clean) training labels, label-noise cells"),
    Metric("kmeans_purity_train_true", "noise", "K-Means purity, train, true labels", "1",
           "purity of the training codes' K-Means clusters against the true (clean) labels, label-noise cells"),
    Metric("logreg_test_true", "noise", "logistic regression accuracy with true labels, test", "1",
           "test accuracy of the one-vs-one logistic regression fit on the true (clean) training labels, "
           "label-noise cells"),
    Metric("net_fit_noisy", "noise", "network fit of the noisy labels", "1",
           "network accuracy on the noisy-labelled training examples against their noisy labels"),
    Metric("net_acc_noisy_true", "noise", "network accuracy on noisy examples, true labels", "1",
           "network accuracy on the noisy-labelled training examples against their true labels"),
    Metric("redundancy_random_train", "random", "R of random inputs, train-sized", "1",
           "redundancy ratio of codes of seeded random inputs shaped like the training set"),
    Metric("redundancy_random_test", "random", "R of random inputs, test-sized", "1",
           "redundancy ratio of codes of seeded random inputs shaped like the test set"),
)
BY_NAME = {m.name: m for m in METRICS}
BACKENDS = ("fast", "reference")  # the metric implementations (acthash.metrics); the first is the default
OPTIONAL_SOURCES = ("noise", "random")  # metrics present only in some cells


def names(source: str) -> tuple[str, ...]:
    """The names of the metrics computed by `source`, in registry order."""
    return tuple(m.name for m in METRICS if m.source == source)


def expected(status: str, noisy: bool, random: bool) -> tuple[str, ...]:
    """The metrics a cell file holds: the network's (and the random-input probe's with `random`); unless the
    run diverged (`status` not "ok"), those of its codes, and in label-noise cells (`noisy`) the noise ones."""
    sources = ("net",) + (("random",) if random else ()) + ((("code",) + (("noise",) if noisy else ()))
                                                            if status == "ok" else ())
    return tuple(m.name for m in METRICS if m.source in sources)


def unmeasured(metrics: Collection[str], status: str, noisy: bool) -> tuple[str, ...]:
    """The registered metrics that measuring a cell's stored codes computes and its file lacks (it was
    measured before they were added): re-measuring adds them."""
    return tuple(m for m in expected(status, noisy, False) if m not in metrics and BY_NAME[m].source != "net")
