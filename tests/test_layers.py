"""The layers of the package, pinned: every module of `acthash.params` loads no numpy or torch, what the
Snakefile imports (parsed on every job) loads no torch, numba or scikit-learn, nor does any module of
`acthash.analysis`; loading a merged dataset loads no torch (a fresh interpreter each)."""

import pkgutil
import re
import subprocess
import sys

import pytest

import acthash.analysis
import acthash.params

from .conftest import REPO

HEAVY = ("numpy", "torch", "numba", "sklearn")
PROBE = "import sys\n{code}\nprint(' '.join(sorted(m for m in %r if m in sys.modules)))" % (HEAVY,)


def loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout
    return set(out.split())


def modules(package) -> list[str]:
    return [m.name for m in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")]


def test_every_layer_has_its_modules():
    assert {"acthash.params.cell", "acthash.params.registry"} <= set(modules(acthash.params))
    assert {"acthash.analysis.merge", "acthash.analysis.plots"} <= set(modules(acthash.analysis))


@pytest.mark.parametrize("module", modules(acthash.params))
def test_the_parameters_the_snakefile_imports_load_no_numpy_or_torch(module):
    assert loaded(f"import {module}") == set()


def test_what_the_snakefile_imports_loads_no_torch():
    rules = "".join(p.read_text() for p in sorted(REPO.glob("workflow/rules/*.smk")))
    imported = sorted(set(re.findall(r"^from (acthash[\w.]*) import", rules, re.M)))
    assert "acthash.run.plan" in imported
    assert not loaded("\n".join(f"import {m}" for m in imported)) & {"torch", "numba", "sklearn"}


@pytest.mark.parametrize("module", modules(acthash.analysis))
def test_the_analysis_side_loads_no_torch(module):
    assert not loaded(f"import {module}") & {"torch", "numba", "sklearn"}


def test_loading_a_merged_dataset_loads_no_torch():
    assert "torch" not in loaded("import acthash\nacthash.load('docs/reproduction/mnist_samples@seeds3.nc')")
