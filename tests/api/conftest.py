"""Fixtures for the HTTP API: a real `parcours serve` on loopback, with one source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Server, add_source, free_port, parcours, start_server

__all__ = ["Server", "add_source", "free_port", "parcours", "start_server"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    store = tmp_path / "store.duckdb"
    running = start_server(store, add_source(store))
    yield running
    running.stop()
