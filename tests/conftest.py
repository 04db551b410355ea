"""Shared fixtures: real stores on real files in a temporary directory."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from peers import in_ci

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under CI a skipped test fails, whatever skipped it (a marker, `importorskip`): CI
    installs every peer, so a skip there would hide a check the summary seems to make.
    Outside CI, skips stand; `peers.unavailable` says how to install what is missing."""
    report = yield
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where every test must run: {reason}"
    return report
