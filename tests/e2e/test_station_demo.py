"""The whole station on the demo world: every score then every segment recomputed from the
command line and over HTTP, a customer's standing in `customers show`, and the touched
customers rescored after an import — on copies of the store `parcours demo` built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_process import run
from servers import ADMIN, add_source, start_server

import parcours
from parcours.segments.recompute import STEPS

SCORES = (
    "tier",
    "rfm",
    "p_alive",
    "churn_risk",
    "expected_purchases",
    "clv",
    "health",
    "persona",
    "milestone:onboarding",
    "typical_journey",
)


@pytest.fixture
def store(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """A copy of the demo's store, to write to."""
    out, _ = demo
    copy = tmp_path / "store.duckdb"
    shutil.copy(out / "parcours.duckdb", copy)
    return copy


def _scored(store: Path) -> dict[str, int]:
    with parcours.connect(store, read_only=True) as p:
        rows = p.sql("SELECT score, count(*) AS n FROM customer_scores GROUP BY score").to_pylist()
    return {row["score"]: row["n"] for row in rows}


def test_recompute_scores_every_customer_then_the_segments(store: Path, tmp_path: Path) -> None:
    """Every resolved customer gets a tier (the ladder's base at least) and a health score;
    every buyer an RFM cell and a lifetime value — counted here from the store itself."""
    with parcours.connect(store) as p:
        p.store.engine.execute("DELETE FROM customer_scores")
        customers, buyers = (
            p.sql(
                "SELECT count(DISTINCT customer_id) AS c, count(DISTINCT customer_id) FILTER "
                "(WHERE name = 'Order Completed') AS b FROM customer_events "
                "WHERE source <> 'parcours'"
            )
            .to_pylist()[0]
            .values()
        )
    done = run("scores", "recompute", "--store", str(store), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert tuple(answer["seconds"]) == STEPS
    assert answer["skipped"] == {}
    scored = _scored(store)
    assert scored["tier"] == customers
    assert scored["rfm"] == scored["clv"] == buyers
    assert set(SCORES) <= set(scored)


def test_customers_show_gives_the_standing_the_store_holds(store: Path, tmp_path: Path) -> None:
    with parcours.connect(store, read_only=True) as p:
        email, customer = (
            p.sql(
                "SELECT m.value, m.customer_id FROM identity_map m JOIN customer_scores s "
                "USING (customer_id) WHERE m.type = 'email' AND s.score = 'clv' "
                "ORDER BY s.value DESC LIMIT 1"
            )
            .to_pylist()[0]
            .values()
        )
        held = p.sql(
            f"SELECT score, value, label FROM customer_scores WHERE customer_id = '{customer}'"
        ).to_pylist()
    done = run(
        "customers", "show", "--email", email, "--store", str(store), "-f", "json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    standing = json.loads(done.stdout)["standing"]
    assert standing["customer_id"] == customer
    assert {s: (v["value"], v["label"]) for s, v in standing["scores"].items()} == {
        row["score"]: (row["value"], row["label"]) for row in held
    }
    reasons = standing["scores"]["health"]["details"]["reasons"]
    assert reasons and all(isinstance(r, dict) and r["reason"] for r in reasons)
    shown = run("customers", "show", "--email", email, "--store", str(store), cwd=tmp_path)
    assert "Standing (scores and why)" in shown.stdout and reasons[0]["reason"][:20] in (
        " ".join(shown.stdout.split())
    )


def _five_orders(store: Path, tmp_path: Path) -> tuple[Path, str]:
    """A file of five orders within a day, on the data's last day, by a customer at the
    orders ladder's base (Member); the file and the customer."""
    with parcours.connect(store, read_only=True) as p:
        email, customer, last = (
            p.sql(
                "SELECT m.value, m.customer_id, (SELECT max(occurred_at) FROM customer_events) "
                "FROM identity_map m JOIN customer_scores s USING (customer_id) "
                "WHERE m.type = 'email' AND s.score = 'tier' AND s.label = 'Member' LIMIT 1"
            )
            .to_pylist()[0]
            .values()
        )
    day = last.date().isoformat()
    rows = [
        {
            "type": "track",
            "event": "Order Completed",
            "timestamp": f"{day}T0{h}:00:00Z",
            "messageId": f"order-{h}",
            "anonymousId": f"planted-{h}",
            "context": {"traits": {"email": email}},
            "properties": {"revenue": 30.0, "currency": "EUR"},
        }
        for h in range(5)
    ]
    orders = tmp_path / "orders.jsonl"
    orders.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return orders, customer


def _tier(p: parcours.Parcours, customer: str) -> str:
    return str(
        p.sql(
            f"SELECT label FROM customer_scores WHERE customer_id = '{customer}' AND score = 'tier'"
        ).column(0)[0]
    )


def test_an_import_rescores_the_customers_it_touches(store: Path, tmp_path: Path) -> None:
    """Five orders within a day for a customer at the ladder's base make them Platinum (five
    or more orders in 7 days: the shipped orders ladder), as soon as the file is imported."""
    orders, customer = _five_orders(store, tmp_path)
    with parcours.connect(store) as p:
        assert p.import_file(orders, source="web", mapping="web").accepted == 5
        assert _tier(p, customer) == "Platinum"


def test_live_loads_rescore_at_most_every_so_often(store: Path, tmp_path: Path) -> None:
    """The live loader's refresh rescores only once its interval has passed since it last
    did, and then every customer touched meanwhile (the same five orders, loaded as the
    live loader would find them: stored and resolved, then the refresh)."""
    from parcours.segments.recompute import LiveRefresh

    orders, customer = _five_orders(store, tmp_path)
    with parcours.connect(store, identity={"resolve_on_arrival": False}) as p:
        since = p.sql("SELECT now() AS t").column(0)[0].as_py()
        p.import_file(orders, source="web", mapping="web")
        p.identity.resolve_new("received_at >= ?", [since])
        hourly = LiveRefresh(p.store, scores_every_s=3600)
        assert set(hourly(since).seconds) <= {"their events", "segments"}  # no scorer
        assert _tier(p, customer) == "Member"
        at_once = LiveRefresh(p.store, scores_every_s=0)
        assert "tiers" in at_once(since).seconds
        assert _tier(p, customer) == "Platinum"


def test_recompute_over_http_runs_through_the_writer(store: Path) -> None:
    """Recomputed through the server's one writer; then one customer's standing over HTTP is
    what Python reads from the store once the server has stopped."""
    with parcours.connect(store, read_only=True) as p:
        customer = (
            p.sql("SELECT customer_id FROM customer_scores WHERE score = 'health' LIMIT 1")
            .column(0)[0]
            .as_py()
        )
    server = start_server(store, add_source(store))
    try:
        admin = httpx.Client(headers=ADMIN, timeout=300)
        done = admin.post(f"{server.url}/v1/scores/recompute")
        assert done.status_code == 200, done.text
        assert done.json()["skipped"] == {} and "segments" in done.json()["seconds"]
        refused = admin.post(f"{server.url}/v1/scores/recompute", params={"ladder": "/etc/x"})
        assert refused.status_code == 400 and "orders" in refused.text
        assert httpx.post(f"{server.url}/v1/scores/recompute").status_code == 401
        standing = admin.get(f"{server.url}/v1/scores/customers/{customer}")
        assert httpx.get(f"{server.url}/v1/scores/customers/{customer}").status_code == 401
    finally:
        server.stop()
    with parcours.connect(store, read_only=True) as p:
        expected = p.scores.of(customer).to_dict()
    assert standing.status_code == 200 and standing.json() == expected
    assert "health" in expected["scores"]


def test_an_import_rescores_on_the_ladder_the_last_full_run_used(
    store: Path, tmp_path: Path
) -> None:
    """Tiers scored on a ladder of the store's own (a YAML file, not a shipped name): the
    refresh after an import keeps that ladder. Five orders in a day reach its top level,
    named here, never the shipped ladder's Platinum."""
    ladder = tmp_path / "crowns.yaml"
    ladder.write_text(
        "name: crowns\nmeasure: orders\nwindow: 7d\nper: 7d\nbase: Commoner\n"
        "levels:\n  - {name: Knight, min: 2}\n  - {name: Duke, min: 3}\n"
    )
    orders, customer = _five_orders(store, tmp_path)
    with parcours.connect(store) as p:
        p.scores.tiers(ladder=ladder)
        assert _tier(p, customer) == "Commoner"  # the customer chosen at the base
        p.import_file(orders, source="web", mapping="web")
        assert _tier(p, customer) == "Duke"
