"""Dataset loaders: real MNIST, tiny files in torchvision's CIFAR-10 and SVHN formats, digits, clear errors."""

import fcntl
import pickle
import select
import shutil
import subprocess
import time

import numpy as np
import pytest

from acthash.data.sources import DatasetChanged, DatasetNotFound, fetch, load, read_idx


def test_real_mnist_shapes_range_and_checksums(data_root):
    a = load("mnist", data_root)
    assert a.x_train.shape == (60000, 1, 28, 28) and a.x_test.shape == (10000, 1, 28, 28)
    assert a.x_train.dtype == np.float32 and 0 <= a.x_train.min() and a.x_train.max() == 1.0
    assert a.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_a_changed_or_damaged_dataset_file_is_refused_by_name_when_a_job_loads_it(data_root, tmp_path):
    """Labels edited after the fetch (the first 5 000 training labels + 1 mod 10) or a gzip member damaged: the
    loader names the file and the fix instead of training on it."""
    import gzip

    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(data_root / "MNIST" / "raw", raw)
    labels = raw / "train-labels-idx1-ubyte.gz"
    with gzip.open(labels) as f:
        content = bytearray(f.read())
    content[8:5008] = bytes((b + 1) % 10 for b in content[8:5008])
    with gzip.open(labels, "wb") as f:
        f.write(content)
    with pytest.raises(DatasetChanged, match=f"{labels}: its content is not the dataset's .*acthash fetch-data mnist"):
        load("mnist", tmp_path)
    shutil.copy(data_root / "MNIST" / "raw" / labels.name, labels)
    assert load("mnist", tmp_path).y_train[:3].tolist() == [5, 0, 4]  # the fetched file again: loads
    images = raw / "t10k-images-idx3-ubyte.gz"
    blob = bytearray(images.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one byte of the compressed stream: gzip's CRC (or inflate) fails
    images.write_bytes(blob)
    with pytest.raises(DatasetChanged, match=f"{images}: (unreadable|its content is not)"):
        load("mnist", tmp_path)


def test_cifar10_from_torchvision_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, 4))}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
        if name == "data_batch_1":
            first = batch
    a = load("cifar10", tmp_path)
    assert a.x_train.shape == (20, 3, 32, 32) and a.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_allclose(a.x_train[0].ravel() * 255, first[b"data"][0], atol=1e-3)  # CHW order kept
    assert a.y_train[:4].tolist() == list(first[b"labels"])


def test_svhn_from_torchvision_mat_files(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(1)
    for split, n in (("train", 6), ("test", 3)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": np.array([[10], [1], [2], [3], [4], [5]][:n])})
    a = load("svhn", tmp_path)
    assert a.x_train.shape == (6, 3, 32, 32) and a.y_train.tolist() == [0, 1, 2, 3, 4, 5]
    assert a.x_test.shape == (3, 3, 32, 32)


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving the folder it yields (no outside network in the tests)."""
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def tiny_cifar_archive(folder) -> dict:
    """cifar-10-python.tar.gz in torchvision's format (a cifar-10-batches-py folder of pickled batches), with 4
    images per batch; returns data_batch_1."""
    import tarfile

    rng = np.random.default_rng(0)
    batches = folder / "cifar-10-batches-py"
    batches.mkdir()
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, 4))}
        with open(batches / name, "wb") as f:
            pickle.dump(batch, f)
        first = first or batch
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as archive:
        archive.add(batches, arcname="cifar-10-batches-py")
    shutil.rmtree(batches)
    return first


def md5_of(path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar10_and_svhn_are_downloaded_from_a_server_that_answers(tmp_path, local_server, monkeypatch):
    """`acthash fetch-data` downloads torchvision's files (served here on 127.0.0.1 in the real formats), checks
    their md5, unpacks the archive, and the dataset loads; a second fetch downloads nothing."""
    import dataclasses

    from scipy.io import savemat

    from acthash.params.datasets import DATASETS

    served, base = local_server
    first = tiny_cifar_archive(served)
    rng = np.random.default_rng(1)
    for split, n in (("train", 6), ("test", 3)):
        savemat(served / f"{split}_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                                "y": np.array([[10], [1], [2], [3], [4], [5]][:n])})
    for name, files in (("cifar10", ["cifar-10-python.tar.gz"]), ("svhn", ["train_32x32.mat", "test_32x32.mat"])):
        downloads = tuple((f"{base}/{f}", md5_of(served / f)) for f in files)
        monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], downloads=downloads))
    root = tmp_path / "data"
    fetch("cifar10", root)
    a = load("cifar10", root)
    assert a.x_train.shape == (20, 3, 32, 32) and a.y_train[:4].tolist() == list(first[b"labels"])
    fetch("svhn", root)
    assert load("svhn", root).y_train.tolist() == [0, 1, 2, 3, 4, 5]
    (served / "cifar-10-python.tar.gz").unlink()  # nothing is downloaded again: the files are there
    fetch("cifar10", root)


def test_a_download_that_fails_or_differs_says_what_was_tried_and_how_to_provide_the_files(tmp_path, local_server,
                                                                                          monkeypatch):
    import dataclasses

    from acthash.params.datasets import DATASETS

    served, base = local_server
    tiny_cifar_archive(served)
    for url, md5, why in ((f"{base}/cifar-10-python.tar.gz", "0" * 32, "md5 .* of the download, expected 0000"),
                          (f"{base}/missing.tar.gz", "0" * 32, "HTTP Error 404")):
        monkeypatch.setitem(DATASETS, "cifar10", dataclasses.replace(DATASETS["cifar10"], downloads=((url, md5),)))
        with pytest.raises(DatasetNotFound, match=f"tried: {url} \\({why}.*Copy torchvision's on-disk format"):
            fetch("cifar10", tmp_path / "data")
        assert not list((tmp_path / "data").glob("*.gz")) and not list((tmp_path / "data").glob(".*.part*"))


def test_missing_datasets_say_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFound, match="cifar-10-batches-py.*--data-root"):
        load("cifar10", tmp_path)
    with pytest.raises(DatasetNotFound, match="tried: files under .*MNIST/raw"):
        fetch("mnist", tmp_path, allow_network=False)


def test_truncated_idx_file_is_named(tmp_path):
    p = tmp_path / "x-idx1-ubyte"
    p.write_bytes(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(10))
    with pytest.raises(ValueError, match="x-idx1-ubyte: IDX header says"):
        read_idx(p)


def test_digits_is_built_in():
    a = load("digits", ".")
    assert a.x_train.shape == (1497, 1, 8, 8) and a.x_test.shape == (300, 1, 8, 8)


@pytest.mark.slow
def test_fetch_log_does_not_report_a_failure_when_a_fallback_succeeds(tmp_path):
    proc = subprocess.run(["acthash", "fetch-data", "mnist", "--data-root", str(tmp_path)], capture_output=True,
                          text=True, check=True)
    assert "failed" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr
    assert proc.stdout.strip().endswith("MNIST")


def test_a_fetch_waits_for_another_process_fetching_the_same_dataset(tmp_path, data_root):
    """While another process holds the dataset's fetch lock, a fetch waits; it then finds the files that
    process installed and downloads nothing."""
    with open(tmp_path / ".MNIST.fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.Popen(["acthash", "fetch-data", "mnist", "--data-root", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert select.select([proc.stderr], [], [], 60)[0], "the fetch said nothing within 60 s"
        said = proc.stderr.readline()  # the fetch found no files and the lock held: it says so, then waits
        assert "another process is fetching it" in said and "waiting" in said, said
        time.sleep(0.5)
        assert proc.poll() is None  # still waiting while the lock is held
        shutil.copytree(data_root / "MNIST" / "raw", tmp_path / "MNIST" / "raw")  # what the holder installs
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip().endswith("MNIST"), err
    assert "fetched from" not in err and "download" not in err.lower(), err


def test_every_dataset_record_is_complete_and_its_augmentation_runs():
    """Each dataset is one record: a reader, checksums and a package exactly when acthash fetches it, a file
    list or torchvision class when the user provides it, and augmentation policies that run on its images."""
    import torch

    from acthash.data.augment import augment_batch, policy
    from acthash.data.sources import READERS, USER_FILES
    from acthash.params.datasets import DATASETS

    for d in DATASETS.values():
        assert d.reader in READERS and (d.reader == "idx") == bool(d.md5) == bool(d.package)
        assert (d.reader in USER_FILES) == bool(d.provide) == bool(d.downloads)
        assert d.fetched == (d.reader != "sklearn_digits")
        for cnn in (False, True):
            assert policy(d.name, d.image_shape[-1], cnn)[1] >= 1
            x = torch.rand(3, d.input_size)
            out = augment_batch(x, d.image_shape, d.name, torch.Generator().manual_seed(0), cnn=cnn)
            assert out.shape == x.shape and not torch.equal(out, x)
    with pytest.raises(ValueError, match="dataset='kmnist': unknown; choose from mnist, fashion_mnist"):
        load("kmnist", ".")
