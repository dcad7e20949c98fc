"""The layers of the package, pinned: each subpackage imports only from itself and the layers before it in
LAYERS (so no import cycle between subpackages); every module of `acthash.params` loads no numpy or torch, what
the Snakefile imports (parsed on every job) loads no torch, numba or scikit-learn, nor does any module of
`acthash.store` or `acthash.analysis`; loading a merged dataset loads no torch (a fresh interpreter each)."""

import ast
import pkgutil
import re
import subprocess
import sys

import pytest

import acthash.analysis
import acthash.params
import acthash.store

from .conftest import REPO

HEAVY = ("numpy", "torch", "numba", "sklearn")
PROBE = "import sys\n{code}\nprint(' '.join(sorted(m for m in %r if m in sys.modules)))" % (HEAVY,)


def loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout
    return set(out.split())


def modules(package) -> list[str]:
    return [m.name for m in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")]


LAYERS = ("params", "store", "data", "metrics", "nets", "analysis", "run")  # README, "Files"


def imported(path) -> list[str]:
    """Every module a source file imports by absolute name, anywhere in it (top level, inside functions, under
    TYPE_CHECKING)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


def imports_between_layers() -> set[tuple[str, str, str]]:
    """(module file, its layer, the layer it imports) for every `acthash.<layer>` import anywhere in a module,
    within src/acthash/<layer>/."""
    edges = set()
    for path in sorted((REPO / "src" / "acthash").glob("*/*.py")):
        layer = path.parent.name
        for name in imported(path):
            parts = name.split(".")
            if parts[0] == "acthash" and len(parts) > 1 and parts[1] != layer:
                edges.add((str(path.relative_to(REPO)), layer, parts[1]))
    return edges


def test_every_import_between_subpackages_goes_to_an_earlier_layer():
    """The direction of every import: a layer uses only the layers before it, so none two import each other."""
    edges = imports_between_layers()
    assert {layer for _, layer, _ in edges} >= {"store", "metrics", "nets", "analysis", "run"}  # the walk sees them
    upward = sorted(f"{path} ({layer}) imports acthash.{to}" for path, layer, to in edges
                    if to not in LAYERS or LAYERS.index(to) > LAYERS.index(layer))
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("module", modules(acthash.store))
def test_the_store_loads_no_torch(module):
    assert not loaded(f"import {module}") & {"torch", "numba", "sklearn"}


def test_no_function_of_the_store_or_the_parameters_imports_torch():
    """Not even when called (an import inside a function escapes the tests above): reading results needs no torch."""
    paths = sorted([*(REPO / "src/acthash/store").glob("*.py"), *(REPO / "src/acthash/params").glob("*.py")])
    names = {path.name: imported(path) for path in paths}
    assert "h5py" in names["cellfile.py"]  # the walk sees the store's own imports
    assert [f"{p}: {n}" for p, ns in names.items() for n in ns if n.split(".")[0] in ("torch", "numba", "sklearn")] == []


def test_every_layer_has_its_modules():
    assert {"acthash.params.cell", "acthash.params.registry"} <= set(modules(acthash.params))
    assert {"acthash.analysis.merge", "acthash.analysis.plots"} <= set(modules(acthash.analysis))


@pytest.mark.parametrize("module", modules(acthash.params))
def test_the_parameters_the_snakefile_imports_load_no_numpy_or_torch(module):
    assert loaded(f"import {module}") == set()


def test_what_the_snakefile_imports_loads_no_torch():
    rules = "".join(p.read_text() for p in sorted(REPO.glob("workflow/rules/*.smk")))
    imported = sorted(set(re.findall(r"^from (acthash[\w.]*) import", rules, re.M)))
    assert "acthash.store.plan" in imported
    assert not loaded("\n".join(f"import {m}" for m in imported)) & {"torch", "numba", "sklearn"}


@pytest.mark.parametrize("module", modules(acthash.analysis))
def test_the_analysis_side_loads_no_torch(module):
    assert not loaded(f"import {module}") & {"torch", "numba", "sklearn"}


def test_loading_a_merged_dataset_loads_no_torch():
    assert "torch" not in loaded("import acthash\nacthash.load('docs/reproduction/mnist_samples@seeds3.nc')")
