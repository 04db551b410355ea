"""`GET /v1/scores/tiers|rfm|personas` on a real `parcours serve`: each answers what the Python
API computes on the same store (without writing), behind the admin token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from purchase_log import behaviours, generated, import_rows
from servers import ADMIN, Server, add_source, start_server

import parcours

AS_OF = "2026-08-20"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any]]]:
    """A server on a store holding a generated log, with what Python answers on it."""
    store = tmp_path / "store.duckdb"
    with parcours.connect(store) as p:
        import_rows(p, tmp_path, generated(customers=120) + behaviours(per_group=15)[0])
        as_of = dt.date.fromisoformat(AS_OF)
        expected = {
            "tiers": p.scores.tiers(ladder="spend", as_of=as_of, write=False).to_dict(),
            "rfm": p.scores.rfm(as_of=as_of, bins=4, write=False).to_dict(),
            "personas": p.scores.personas(ks=range(2, 5), seed=3, write=False).to_dict(),
        }
    running = start_server(store, add_source(store))
    yield running, expected
    running.stop()


def test_score_routes_answer_what_python_computes(served: tuple[Server, dict[str, Any]]) -> None:
    server, expected = served
    admin = httpx.Client(headers=ADMIN, timeout=60)
    asked = {
        "tiers": {"ladder": "spend", "as_of": AS_OF},
        "rfm": {"as_of": AS_OF, "bins": 4},
        "personas": {"k_min": 2, "k_max": 4, "seed": 3},
    }
    for name, params in asked.items():
        got = admin.get(f"{server.url}/v1/scores/{name}", params=params)
        assert got.status_code == 200, got.text
        assert got.json() == expected[name], name
    assert httpx.get(f"{server.url}/v1/scores/rfm").status_code == 401
    with parcours.connect(server.store, read_only=True) as p:
        assert p.sql("SELECT count(*) AS n FROM customer_scores").to_pylist() == [{"n": 0}]


def test_an_unknown_ladder_is_refused_with_the_shipped_ones(
    served: tuple[Server, dict[str, Any]],
) -> None:
    server, _ = served
    got = httpx.get(
        f"{server.url}/v1/scores/tiers", params={"ladder": "/etc/x.yaml"}, headers=ADMIN
    )
    assert got.status_code == 400
    assert got.json()["error"] == "LadderError" and "orders, spend" in got.json()["fix"]
