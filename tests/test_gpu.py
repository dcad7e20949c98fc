"""GPU checks (skipped without CUDA): device packing, stacked MLP and CNN training, K-Means and logistic
regression agree with the CPU; a pack resumes on the GPU from its saved state."""

import dataclasses

import numpy as np
import pytest
import torch

from acthash.metrics.kmeans import kmeans_exact
from acthash.metrics.logreg import logreg_ovo
from acthash.nets.codes import pack_bits
from acthash.nets.trainstate import load_state, save_state

from .conftest import make_trainer
from .test_cnn import BASE as CNN
from .test_train import SHARED

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_pack_bits_on_the_device_matches_numpy():
    bits = torch.rand(1000, 1001, device="cuda") > 0.5
    np.testing.assert_array_equal(pack_bits(bits).cpu().numpy(), np.packbits(bits.cpu().numpy(), axis=1))


@pytest.mark.parametrize("cells", [[dataclasses.replace(c, checkpoints=(0, 1)) for c in SHARED],
                                   [dataclasses.replace(CNN, checkpoints=(0, 1), seed=s) for s in (1, 2)]],
                         ids=["mlp", "cnn"])
def test_stacked_training_on_gpu_equals_cpu_in_float64(cells):
    cpu = make_trainer(cells).run()
    gpu = make_trainer(cells, device="cuda").run()
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-7)
        # epoch 0: the same networks, so the same codes (whole rows, or their digests for the CNN)
        np.testing.assert_array_equal(a.checkpoints[0].test.rows_for_redundancy,
                                      b.checkpoints[0].test.rows_for_redundancy)


def test_kmeans_on_gpu_equals_cpu_to_the_last_bit():
    rng = np.random.default_rng(0)
    codes = (rng.random((12000, 64)) < 0.3).astype(np.uint8)  # more distinct rows than the subset phase's
    cpu_ids, cpu = kmeans_exact(codes, 10, n_init=10)
    gpu_ids, gpu = kmeans_exact(codes, 10, n_init=10, device="cuda")
    np.testing.assert_array_equal(gpu_ids, cpu_ids)
    assert gpu == cpu


def test_newton_logreg_on_gpu_equals_cpu():
    rng = np.random.default_rng(1)
    tr, te = ((rng.random((n, 32)) < 0.4).astype(np.uint8) for n in (2000, 500))
    y = rng.integers(0, 10, 2000)
    np.testing.assert_array_equal(logreg_ovo(tr, y, te, device="cuda"), logreg_ovo(tr, y, te))


def test_a_pack_resumes_on_the_gpu_from_its_saved_state(tmp_path):
    """The saved state is read onto the CPU and checked against a model on the GPU before loading: a depth-2 pack
    (width buckets with member ids) saved after epoch 1 resumes to the losses of an uninterrupted run."""
    cells = [dataclasses.replace(c, depth=2, checkpoints=(1, 2)) for c in SHARED]
    straight = make_trainer(cells, device="cuda").run()
    first = make_trainer(cells, device="cuda")
    first.train_epoch()
    first.evaluate()
    save_state(first, tmp_path / "s.pt")
    again = make_trainer(cells, device="cuda")
    assert load_state(again, tmp_path / "s.pt") and again.epoch == 1
    for a, b in zip(straight, again.run()):
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-9)  # GPU kernels need not repeat to the bit
