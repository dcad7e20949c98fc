"""Shared fixtures: real data roots, small trainers on scikit-learn's digits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Where real datasets live for the tests (ACTHASH_DATA, default <repo>/data); MNIST fetched once."""
    from acthash.data import fetch

    root = Path(os.environ.get("ACTHASH_DATA", REPO / "data"))
    fetch("mnist", root)
    return root
