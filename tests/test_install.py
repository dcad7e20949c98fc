"""Install facts stated once: torch's and torchvision's supported releases live in pyproject.toml; the Makefile
derives its pins from there, and the two conda environments must agree with it (this test fails on drift). The
data root's default lives in acthash.params.layout; the shipped config's copy must agree."""

import re
import subprocess

import yaml

from acthash.params.layout import DATA_ROOT

from .conftest import REPO


def upper_bounds() -> dict[str, str]:
    """{package: newest allowed release} of torch and torchvision in pyproject.toml."""
    text = (REPO / "pyproject.toml").read_text()
    return dict(re.findall(r'^\s*"(torch|torchvision)>=[\d.]+,<=([\d.]+)",$', text, re.M))


def test_the_makefile_installs_the_releases_pyproject_allows():
    pins = subprocess.run(["make", "-s", "--eval", "pins: ; @echo $(TORCH_PINS)", "pins"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout.split()
    assert set(upper_bounds()) == {"torch", "torchvision"}
    assert pins == [f"{name}=={version}" for name, version in upper_bounds().items()]


def test_the_conda_environments_agree_with_pyproject():
    for path, op in (("environment.yml", "=="), ("workflow/envs/acthash.yaml", "<=")):
        text = (REPO / path).read_text()
        for name, version in upper_bounds().items():
            assert re.search(rf"^\s*- {name}{op}{re.escape(version)}\b", text, re.M), (path, name, version)


def test_every_torch_version_the_docs_name_is_the_one_pyproject_allows():
    """A pinned install command in a manual (e.g. a CUDA build for an older driver) names today's releases."""
    bounds = upper_bounds()
    named = [(doc.name, name, version) for doc in [REPO / "README.md", *REPO.glob("profiles/*.md"),
                                                   *REPO.glob("docs/*.md")]
             for name, version in re.findall(r"\b(torch|torchvision)==([0-9.]+)", doc.read_text())]
    assert {name for _, name, _ in named} == {"torch", "torchvision"}  # the manuals do name both (profiles/README)
    assert [n for n in named if n[2] != bounds[n[1]]] == []


def test_the_shipped_configs_data_root_is_the_default():
    assert yaml.safe_load((REPO / "config" / "config.yaml").read_text())["data_root"] == DATA_ROOT
