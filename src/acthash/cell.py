"""One grid cell: a frozen dataclass holding every parameter, its name, path and hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

# Axes that vary over an experiment's grid (each becomes a key~value path segment, in this order).
GRID_AXES = (
    "dataset",
    "arch",
    "depth",
    "width",
    "n_train",
    "weight_decay",
    "bn",
    "dropout",
    "label_noise",
    "augment",
    "seed",
)

DATASETS = ("mnist", "fashion_mnist", "cifar10", "svhn", "digits")
ARCHS = ("mlp", "vgg16", "vgg19", "resnet18", "resnet20")  # the CNNs are built by acthash.cnn
RANDOM_INPUTS = ("none", "uniform01", "neg_uniform01", "gaussian_like_data")


@dataclass(frozen=True)
class Cell:
    """Every parameter of one trained network and its evaluation (defaults: SPEC Part A §3).

    `arch` is "mlp" (Dense→BN→ReLU blocks) or a CNN; `width` is neurons per hidden layer of an MLP and
    the base channel count of a CNN (64 for the reference VGG/ResNet-18, 16 for ResNet-20), whose depth is
    set by `arch` (`depth` stays 1). `code_units`: codes longer than this keep a seeded random sample of
    this many units for K-Means, K-NN and logistic regression (redundancy always uses whole codes; 0 keeps
    every unit). `n_train` is the number of training examples used
    (the first n of the training split unless `subset` is "stratified_random"); `checkpoints`
    are the epochs at which codes and metrics are taken (0 = initialisation).
    """

    dataset: str = "mnist"
    arch: str = "mlp"
    depth: int = 1
    width: int = 40
    n_train: int = 48000
    weight_decay: float = 1e-6
    bn: bool = True
    dropout: float = 0.0
    label_noise: float = 0.0
    augment: bool = False
    seed: int = 0
    checkpoints: tuple[int, ...] = (0, 1, 5)
    noise_mode: str = "symmetric_other"
    subset: str = "first_n"
    tile: bool = True
    train_fraction: float = 0.8
    lr: float = 1e-2
    lr_decay: float = 0.1
    lr_step: int = 20
    adam_eps: float = 1e-7
    batch_size: int = 64
    early_stopping: bool = True
    patience: int = 10
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01
    knn_k: int = 9
    logreg_solver: str = "lbfgs"
    kmeans_n_init: int = 10
    random_inputs: str = "none"
    code_units: int = 4096

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoints", tuple(sorted({int(c) for c in self.checkpoints})))
        problems = validate(self)
        if problems:
            raise ValueError(f"invalid cell parameters: {'; '.join(problems)}")

    @property
    def epochs(self) -> int:
        """Number of training epochs: the last checkpoint."""
        return self.checkpoints[-1]

    @property
    def name(self) -> str:
        """Self-describing relative path of the cell, `key~value` segments joined by '/'."""
        return "/".join(f"{k}~{_fmt(getattr(self, k))}" for k in GRID_AXES)

    def params(self) -> dict[str, Any]:
        """All parameters as a JSON-friendly dict."""
        d = dataclasses.asdict(self)
        d["checkpoints"] = list(self.checkpoints)
        return d

    @property
    def param_hash(self) -> str:
        """Short sha256 of the canonical JSON of `params()`: identifies results made with these settings."""
        blob = json.dumps(self.params(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Cell":
        """Build a cell from a dict, naming any unknown key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown cell parameter(s) {unknown}; allowed: {sorted(known)}")
        return cls(**params)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def validate(cell: Cell) -> list[str]:
    """Return a list of human-readable problems with a cell's parameters (empty if valid)."""
    p: list[str] = []
    if cell.dataset not in DATASETS:
        p.append(f"dataset={cell.dataset!r} not in {DATASETS}")
    if cell.arch not in ARCHS:
        p.append(f"arch={cell.arch!r} not in {ARCHS}")
    elif cell.arch != "mlp":
        if cell.depth != 1:
            p.append(f"depth={cell.depth}: a CNN's depth is set by arch={cell.arch!r}; leave depth at 1")
        if not cell.bn:
            p.append(f"bn=False: the CNNs ({cell.arch}) always use batch normalisation")
        if cell.dropout and cell.arch.startswith("resnet"):
            p.append(f"dropout={cell.dropout}: {cell.arch} has no fully connected hidden layer to drop out")
    if cell.code_units < 0:
        p.append(f"code_units={cell.code_units} must be >= 0")
    for key in ("depth", "width", "n_train", "batch_size", "lr_step", "knn_k", "kmeans_n_init"):
        if int(getattr(cell, key)) < 1:
            p.append(f"{key}={getattr(cell, key)} must be >= 1")
    for key in ("dropout", "label_noise"):
        if not 0.0 <= getattr(cell, key) <= 1.0:
            p.append(f"{key}={getattr(cell, key)} must be in [0, 1]")
    if cell.dropout >= 1.0:
        p.append("dropout must be < 1")
    if cell.weight_decay < 0:
        p.append(f"weight_decay={cell.weight_decay} must be >= 0")
    if not 0 < cell.train_fraction <= 1:
        p.append(f"train_fraction={cell.train_fraction} must be in (0, 1]")
    if min(cell.checkpoints) < 0:
        p.append(f"checkpoints={list(cell.checkpoints)} must be >= 0")
    if cell.noise_mode not in ("symmetric_other", "permute_subset"):
        p.append(f"noise_mode={cell.noise_mode!r} not in ('symmetric_other', 'permute_subset')")
    if cell.subset not in ("first_n", "stratified_random"):
        p.append(f"subset={cell.subset!r} not in ('first_n', 'stratified_random')")
    if cell.random_inputs not in RANDOM_INPUTS:
        p.append(f"random_inputs={cell.random_inputs!r} not in {RANDOM_INPUTS}")
    if cell.logreg_solver not in ("lbfgs", "liblinear"):
        p.append(f"logreg_solver={cell.logreg_solver!r} not in ('lbfgs', 'liblinear')")
    return p


def parse_name(name: str) -> dict[str, Any]:
    """Grid-axis values from a cell name (`key~value/...`), typed as the dataclass fields."""
    types = {f.name: f.type for f in dataclasses.fields(Cell)}
    out: dict[str, Any] = {}
    for segment in name.strip("/").split("/"):
        key, sep, raw = segment.partition("~")
        if not sep or key not in GRID_AXES:
            raise ValueError(f"cell name {name!r}: segment {segment!r} is not key~value with key in {GRID_AXES}")
        kind = types[key]
        out[key] = bool(int(raw)) if kind == "bool" else int(raw) if kind == "int" else float(raw) if kind == "float" else raw
    return out


def cell_from_name(name: str, recipe: dict[str, Any] | None = None) -> Cell:
    """The cell named `name` with the non-axis parameters in `recipe`."""
    return Cell.from_params({**(recipe or {}), **parse_name(name)})
