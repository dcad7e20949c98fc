"""The metric registry: every metric of a cell checkpoint with what computes it, its long name, units and
description, in one place. Light on purpose (no numpy or torch): the merge, status and plots read it without
loading the computation (`acthash.metrics.measure`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric of a cell checkpoint. `source` says what computes it: `code_metrics` ("code"), the trainer
    ("net", and "random" with random_inputs), or, only in label-noise cells ("noise"), `code_metrics` given
    the true labels and `noise_metrics`."""

    name: str
    source: str
    long_name: str
    units: str
    description: str


METRICS = (
    Metric("redundancy_train", "code", "R train", "1",
           "redundancy ratio (N - #distinct codes)/N on the training examples"),
    Metric("redundancy_test", "code", "R test", "1", "redundancy ratio (N - #distinct codes)/N on the test set"),
    Metric("kmeans_purity_train", "code", "K-Means purity, train", "1",
           "K-Means cluster purity (majority mapping) on training codes"),
    Metric("kmeans_purity_test", "code", "K-Means purity, test", "1", "K-Means cluster purity on test codes"),
    Metric("kmeans_hungarian_train", "code", "K-Means accuracy, train", "1",
           "K-Means accuracy, one-to-one Hungarian mapping, training codes"),
    Metric("kmeans_hungarian_test", "code", "K-Means accuracy, test", "1",
           "K-Means accuracy, Hungarian mapping, test codes"),
    Metric("knn_test", "code", "K-NN accuracy, test", "1",
           "K-NN (Hamming) accuracy, fit on training codes, scored on test codes"),
    Metric("logreg_test", "code", "logistic regression accuracy, test", "1",
           "one-vs-one logistic regression accuracy on test codes"),
    Metric("code_bits", "code", "code bits used", "bit",
           "number of non-constant code units the K-Means, K-NN and logistic regression saw (a seeded random "
           "sample of code_units units for codes longer than code_units, e.g. CNNs)"),
    Metric("code_bits_total", "code", "code bits", "bit",
           "number of non-constant hidden units of the whole code over train and test"),
    Metric("net_loss_train", "net", "network loss, train", "nat",
           "network cross-entropy on the training examples (training labels)"),
    Metric("net_acc_train", "net", "network accuracy, train", "1",
           "network accuracy on the training examples (training labels)"),
    Metric("net_loss_test", "net", "network loss, test", "nat", "network cross-entropy on the test set"),
    Metric("net_acc_test", "net", "network accuracy, test", "1", "network accuracy on the test set"),
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


def unmeasured(metrics: Collection[str], status: str, noisy: bool) -> tuple[str, ...]:
    """The registered metrics that measuring a cell's stored codes computes and its file lacks (it was
    measured before they were added): re-measuring adds them. A diverged cell has no code metrics."""
    if status != "ok":
        return ()
    due = names("code") + (names("noise") if noisy else ())
    return tuple(m for m in due if m not in metrics)
