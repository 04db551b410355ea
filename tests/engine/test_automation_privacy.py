"""The anonymise and delete steps through the privacy service: what is left of the customer,
what the privacy log holds (no personal data), and that erasure reaches the later stations'
tables (store.customer_tables)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from automation_log import T0, customer, identify, message, publish, send_messages

import parcours
from parcours.automations.clock import SimulatedClock
from parcours.automations.runtime import Runtime
from parcours.store.customer_tables import CUSTOMER_KEYED_TABLES, IDENTITY_TABLES

DAY = dt.timedelta(days=1)


def _world(p: parcours.Parcours, tmp_path: Path, step: str, reason: str) -> None:
    """ann and bob, each with an email, a first name and two store orders; an automation
    entered by HTTP that plans a reminder and then does `step`."""
    publish(
        p,
        {
            "name": "inactive",
            "trigger": {"http": {}},
            "steps": [
                {
                    "id": "remind",
                    "send": {
                        "channel": "email",
                        "purpose": "marketing",
                        "subject": "We miss you",
                        "body": "...",
                    },
                },
                {"id": "last", step: {"reason": reason}},
            ],
        },
    )
    send_messages(
        p,
        tmp_path,
        [
            identify("ann", T0 - 9 * DAY, email="ann@x.com", first_name="Annabel"),
            identify("bob", T0 - 9 * DAY, email="bob@y.com", first_name="Robert"),
            *(
                message(u, T0 - k * DAY, "Order Completed", "store")
                for u in ("ann", "bob")
                for k in (8, 7)
            ),
        ],
    )


def _log(p: parcours.Parcours) -> list[dict[str, object]]:
    return p.store.engine.query("SELECT * FROM privacy_log ORDER BY carried_out_at").to_pylist()


def test_anonymise_keeps_behaviour_under_an_unlinkable_id(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """ann is anonymised: her email, user id and first name are gone from every table; her
    two orders remain, under a new customer id that no identifier of hers reaches; her
    instance went on under that id (anonymised, then the end); bob is untouched; the log
    entry (kind anonymisation, the rule's reason) holds counts, nothing of ann's."""
    _world(p, tmp_path, "anonymise", "inactive for 120 days")
    ann, bob = customer(p, "ann"), customer(p, "bob")
    runtime = Runtime(p.store, clock=SimulatedClock(T0))
    assert runtime.enter("inactive", f"SELECT '{ann}' AS customer_id") == 1
    engine = p.store.engine
    assert engine.scalar("SELECT count(*) FROM events WHERE user_id = 'ann'") == 0
    for value in ("ann@x.com", "Annabel", ann):
        hits = engine.scalar(
            "SELECT count(*) FROM events WHERE contains(CAST(identifiers AS VARCHAR), ?) "
            "OR contains(CAST(raw AS VARCHAR), ?) OR contains(CAST(properties AS VARCHAR), ?)",
            [value, value, value],
        )
        assert hits == 0, value
    for value in ("ann", "ann@x.com"):
        assert engine.scalar("SELECT count(*) FROM identity_map WHERE value = ?", [value]) == 0
    kept = engine.query(
        "SELECT customer_id, count(*) AS n FROM customer_events "
        "WHERE name = 'Order Completed' AND customer_id <> ? GROUP BY 1",
        [bob],
    ).to_pylist()
    assert len(kept) == 1 and kept[0]["n"] == 2
    new_id = kept[0]["customer_id"]
    assert new_id != ann
    assert engine.scalar("SELECT count(*) FROM customer_events WHERE customer_id = ?", [ann]) == 0
    instance = engine.query("SELECT * FROM automation_instances").to_pylist()
    assert [(i["customer_id"], i["state"], i["exit_reason"]) for i in instance] == [
        (new_id, "done", "end")
    ]
    outcomes = (
        engine.query(
            "SELECT outcome FROM automation_steps WHERE customer_id = ? ORDER BY happened_at, "
            "CASE outcome WHEN 'entered' THEN 0 WHEN 'planned' THEN 1 ELSE 2 END",
            [new_id],
        )
        .column(0)
        .to_pylist()
    )
    assert outcomes == ["entered", "planned", "anonymised"]
    assert engine.scalar("SELECT count(*) FROM identity_map WHERE customer_id = ?", [bob]) == 2
    (entry,) = _log(p)
    assert (entry["kind"], entry["reason"]) == ("anonymisation", "inactive for 120 days")
    written = json.dumps(entry, default=str)
    for value in ("ann@x.com", "Annabel", ann, new_id, '"ann"'):
        assert value not in written
    counts = json.loads(str(entry["counts"]))
    assert counts["traits"] == 1 and counts["identifiers"] == 2  # one identify; user id, email
    assert counts["events"] == 2  # the two orders, kept without identifiers


def test_delete_erases_the_customer_everywhere_with_their_automation_rows(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """bob is deleted by the step: nothing keyed by his customer id is left in any table of
    the schema (identity's and the later stations', automations included), his identifiers
    are suppressed; the log entry names counts per table (his instance, steps and send: 1, 2,
    1) and nothing of his."""
    _world(p, tmp_path, "delete", "asked by the customer")
    bob = customer(p, "bob")
    Runtime(p.store, clock=SimulatedClock(T0)).enter("inactive", f"SELECT '{bob}' AS customer_id")
    engine = p.store.engine
    for table in (*CUSTOMER_KEYED_TABLES, *IDENTITY_TABLES):
        left = engine.scalar(f"SELECT count(*) FROM {table} WHERE customer_id = ?", [bob])
        assert left == 0, table
    assert engine.scalar("SELECT count(*) FROM events WHERE user_id = 'bob'") == 0
    assert engine.scalar("SELECT count(*) FROM erased_identifiers") == 2
    (entry,) = _log(p)
    assert (entry["kind"], entry["reason"]) == ("erasure", "asked by the customer")
    counts = json.loads(str(entry["counts"]))
    assert (counts["automation_instances"], counts["automation_sends"]) == (1, 1)
    assert counts["automation_steps"] == 2  # entered, planned (the delete itself is not kept)
    written = json.dumps(entry, default=str)
    for value in ("bob@y.com", "Robert", bob):
        assert value not in written


def test_every_customer_keyed_table_is_registered(p: parcours.Parcours) -> None:
    """Every table of the schema with a customer_id column is identity's own or listed in
    store.customer_tables, so that erasure and anonymisation reach it."""
    tables = set(
        p.store.engine.query(
            "SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'customer_id' "
            "AND database_name = current_database() AND schema_name = 'main'"
        )
        .column(0)
        .to_pylist()
    )
    assert tables == set(CUSTOMER_KEYED_TABLES) | set(IDENTITY_TABLES)
