"""The person's rights: access (everything held about them), erasure (everywhere) and
anonymisation (an automation's inactivity rule: behaviour kept, the person gone).

Access and erasure start from any identifier (erasure also from a customer id) and act on
the whole resolved customer: every identifier, every event carrying one, quarantined records
that mention one, the identity graph's rows (map, links, matches, overrides), and the rows
later stations keep by customer id (segments, scores, automations: `store.customer_tables`,
so that identity imports none of them). Each leaves one row in `privacy_log` that holds no
personal data — an id to give the person, counts per table, the operator's reason — so the
store can prove it was done without keeping what was erased.

Erasure also puts the customer's identifiers on the suppression list (`store.suppression`:
salted hashes, never the values), in the same transaction: what is imported afterwards — an
old export again, or live messages the journal held when the erasure ran — is withheld at
import, quarantined as `erased`, rather than bringing the person back.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pyarrow as pa

from parcours.identity import graph
from parcours.identity.customers import customer_of, show_customer
from parcours.identity.rules import identity_rules
from parcours.sql import lit
from parcours.store import suppression
from parcours.store.customer_tables import CUSTOMER_KEYED_TABLES
from parcours.store.served import drop_snapshot
from parcours.store.store import Store

MIN_SEARCHABLE = 4
"""Quarantined raw records are searched for identifier values at least this long (a value of
two digits would match half the quarantine)."""


def _identifiers(store: Store, customer_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.engine.query(
        "SELECT type, value FROM identity_map WHERE customer_id = ?", [customer_id]
    ).to_pylist()
    return rows


def _events_sql(store: Store, customer_id: str) -> str:
    """The (source, event_id) of the events carrying any of the customer's identifiers.

    Found from the identifiers themselves rather than from `customer_events`, which holds
    what the last resolve saw: an event imported since must be found too."""
    events = graph.customer_events_query(identity_rules(store.settings), customer_id)
    return f"SELECT source, event_id FROM ({events})"


def _quarantine_sql(values: list[str]) -> str:
    # Raw records hold values as the source wrote them: `Jane@X.com` is jane@x.com.
    searchable = [v.lower() for v in values if len(v) >= MIN_SEARCHABLE]
    if not searchable:
        return "false"
    return " OR ".join(f"contains(lower(raw), {lit(v)})" for v in searchable)


def access(store: Store, kind: str, value: str) -> dict[str, Any]:
    """Everything held about the person: profile, identifiers, events, quarantine, identity."""
    customer = customer_of(store, kind, value)
    identifiers = _identifiers(store, customer)
    values = [i["value"] for i in identifiers]
    run = store.engine.query
    held = {
        "customer": show_customer(store, customer).to_dict(),
        "events": run(
            f"SELECT * FROM events WHERE (source, event_id) IN ({_events_sql(store, customer)}) "
            "ORDER BY occurred_at"
        ).to_pylist(),
        "quarantine": run(f"SELECT * FROM quarantine WHERE {_quarantine_sql(values)}").to_pylist(),
        "identity_links": run(
            "SELECT * FROM identity_links WHERE customer_id = ?", [customer]
        ).to_pylist(),
        "identity_overrides": run(
            "SELECT * FROM identity_overrides WHERE list_contains(?, left_value) "
            "OR list_contains(?, right_value)",
            [values, values],
        ).to_pylist(),
    }
    _log(store, "access", {k: len(v) if isinstance(v, list) else 1 for k, v in held.items()}, None)
    return held


def erase(store: Store, kind: str, value: str, *, reason: str) -> dict[str, Any]:
    """Remove the person everywhere; return the privacy log entry (no personal data in it)."""
    customer = customer_of(store, kind, value)
    values = [i["value"] for i in _identifiers(store, customer)]
    engine, request_id = store.engine, _request_id()
    with engine.transaction():
        engine.execute_script(
            f"CREATE OR REPLACE TEMP TABLE _erase_events AS {_events_sql(store, customer)}"
        )
        counts = {
            "erased_identifiers": suppression.suppress(
                engine,
                f"SELECT type, value FROM identity_map WHERE customer_id = {lit(customer)}",
                request_id,
            ),
            "events": engine.write(
                "DELETE FROM events WHERE (source, event_id) IN "
                "(SELECT source, event_id FROM _erase_events)"
            ),
            "customer_events": engine.write(
                "DELETE FROM customer_events WHERE customer_id = ?", [customer]
            ),
            "quarantine": engine.write(f"DELETE FROM quarantine WHERE {_quarantine_sql(values)}"),
            "identity_map": engine.write(
                "DELETE FROM identity_map WHERE customer_id = ?", [customer]
            ),
            "identity_links": engine.write(
                "DELETE FROM identity_links WHERE customer_id = ? OR list_contains(?, left_value) "
                "OR list_contains(?, right_value)",
                [customer, values, values],
            ),
            "identity_matches": engine.write(
                "DELETE FROM identity_matches WHERE list_contains(?, left_value) "
                "OR list_contains(?, right_value)",
                [values, values],
            ),
            "identity_overrides": engine.write(
                "DELETE FROM identity_overrides WHERE list_contains(?, left_value) "
                "OR list_contains(?, right_value) OR customer_before = ?",
                [values, values, customer],
            ),
            **_clear_later_stations(store, customer, None),
        }
        entry = _log(store, "erasure", counts, reason, request_id)
    # A server's snapshot for read commands still holds the person: made again when asked.
    drop_snapshot(store.settings.store)
    return entry


def _request_id() -> str:
    return uuid.uuid4().hex[:16]


def _log(
    store: Store,
    kind: str,
    counts: dict[str, int],
    reason: str | None,
    request_id: str | None = None,
) -> dict[str, Any]:
    entry = {
        "request_id": request_id or _request_id(),
        "kind": kind,
        "counts": counts,
        "reason": reason,
    }
    store.engine.execute(
        "INSERT INTO privacy_log VALUES (?, ?, now(), ?, ?)",
        [entry["request_id"], kind, json.dumps(counts), reason],
    )
    return entry


def erase_customer(store: Store, customer_id: str, *, reason: str) -> dict[str, Any]:
    """Erase a customer known by id (an automation's delete step), as `erase` does from one
    of their identifiers. Returns the log entry (no personal data)."""
    identifier = store.engine.query(
        "SELECT type, value FROM identity_map WHERE customer_id = ? ORDER BY type, value LIMIT 1",
        [customer_id],
    ).to_pylist()
    if identifier:
        return erase(store, identifier[0]["type"], identifier[0]["value"], reason=reason)
    with store.engine.transaction():  # gone from identity already: what remains elsewhere
        return _log(store, "erasure", _clear_later_stations(store, customer_id, None), reason)


def anonymise_customer(store: Store, customer_id: str, *, reason: str) -> dict[str, Any]:
    """Anonymise a customer (an inactivity rule's last step): their identifiers and the
    traits their identify events carried are deleted, free text is dropped, and their
    behaviour (what happened when, on which channel, amounts) is kept under a new random
    anonymous id no identifier links to, so that journeys and counts still hold. Their rows in
    later stations move to the new customer id. Logged (kind `anonymisation`) without personal
    data; returns the log entry, whose counts name the new id nowhere."""
    engine, request_id = store.engine, _request_id()
    anonymous = f"anon-{uuid.uuid4().hex}"
    new_id = f"c_{hashlib.md5(f'anonymous_id:{anonymous}'.encode()).hexdigest()[:16]}"
    with engine.transaction():
        engine.execute_script(
            f"CREATE OR REPLACE TEMP TABLE _anon_events AS {_events_sql(store, customer_id)}"
        )
        within = "(source, event_id) IN (SELECT source, event_id FROM _anon_events)"
        counts = {
            "traits": engine.write(f"DELETE FROM events WHERE type = 'identify' AND {within}"),
            "events": engine.write(
                "UPDATE events SET user_id = NULL, anonymous_id = ?, identifiers = NULL, "
                f"text = NULL, context = NULL, raw = NULL WHERE {within}",
                [anonymous],
            ),
        }
        engine.execute(
            "DELETE FROM customer_events WHERE customer_id = ? AND type = 'identify'",
            [customer_id],
        )
        engine.execute(
            "UPDATE customer_events SET customer_id = ?, customer_key = (hash(?) >> 1)::BIGINT, "
            "text = NULL WHERE customer_id = ?",
            [new_id, new_id, customer_id],
        )
        values = [i["value"] for i in _identifiers(store, customer_id)]
        counts["identifiers"] = engine.write(
            "DELETE FROM identity_map WHERE customer_id = ?", [customer_id]
        )
        _map_anonymous(store, new_id, anonymous)
        engine.execute(
            "DELETE FROM identity_links WHERE customer_id = ? OR list_contains(?, left_value) "
            "OR list_contains(?, right_value)",
            [customer_id, values, values],
        )
        counts.update(_clear_later_stations(store, customer_id, new_id))
        entry = _log(store, "anonymisation", counts, reason, request_id)
    drop_snapshot(store.settings.store)
    return entry


def anonymise_customers(
    store: Store, customer_ids: list[str], *, reason: str
) -> list[dict[str, Any]]:
    """`anonymise_customer` for many customers at once (an inactivity rule's group), in one
    transaction whose statements each read the store's events once, however many customers
    there are: per customer, one at a time, each would read them all again. Each customer
    gets their own new id and log entry, as one at a time. Returns the log entries."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    engine = store.engine
    who = [(c, f"anon-{uuid.uuid4().hex}") for c in ids]
    rows = [
        (c, a, f"c_{hashlib.md5(f'anonymous_id:{a}'.encode()).hexdigest()[:16]}") for c, a in who
    ]
    occurrences = graph.occurrences_query(identity_rules(store.settings))
    with engine.transaction():
        given = pa.table(
            {k: [r[i] for r in rows] for i, k in enumerate(("customer_id", "anonymous", "new_id"))}
        )
        with engine.registered("_anon_given", given) as name:
            engine.execute(f"CREATE OR REPLACE TEMP TABLE _anon_who AS SELECT * FROM {name}")
        engine.execute_script(
            f"""CREATE OR REPLACE TEMP TABLE _anon_events AS
                SELECT o.source, o.event_id, any_value(w.customer_id) AS customer_id,
                       any_value(w.anonymous) AS anonymous
                FROM ({occurrences}) o JOIN identity_map m USING (type, value)
                JOIN _anon_who w ON w.customer_id = m.customer_id
                GROUP BY o.source, o.event_id"""
        )
        counts: dict[str, dict[str, int]] = {c: {} for c in ids}
        for row in engine.query(
            """SELECT a.customer_id, count(*) FILTER (WHERE e.type = 'identify') AS traits,
                      count(*) FILTER (WHERE e.type <> 'identify') AS events
               FROM _anon_events a JOIN events e USING (source, event_id) GROUP BY ALL"""
        ).to_pylist():
            counts[row["customer_id"]].update(traits=row["traits"], events=row["events"])
        for row in engine.query(
            "SELECT customer_id, count(*) AS n FROM identity_map "
            "WHERE customer_id IN (SELECT customer_id FROM _anon_who) GROUP BY ALL"
        ).to_pylist():
            counts[row["customer_id"]]["identifiers"] = row["n"]
        for table in CUSTOMER_KEYED_TABLES:
            for row in engine.query(
                f"SELECT customer_id, count(*) AS n FROM {table} "
                "WHERE customer_id IN (SELECT customer_id FROM _anon_who) GROUP BY ALL"
            ).to_pylist():
                counts[row["customer_id"]][table] = row["n"]
        within = "(source, event_id) IN (SELECT source, event_id FROM _anon_events)"
        engine.execute(f"DELETE FROM events WHERE type = 'identify' AND {within}")
        engine.execute(
            "UPDATE events SET user_id = NULL, anonymous_id = a.anonymous, identifiers = NULL, "
            "text = NULL, context = NULL, raw = NULL FROM _anon_events a "
            "WHERE events.source = a.source AND events.event_id = a.event_id"
        )
        mine = "customer_id IN (SELECT customer_id FROM _anon_who)"
        engine.execute(f"DELETE FROM customer_events WHERE {mine} AND type = 'identify'")
        # Moved by a delete and an insert: an update of the indexed customer_id, joined to
        # thousands of customers, is one index change at a time (20 s for 4,000 customers
        # of the demo, against half a second).
        engine.execute(
            "CREATE OR REPLACE TEMP TABLE _anon_moved AS SELECT c.* REPLACE (w.new_id AS "
            "customer_id, (hash(w.new_id) >> 1)::BIGINT AS customer_key, NULL AS text) "
            "FROM customer_events c JOIN _anon_who w USING (customer_id)"
        )
        engine.execute(f"DELETE FROM customer_events WHERE {mine}")
        engine.execute("INSERT INTO customer_events BY NAME SELECT * FROM _anon_moved")
        engine.execute(
            "CREATE OR REPLACE TEMP TABLE _anon_values AS "
            f"SELECT DISTINCT value FROM identity_map WHERE {mine}"
        )
        engine.execute(f"DELETE FROM identity_map WHERE {mine}")
        engine.execute(
            "INSERT INTO identity_map BY NAME SELECT new_id AS customer_id, "
            "'anonymous_id' AS type, anonymous AS value FROM _anon_who"
        )
        engine.execute(
            f"DELETE FROM identity_links WHERE {mine} "
            "OR left_value IN (SELECT value FROM _anon_values) "
            "OR right_value IN (SELECT value FROM _anon_values)"
        )
        for table in CUSTOMER_KEYED_TABLES:
            engine.execute(
                f"UPDATE {table} SET customer_id = w.new_id FROM _anon_who w "
                f"WHERE {table}.customer_id = w.customer_id"
            )
        entries = []
        for customer in ids:
            found = counts[customer]
            kept = {
                "traits": found.get("traits", 0),
                "events": found.get("events", 0),
                "identifiers": found.get("identifiers", 0),
                **{table: found.get(table, 0) for table in CUSTOMER_KEYED_TABLES},
            }
            entries.append(
                {"request_id": _request_id(), "kind": "anonymisation", "counts": kept,
                 "reason": reason}
            )  # fmt: skip
        log = pa.table(
            {
                "request_id": [e["request_id"] for e in entries],
                "counts": [json.dumps(e["counts"]) for e in entries],
            }
        )
        with engine.registered("_anon_log", log) as name:
            engine.execute(
                f"INSERT INTO privacy_log SELECT request_id, 'anonymisation', now(), counts, ? "
                f"FROM {name}",
                [reason],
            )
        for table in ("_anon_who", "_anon_events", "_anon_values", "_anon_moved"):
            engine.execute(f"DROP TABLE {table}")
    drop_snapshot(store.settings.store)
    return entries


def _map_anonymous(store: Store, customer_id: str, anonymous: str) -> None:
    """The new anonymous id in the identity map, so that a later resolve keeps the kept
    behaviour together under the same customer."""
    columns = store.engine.query("SELECT * FROM identity_map LIMIT 0").column_names
    given = {"customer_id": lit(customer_id), "type": "'anonymous_id'", "value": lit(anonymous)}
    values = ", ".join(given.get(c, "NULL") for c in columns)
    store.engine.execute(f"INSERT INTO identity_map VALUES ({values})")


def _clear_later_stations(store: Store, customer_id: str, new_id: str | None) -> dict[str, int]:
    """Delete (`new_id` None) or re-key the customer's rows in later stations' tables."""
    counts: dict[str, int] = {}
    for table in CUSTOMER_KEYED_TABLES:
        if new_id is None:
            counts[table] = store.engine.write(
                f"DELETE FROM {table} WHERE customer_id = ?", [customer_id]
            )
        else:
            counts[table] = store.engine.write(
                f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", [new_id, customer_id]
            )
    return counts
