"""Health scores on the demo world: the learned model against the rules score and recency alone,
out of time, judged by the churn the world records (its truth), and the health commands and
routes as a user runs them.

The world's churn is a process over the year (demo/churn.py): discontented customers reach a
low point on a day of their own between April and October, show the signals in the eight weeks
before it (declining visits, unresolved contacts, negative posts, fewer emails opened), and
some leave then; others stop after a failed case or when their journey just ends. The truth
records each customer's churn as their records show it — truth customers.csv `churned` and
`churn_date` (their last activity, with nothing after it to the world's end, a month at least)
— and whether they were active in the eight weeks before the test date (`active_before_cutoff`,
the cut-off being truth/expected.json `churn.cutoff`, 2026-08-01). The back-test fits on
2026-06-01 with the churn observed in the store in the 60 days after it (up to the cut-off:
nothing after it is seen), scores on the cut-off, and is judged by the truth: among the
customers active before it, churned when their churn date falls before the end of the horizon.
Each store customer is judged by the true customer most of its identifiers belong to; one the
truth does not count as active before the cut-off is not judged.
"""

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
from parcours.segments.health import health_backtest
from parcours.sql import lit

TRAIN_AT, TEST_AT, HORIZON = "2026-06-01", "2026-08-01", 60
"""Test on the world's cut-off; train a horizon before it, so the training outcomes end there."""
CHURNED = (
    f"CASE WHEN c.active_before_cutoff = 1 THEN c.churned = 1 "
    f"AND c.churn_date < DATE {lit(TEST_AT)} + INTERVAL {HORIZON} DAY END"
)
"""The truth's churn within the horizon, for customers active in the eight weeks before the
test date: their last activity (nothing after it to the world's end) before the horizon ends
(NULL, not judged, for the customers not active before it)."""


def truth_outcomes(out: Path) -> str:
    """SQL: each resolved customer's recorded churn, by the true customer most of its
    identifiers belong to."""
    identifiers = lit(str(out / "truth" / "identifiers.csv"))
    customers = lit(str(out / "truth" / "customers.csv"))
    return f"""
        WITH t AS (SELECT type, value, customer_id AS true_id
                   FROM read_csv({identifiers}, all_varchar = true)),
        m AS (SELECT m.customer_id, t.true_id, count(*) AS n
              FROM identity_map m JOIN t USING (type, value) GROUP BY ALL),
        best AS (SELECT customer_id, arg_max(true_id, n) AS true_id FROM m GROUP BY customer_id)
        SELECT best.customer_id, {CHURNED} AS churned
        FROM best JOIN read_csv({customers}) c ON c.customer_id = best.true_id
    """


def test_learned_health_beats_rules_and_recency_on_the_worlds_churn(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = demo
    cutoff = json.loads((out / "truth" / "expected.json").read_text())["churn"]["cutoff"]
    assert cutoff.startswith(TEST_AT)
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        result = health_backtest(
            p.store,
            train_at=TRAIN_AT,
            test_at=TEST_AT,
            horizon_days=HORIZON,
            outcomes=truth_outcomes(out),
        )
    figures = {
        name: (m.auc, m.average_precision, m.brier, m.top_decile_lift)
        for name, m in (
            ("learned", result.learned),
            ("rules", result.rules),
            ("recency", result.recency),
        )
    }
    print(result.headline)
    print("AUC, average precision, Brier, top-decile lift:", figures)
    assert result.outcomes == "given" and result.test_churned >= 30, result.headline
    assert result.learned.auc > result.rules.auc, result.headline
    assert result.learned.auc > result.recency.auc, result.headline


def _copy(out: Path, tmp_path: Path) -> Path:
    store = tmp_path / "demo.duckdb"
    shutil.copy(out / "parcours.duckdb", store)
    return store


def _plain_counts(store: Path) -> tuple[int, int, int]:
    """From the store's events, by plain SQL: customers with an activity (not an email sent,
    not a CRM record); on TEST_AT, those active in the 90 days before, and those of them with
    no activity in the horizon after."""
    with parcours.connect(store, read_only=True) as p:
        row = p.sql(
            f"""
            WITH a AS (SELECT customer_id, occurred_at FROM customer_events
                       WHERE type <> 'identify' AND coalesce(name, '') NOT IN
                             ('Email Sent', 'SMS Sent', 'Push Sent')),
            t AS (SELECT {lit(TEST_AT)}::TIMESTAMPTZ AS t0),
            per AS (SELECT customer_id,
                       bool_or(occurred_at < t0 AND occurred_at >= t0 - INTERVAL 90 DAY) AS active,
                       bool_or(occurred_at >= t0
                               AND occurred_at < t0 + INTERVAL {HORIZON} DAY) AS came_back
                    FROM a, t GROUP BY customer_id)
            SELECT count(*) AS everyone, count(*) FILTER (WHERE active) AS tested,
                   count(*) FILTER (WHERE active AND NOT came_back) AS churned FROM per
            """
        ).to_pylist()[0]
    return row["everyone"], row["tested"], row["churned"]


def test_health_commands_score_and_backtest_the_demo(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _ = demo
    store = _copy(out, tmp_path)
    everyone, tested, churned = _plain_counts(store)
    scored = run("scores", "health", "--store", str(store), "--format", "json", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert result["customers"] == everyone and sum(result["bands"].values()) == everyone
    assert result["refitted"] is True
    with parcours.connect(store, read_only=True) as p:
        rows = p.sql(
            "SELECT score, count(*) AS n FROM customer_scores "
            "WHERE score IN ('health', 'health_rules') GROUP BY score ORDER BY score"
        ).to_pylist()
    assert rows == [{"score": "health", "n": everyone}, {"score": "health_rules", "n": everyone}]

    dates = ["--train-at", TRAIN_AT, "--test-at", TEST_AT, "--horizon", str(HORIZON)]
    back = run(
        "scores", "backtest", *dates, "--store", str(store), "--format", "json", cwd=tmp_path
    )
    assert back.returncode == 0, back.stderr
    figures = json.loads(back.stdout)
    assert (figures["test_customers"], figures["test_churned"]) == (tested, churned)
    assert figures["headline"].startswith(f"Health back-test (trained {TRAIN_AT}, tested {TEST_AT}")
    table = run("scores", "backtest", *dates, "--store", str(store), cwd=tmp_path, columns=80)
    assert table.returncode == 0, table.stderr
    assert f"{figures['learned']['auc']:.3f}" in table.stdout and "recency" in table.stdout

    leak = run(
        "scores",
        "backtest",
        "--train-at",
        TRAIN_AT,
        "--test-at",
        "2026-07-01",
        "--store",
        str(store),
        cwd=tmp_path,
    )
    assert leak.returncode == 2 and "would leak into training" in leak.stderr
    assert "test on 2026-07-31 or later" in leak.stderr  # 1 June + 60 days


def test_health_routes_on_a_real_server(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, _ = demo
    store = _copy(out, tmp_path)
    everyone, tested, churned = _plain_counts(store)
    # `parcours demo` computes every score: back to a store before its first health run.
    with parcours.connect(store) as p:
        p.store.engine.execute(
            "DELETE FROM customer_scores WHERE score IN ('health', 'health_rules')"
        )
    server = start_server(store, add_source(store))
    try:
        before = httpx.get(f"{server.url}/v1/scores/health", headers=ADMIN, timeout=60)
        assert before.status_code == 404, before.text
        assert "parcours scores health" in before.json()["fix"]
        computed = httpx.post(f"{server.url}/v1/scores/health", headers=ADMIN, timeout=120)
        assert computed.status_code == 200, computed.text
        assert computed.json()["customers"] == everyone
        riskiest = httpx.get(
            f"{server.url}/v1/scores/health", params={"top": 5}, headers=ADMIN, timeout=60
        )
        assert riskiest.status_code == 200, riskiest.text
        view = riskiest.json()
        assert sum(view["bands"].values()) == everyone and len(view["riskiest"]) == 5
        healths = [r["health"] for r in view["riskiest"]]
        assert healths == sorted(healths)
        back = httpx.get(
            f"{server.url}/v1/scores/backtest",
            params={"train_at": TRAIN_AT, "test_at": TEST_AT, "horizon_days": HORIZON},
            headers=ADMIN,
            timeout=120,
        )
        assert back.status_code == 200, back.text
        assert (back.json()["test_customers"], back.json()["test_churned"]) == (tested, churned)
        unauthorised = httpx.get(f"{server.url}/v1/scores/backtest", timeout=60)
        assert unauthorised.status_code == 401
    finally:
        server.stop()


@pytest.mark.parametrize("bad", ["not-a-date"])
def test_a_bad_date_is_refused_with_the_format(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path, bad: str
) -> None:
    out, _ = demo
    done = run(
        "scores",
        "backtest",
        "--test-at",
        bad,
        "--store",
        str(out / "parcours.duckdb"),
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "write test_at as YYYY-MM-DD" in done.stderr
