"""The person's rights: access (everything held about them) and erasure (everywhere).

Both start from any identifier and act on the whole resolved customer: every identifier,
every event carrying one, quarantined records that mention one, the identity graph's rows
(map, links, matches, overrides). Erasure leaves one row in `privacy_log` that holds no
personal data — an id to give the person, counts per table, the operator's reason — so the
store can prove it was done without keeping what was erased.

Erasure also puts the customer's identifiers on the suppression list (`store.suppression`:
salted hashes, never the values), in the same transaction: what is imported afterwards — an
old export again, or live messages the journal held when the erasure ran — is withheld at
import, quarantined as `erased`, rather than bringing the person back.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from parcours.identity import graph
from parcours.identity.customers import customer_of, show_customer
from parcours.identity.rules import identity_rules
from parcours.sql import lit
from parcours.store import suppression
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
