"""Shared fixtures: real stores on real files in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import parcours
from parcours.engine.duckdb import DuckDBEngine

pytest_plugins = ["surface"]  # what the suite runs of the commands and routes (test_surface.py)


@pytest.fixture
def p(tmp_path: Path) -> Iterator[parcours.Parcours]:
    """A fresh store in a DuckDB file."""
    with parcours.connect(tmp_path / "store.duckdb") as client:
        yield client


@pytest.fixture
def memory_engine() -> Iterator[DuckDBEngine]:
    """An in-memory engine for pure SQL checks (normalisation functions)."""
    engine = DuckDBEngine(None)
    yield engine
    engine.close()
