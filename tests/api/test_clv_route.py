"""`GET /v1/scores/clv` on a real `parcours serve`: the kept lifetime-value model and scores.

CDNOW (the raw log `lifetimes` ships, tests/cdnow.py) is imported and scored through the Python
API, then served. The route must answer what the Python API answers on the same store, and the
model it shows must be the papers' (Fader, Hardie & Lee 2005: r 0.243, α 4.414 per week, i.e.
30.9 per day, a 0.793, b 2.426; Fader & Hardie 2013: p 6.25, q 3.74, γ 15.44). It reads only:
before a first computation there is nothing to show (404), and it needs the admin token.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from cdnow import import_cdnow
from peers import peer
from servers import ADMIN, Server, add_source, start_server

import parcours


def test_clv_route_shows_the_kept_model_and_scores(tmp_path: Path) -> None:
    peer("lifetimes")  # the data ships in it
    store = tmp_path / "store.duckdb"
    with parcours.connect(store) as p:
        import_cdnow(p, tmp_path)
        p.scores.lifetime_value(as_of=dt.date(1997, 9, 30))
        expected = json.loads(json.dumps(p.scores.current_lifetime_value(top=5).to_dict()))
    server = start_server(store, add_source(store))
    try:
        answer = httpx.get(f"{server.url}/v1/scores/clv", params={"top": 5}, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        assert shown == expected
        bg, gg = shown["model"]["bg_nbd"], shown["model"]["gamma_gamma"]
        assert (bg["r"], bg["alpha"] / 7, bg["a"], bg["b"]) == (
            pytest.approx(0.243, abs=5e-4),
            pytest.approx(4.414, abs=5e-3),
            pytest.approx(0.793, abs=5e-4),
            pytest.approx(2.426, abs=5e-3),
        )
        assert (gg["p"], gg["q"], gg["v"]) == (
            pytest.approx(6.25, abs=5e-3),
            pytest.approx(3.74, abs=5e-3),
            pytest.approx(15.44, abs=5e-3),
        )
        assert shown["customers"] == 2357 and len(shown["top"]) == 5
        assert (shown["horizon_days"], shown["discount_rate_yearly"]) == (365, 0.1)

        anonymous = httpx.get(f"{server.url}/v1/scores/clv")
        assert anonymous.status_code == 401
    finally:
        server.stop()


def test_clv_route_says_to_compute_first(server: Server) -> None:
    answer = httpx.get(f"{server.url}/v1/scores/clv", headers=ADMIN)
    assert answer.status_code == 404
    assert "parcours scores clv" in answer.json()["fix"]
