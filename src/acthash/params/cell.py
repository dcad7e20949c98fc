"""Every parameter of one grid cell (a trained network and its evaluation), in one place (the phase-chart rule's
are `acthash.params.phase_rule`). Light on purpose (no numpy, torch or xarray): the Snakefile imports it.

Each `Cell` field carries its type, default, bounds or choices, description and whether it is a grid axis;
the workflow's config validation, the `acthash cell` options, `acthash params` (the documented key list)
and the checks below are all derived from these fields. Defaults are the reference recipe (docs/spec.md Part A §3).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from acthash.params.datasets import NAMES, split_size
from acthash.params.fields import check_key, check_value, param, short_hash

ARCHS = ("mlp", "vgg16", "vgg19", "resnet18", "resnet20")  # the CNNs are built by acthash.nets.cnn
FRAMEWORKS = ("torch", "keras")
RANDOM_INPUTS = ("none", "uniform01", "neg_uniform01", "gaussian_like_data")
# Parameters every member of one stacked model (a pack) must share; the others may differ within a pack.
PACK_SHARED = ("dataset", "arch", "depth", "bn", "checkpoints", "batch_size", "bn_eps", "bn_momentum", "bn_variance",
               "code_bn", "optimizer", "sgd_momentum", "adam_eps", "lr", "lr_decay", "lr_step", "early_stopping",
               "patience", "train_fraction", "augment", "random_inputs", "framework", "ce_clip",
               "bn_zero_debias")


@dataclass(frozen=True)
class Cell:
    """Every parameter of one trained network and its evaluation; see each field's `doc` (`acthash params`)."""

    dataset: str = param("mnist", "dataset", axis="dataset", choices=NAMES)
    arch: str = param("mlp", "mlp (Dense→BN→ReLU blocks) or a CNN", axis="architecture", choices=ARCHS)
    depth: int = param(1, "hidden layers of an MLP; 1 for CNNs (their depth is set by arch)", axis="hidden layers",
                       lo=1)
    width: int = param(40, "neurons per hidden layer (MLP) or base channels (CNN)",
                       axis="width (neurons / base channels)", lo=1)
    n_train: int = param(48000, "training examples: the first n of the training split (or a stratified draw)",
                         axis="training examples n", lo=1)
    weight_decay: float = param(1e-6, "L2 coefficient on hidden kernels, Keras semantics", axis="weight decay (L2)",
                                lo=0)
    bn: bool = param(True, "batch normalisation after each hidden layer", axis="batch normalisation")
    dropout: float = param(0.0, "dropout after each hidden ReLU, training only", axis="dropout rate", lo=0, hi=1,
                           hi_open=True)
    label_noise: float = param(0.0, "fraction of training labels corrupted", axis="label noise ratio", lo=0, hi=1)
    augment: bool = param(False, "data augmentation of training batches, never of codes", axis="data augmentation")
    seed: int = param(0, "seed of initialisation, data order, subsets and noise", axis="seed", lo=0, hi=2**32 - 1)
    checkpoints: tuple[int, ...] = param((0, 1, 5), "epochs at which codes and metrics are taken (0 = "
                                         "initialisation); the last is the run length", lo=0)
    noise_mode: str = param("symmetric_other", "how noisy labels are drawn",
                            choices=("symmetric_other", "permute_subset"))
    subset: str = param("first_n", "which n training examples", choices=("first_n", "stratified_random"))
    tile: bool = param(True, "repeat the n examples floor(N/n) times per epoch")
    train_fraction: float = param(0.8, "fraction of the official training set used as training split",
                                  lo=0, hi=1, lo_open=True)
    optimizer: str = param("adam", "adam (Keras' Adam, the reference) or sgd (heavy-ball momentum, PyTorch form)",
                           choices=("adam", "sgd"), neutral="adam")
    sgd_momentum: float = param(0.9, "momentum of optimizer=sgd", lo=0, hi=1, hi_open=True, neutral=0.9)
    lr: float = param(1e-2, "learning rate", lo=0, lo_open=True)
    lr_decay: float = param(0.1, "learning-rate factor every lr_step epochs", lo=0, hi=1, lo_open=True)
    lr_step: int = param(20, "epochs between learning-rate decays", lo=1)
    adam_eps: float = param(1e-7, "Adam epsilon (Keras default)", lo=0, lo_open=True)
    batch_size: int = param(64, "training batch size", lo=1)
    early_stopping: bool = param(True, "stop on training loss (patience); the member is frozen after")
    patience: int = param(10, "epochs without improvement of the training loss before stopping", lo=1)
    bn_eps: float = param(1e-3, "batch-norm epsilon (Keras default)", lo=0, lo_open=True)
    bn_momentum: float = param(0.01, "batch-norm running-average update weight", lo=0, hi=1, lo_open=True)
    bn_variance: str = param("unbiased", "batch variance that updates the running variance: unbiased (PyTorch, "
                             "Keras 2.2) or biased (tf.keras' non-fused layer: no Bessel correction)",
                             choices=("unbiased", "biased"), neutral="unbiased")
    code_bn: str = param("moving", "batch-norm statistics when codes are read: moving (running averages, "
                         "inference mode, the reference) or batch (those of the coded set as one batch)",
                         choices=("moving", "batch"), neutral="moving")
    knn_k: int = param(9, "neighbours of the Hamming K-NN", lo=1)
    logreg_solver: str = param("lbfgs", "scikit-learn solver of the one-vs-one logistic regression",
                               choices=("lbfgs", "liblinear"))
    kmeans_n_init: int = param(10, "K-Means restarts", lo=1)
    random_inputs: str = param("none", "also measure the redundancy of codes of seeded random inputs",
                               choices=RANDOM_INPUTS)
    bn_zero_debias: bool = param(False, "batch-norm running statistics as TF's zero-debiased moving averages "
                                 "(standalone Keras 2.2 on TensorFlow, the authors' stack; MLPs): early ones are "
                                 "the batch statistics seen so far, not mostly their initial values",
                                 neutral=False)
    ce_clip: float = param(0.0, "training loss on softmax probabilities clipped to [ce_clip, 1 - ce_clip], as "
                           "standalone Keras' categorical cross-entropy does (1e-7): confident and hopeless examples "
                           "then get no gradient; 0 = the exact cross-entropy of the logits", lo=0, hi=0.5,
                           hi_open=True, neutral=0.0)
    framework: str = param("torch", "what trains the network: torch (acthash's stacked trainer) or keras (the "
                           "released MLP recipe in tf-keras, one network at a time: pip install -e '.[keras]')",
                           choices=FRAMEWORKS, neutral="torch")
    code_units: int = param(4096, "codes longer than this keep a seeded sample of this many units for K-Means, "
                            "K-NN and logistic regression (redundancy uses whole codes); 0 keeps all", lo=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoints", tuple(sorted({int(c) for c in self.checkpoints})))
        for f in dataclasses.fields(self):  # 0 and 0.0 are one value: one hash, one cell file
            value = getattr(self, f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
        problems = validate(self)
        if problems:
            raise ValueError(f"invalid cell parameters: {'; '.join(problems)}")

    @property
    def epochs(self) -> int:
        """Number of training epochs: the last checkpoint."""
        return self.checkpoints[-1]

    def lr_at(self, epoch: int) -> float:
        """The learning rate of 1-based `epoch`: the reference's step decay, lr·lr_decay^((epoch − 1) // lr_step)."""
        return self.lr * self.lr_decay ** ((epoch - 1) // self.lr_step)

    @property
    def name(self) -> str:
        """Readable label of the cell's grid-axis values, `key~value` segments joined by '/'."""
        return "/".join(f"{k}~{_fmt(getattr(self, k))}" for k in GRID_AXES)

    def params(self) -> dict[str, Any]:
        """All parameters as a JSON-friendly dict."""
        d = dataclasses.asdict(self)
        d["checkpoints"] = list(self.checkpoints)
        return d

    @property
    def param_hash(self) -> str:
        """Short sha256 of the canonical JSON of `params()` (without parameters at their `neutral` value):
        the cell's address in the results tree."""
        neutral = {f.name: f.metadata["neutral"] for f in dataclasses.fields(self)}
        params = {k: v for k, v in self.params().items() if neutral[k] is None or v != neutral[k]}
        blob = json.dumps(params, sort_keys=True).encode()
        return short_hash(blob)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Cell:
        """Build a cell from a dict, naming an unknown key and the closest known one."""
        for key in params:
            check_key(key, PARAMS)
        return cls(**params)


FIELDS = {f.name: f for f in dataclasses.fields(Cell)}
PARAMS = tuple(FIELDS)
GRID_AXES = tuple(n for n, f in FIELDS.items() if f.metadata["axis"])
ALWAYS_DIMS = ("width", "epoch", "n_train", "seed")  # dims of every merged dataset (the others only where they vary)
CONTEXT_AXES = ("dataset", "arch", "depth")  # what network on what data: named in every figure's title when fixed
# the regularisation and noise axes (weight decay, BN, dropout, label noise, augmentation): one table each
FACTORS = tuple(a for a in GRID_AXES if a not in (*CONTEXT_AXES, *ALWAYS_DIMS))
RECIPE_KEYS = tuple(n for n in PARAMS if n not in GRID_AXES)
# what a framework='keras' cell must leave at its default (the Keras model is the released recipe's MLP)
KERAS_FIXED = ("arch", "optimizer", "dropout", "augment", "random_inputs", "code_bn", "bn_variance", "code_units",
               "bn_zero_debias")


def stored_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a cell file stores, completed: one added to acthash since the file was written takes its
    `neutral` value (what was done before it existed), so old files stay readable. A missing parameter
    without a neutral value raises KeyError naming it."""
    lacking = [k for k in PARAMS if k not in params and FIELDS[k].metadata["neutral"] is None]
    if lacking:
        raise KeyError(f"parameter {', '.join(lacking)}")
    return {**{k: params.get(k, FIELDS[k].metadata["neutral"]) for k in PARAMS}, **params}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def validate(cell: Cell) -> list[str]:
    """Human-readable problems with a cell's parameters (empty if valid): each value against its field's
    bounds, then the combinations that cannot be run."""
    p = [msg for name in PARAMS if (msg := check_value(name, getattr(cell, name), FIELDS))]
    if p:
        return p
    if cell.arch != "mlp":
        if cell.depth != 1:
            p.append(f"depth={cell.depth}: a CNN's depth is set by arch={cell.arch!r}; leave depth at 1")
        if not cell.bn:
            p.append(f"bn=False: the CNNs ({cell.arch}) always use batch normalisation")
        if cell.dropout and cell.arch.startswith("resnet"):
            p.append(f"dropout={cell.dropout}: {cell.arch} has no fully connected hidden layer to drop out")
    for key in ("bn_variance", "code_bn", "bn_zero_debias"):  # MLP batch-norm options: only their defaults elsewhere
        if getattr(cell, key) != FIELDS[key].default:
            if cell.arch != "mlp":
                p.append(f"{key}={getattr(cell, key)!r}: implemented for arch='mlp' only")
            if not cell.bn:
                p.append(f"{key}={getattr(cell, key)!r}: needs bn=True")
    for key, used_by in (("sgd_momentum", "sgd"), ("adam_eps", "adam")):  # else: a new address, the same run
        if cell.optimizer != used_by and getattr(cell, key) != FIELDS[key].default:
            p.append(f"{key}={getattr(cell, key)!r}: used only with optimizer={used_by!r}")
    if cell.framework == "keras":  # the released MLP recipe only: what the Keras model is built with
        p += [f"{key}={getattr(cell, key)!r}: framework='keras' runs the released recipe, "
              f"{key}={FIELDS[key].default!r}" for key in KERAS_FIXED if getattr(cell, key) != FIELDS[key].default]
    if cell.code_bn == "batch" and cell.random_inputs != "none":
        p.append(f"random_inputs={cell.random_inputs!r}: read with moving statistics only; use code_bn='moving'")
    if cell.knn_k > cell.n_train:
        p.append(f"knn_k={cell.knn_k}: exceeds n_train={cell.n_train} (a test example's neighbours are training "
                 "examples)")
    n_split = split_size(cell.dataset, cell.train_fraction)
    if cell.n_train > n_split:
        p.append(f"n_train={cell.n_train}: exceeds the {cell.dataset} training split ({n_split} examples "
                 f"with train_fraction={cell.train_fraction:g})")
    return p
