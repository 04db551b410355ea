"""The demo's automations against the world's truth: `parcours demo` runs the shipped welcome
and inactivity automations over the world's last two months in simulated time, on a copy of
its store (`automations.duckdb`), sending email into an SMTP server on loopback
(demo/automations.py); what they must find is planted in the world (demo/marketing.py).

Customers are compared with the truth on those identity resolution got exactly right
(demo_world.exactly_resolved, on the demo's own store, which the automations leave alone): a
customer split in two is two customers to an automation as to any analysis.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from demo_world import exactly_resolved, truth_rows

import parcours
from parcours.sql import lit

Demo = tuple[Path, dict[str, Any]]


def automations_store(out: Path) -> duckdb.DuckDBPyConnection:
    """The automations' copy, read only, with the demo's own store attached as `world`."""
    con = duckdb.connect(str(out / "automations.duckdb"), read_only=True)
    con.execute(f"ATTACH {lit(str(out / 'parcours.duckdb'))} AS world (READ_ONLY)")
    return con


@pytest.fixture(scope="module")
def exact(demo: Demo) -> dict[str, str]:
    out, _ = demo
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        return exactly_resolved(p, out)


def test_the_inactivity_automation_anonymises_exactly_the_customers_who_stayed_inactive(
    demo: Demo, exact: dict[str, str]
) -> None:
    """Truth customers.csv `stays_inactive`: no visit from 90 days before the automation's
    first run (2026-09-01 09:00 UTC) and no click in an email after it, to the world's end
    (demo/marketing.py). An anonymised customer's events live on under a new id: each is
    traced back to the demo's store's customer by its events' (source, event_id)."""
    out, _ = demo
    with automations_store(out) as con:
        anonymised = {
            row[0]
            for row in con.execute(
                """
                WITH a AS (SELECT DISTINCT customer_id FROM automation_steps
                           WHERE automation = 'inactivity' AND outcome = 'anonymised')
                SELECT DISTINCT w.customer_id
                FROM a JOIN customer_events c USING (customer_id)
                JOIN world.customer_events w USING (source, event_id)
                UNION  -- a history row written under the id before the anonymisation
                SELECT customer_id FROM a
                WHERE customer_id IN (SELECT customer_id FROM world.customer_events)
                """
            ).fetchall()
        }
        still_known = con.execute(
            "SELECT count(*) FROM identity_map WHERE customer_id IN (SELECT unnest(?))",
            [sorted(anonymised)],
        ).fetchone()
    truth = {r["customer_id"]: r for r in truth_rows(out, "customers.csv")}
    expected = {t for t in exact.values() if truth[t]["stays_inactive"] == "1"}
    found = {exact[c] for c in anonymised if c in exact}
    assert expected, "the tests' world plants customers who stay inactive"
    assert found == expected
    assert still_known == (0,)  # their identifiers are gone from the copy's identity map


def test_each_anonymisation_is_logged_without_personal_data(demo: Demo) -> None:
    out, _ = demo
    with automations_store(out) as con:
        log = con.execute(
            "SELECT counts, reason FROM privacy_log WHERE kind = 'anonymisation'"
        ).fetchall()
        anonymised = con.execute(
            "SELECT count(*) FROM automation_steps WHERE automation = 'inactivity' "
            "AND outcome = 'anonymised'"
        ).fetchone()
    assert anonymised is not None and len(log) == anonymised[0] > 0
    people = truth_rows(out, "customers.csv")
    written = json.dumps(log)
    emails = {r["value"] for r in truth_rows(out, "identifiers.csv") if r["type"] == "email"}
    assert not any(e in written for e in emails)
    assert not any(f'"{r["last_name"]}' in written for r in people)
    assert all("inactive" in reason for _, reason in log)


def test_every_sign_up_enters_the_welcome_once_and_only_consent_and_a_name_get_mail(
    demo: Demo,
) -> None:
    """Truth signups.csv: each sign-up of the drive, with whether it gave consent and a first
    name. A treated sign-up with both is sent the welcome; without consent it is held for
    consent, without a first name for the missing trait, never sent "Hello ,"."""
    out, report = demo
    signups = {r["email"]: r for r in truth_rows(out, "signups.csv")}
    with automations_store(out) as con:
        rows = con.execute(
            """
            SELECT m.value AS email, i.arm, s.state, s.reason
            FROM automation_instances i
            JOIN world.identity_map m ON m.customer_id = i.customer_id AND m.type = 'email'
            LEFT JOIN automation_sends s
              ON s.instance_id = i.instance_id AND s.step = 'hello'
            WHERE i.automation = 'welcome'
            """
        ).fetchall()
        sent = con.execute("SELECT count(*) FROM automation_sends WHERE state = 'sent'").fetchone()
    entered = {email for email, *_ in rows}
    assert len(rows) == len(entered) == len(signups) and entered == set(signups)
    for email, arm, state, reason in rows:
        truth = signups[email]
        if arm == "holdout":
            assert state is None  # held out: nothing planned
        elif truth["consent"] == "0":
            assert state == "held" and "consent" in reason
        elif truth["first_name_given"] == "0":
            assert state == "held" and "first_name" in reason
        else:
            assert state == "sent"
    # Every message the ledger says was sent arrived at the SMTP server, once.
    assert sent is not None and report["automations"]["emails"] == sent[0] > 0


def test_the_welcome_brings_the_orders_of_its_responders_and_the_report_says_its_uplift(
    demo: Demo,
) -> None:
    """Truth signups.csv `responder`: a sign-up the welcome brings to order, once it arrives.
    The orders it brought are those of the treated responders who were sent it; the report
    shows the welcome's and the inactivity's sections."""
    out, report = demo
    responders = {r["email"] for r in truth_rows(out, "signups.csv") if r["responder"] == "1"}
    with automations_store(out) as con:
        welcomed = {
            row[0]
            for row in con.execute(
                """
                SELECT m.value FROM automation_sends s
                JOIN world.identity_map m ON m.customer_id = s.customer_id AND m.type = 'email'
                WHERE s.automation = 'welcome' AND s.step = 'hello' AND s.state = 'sent'
                """
            ).fetchall()
        }
    run = report["automations"]
    assert run["responses"] == len(responders & welcomed)
    welcome = run["uplift"]["welcome"]
    assert welcome["entered"] == len(truth_rows(out, "signups.csv"))
    assert welcome["treated"]["converted"] >= run["responses"]
    page = Path(report["report"]).read_text(encoding="utf-8")
    assert 'id="automation-welcome"' in page and 'id="automation-inactivity"' in page
    assert "The welcome automation" in page


def test_the_truths_inactive_customers_are_those_the_stores_events_show_inactive(
    demo: Demo, exact: dict[str, str]
) -> None:
    """The label the inactivity test checks against, read back from the demo's store: no
    event on a visit channel since 2026-06-03 09:00 UTC (90 days before the automation's first
    run), none ever after it, and no click in an email after 2026-09-01 09:00 UTC."""
    out, _ = demo
    expected = json.loads((out / "truth" / "expected.json").read_text())["automations"]
    since, entry = expected["inactivity"]["no_visit_since"], expected["inactivity"]["entry"]
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        rows = p.sql(
            f"""
            SELECT customer_id,
                   max(occurred_at) FILTER (WHERE channel IN
                       ('web', 'app', 'store', 'call', 'chat', 'video', 'social')) AS last_visit,
                   coalesce(max(occurred_at) FILTER (WHERE name = 'Email Clicked')
                            > TIMESTAMPTZ {lit(entry)}, false) AS clicked_after
            FROM customer_events GROUP BY customer_id
            """
        ).to_pylist()
    truth = {r["customer_id"]: r["stays_inactive"] == "1" for r in truth_rows(out, "customers.csv")}
    limit = dt.datetime.fromisoformat(since)
    judged = [r for r in rows if r["customer_id"] in exact]
    assert judged
    for r in judged:
        quiet = r["last_visit"] is not None and r["last_visit"] < limit and not r["clicked_after"]
        assert quiet == truth[exact[r["customer_id"]]], r
