"""The light/heavy boundary: the parameters and registries the Snakefile imports load no numpy or torch, and
loading a merged dataset for analysis loads no torch (a fresh interpreter each)."""

import subprocess
import sys

from .conftest import REPO

PROBE = "import sys\n{code}\nprint(' '.join(sorted(m for m in ('numpy', 'torch', 'numba') if m in sys.modules)))"


def loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout
    return set(out.split())


def test_the_modules_the_snakefile_imports_load_no_numpy_or_torch():
    assert loaded("import acthash.cell, acthash.config, acthash.grid, acthash.layout, acthash.registry") == set()


def test_loading_a_merged_dataset_loads_no_torch():
    assert "torch" not in loaded("import acthash\nacthash.load('docs/reproduction/mnist_samples@seeds3.nc')")
