"""The single customer view's traits and consents, derived from the customer's records.

Traits are the properties of the customer's `identify` events (a CRM export row, an SDK's
`identify` call). Each trait's value is chosen by its survivorship rule, declared per trait in
the identity rules: `most_recent` (the latest record that has it), `most_frequent` (the value
most records give; the latest on a tie) or `most_trusted` (the most trusted source that has it,
then the latest). Nothing is stored: the profile is computed each time from the customer's
events (`customer_events`, which every resolve, merge, split and erasure keeps current), so a
change shows at once.

Consents are recorded as events — `Consent Given` / `Consent Withdrawn` with `channel` and
`purpose` properties (what a preference centre or an SDK sends) — and the latest per channel and
purpose stands. `consent_allows` is what orchestration asks before a send.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from parcours.identity import customer_events
from parcours.identity.rules import IdentityRules, identity_rules
from parcours.sql import lit
from parcours.store.store import Store

CONSENT_GIVEN, CONSENT_WITHDRAWN = "Consent Given", "Consent Withdrawn"
CONSENT_NAMES = (CONSENT_GIVEN, CONSENT_WITHDRAWN)
IDENTIFY = ("identify",)
"""The event types whose properties are traits."""


def survivors(records: list[dict[str, Any]], rules: IdentityRules) -> list[dict[str, Any]]:
    """One row per trait of `records` (a customer's events: type, properties, source,
    event_id, occurred_at): the surviving value, where it came from, and by which rule.

    A value is the property as text (numbers and nested values as their JSON); empty ones do
    not count. Each trait's rule orders its candidates: `most_frequent` by how many records
    give the value, `most_trusted` by the source's place in `trusted_sources` (others after),
    `most_recent` not at all; then the latest record first, then source and event id."""
    trust = {source: i for i, source in enumerate(rules.trusted_sources)}
    seen: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record["type"] not in IDENTIFY or not record["properties"]:
            continue
        for trait, raw in orjson.loads(record["properties"]).items():
            value = _text(raw)
            if value:
                seen.setdefault(trait, []).append({**record, "value": value})
    chosen = []
    for trait in sorted(seen):
        candidates = seen[trait]
        rule = rules.survivorship.get(trait, rules.default_survivorship)
        frequency = Counter(c["value"] for c in candidates)

        def rank(c: dict[str, Any], rule: str = rule, frequency: Counter[str] = frequency) -> Any:
            if rule == "most_frequent":
                first = -frequency[c["value"]]
            elif rule == "most_trusted":
                first = trust.get(c["source"], len(trust))
            else:
                first = 0
            return (first, -c["occurred_at"].timestamp(), c["source"], c["event_id"])

        best = min(candidates, key=rank)
        chosen.append(
            {
                "trait": trait,
                "value": best["value"],
                "rule": rule,
                "source": best["source"],
                "event_id": best["event_id"],
                "occurred_at": best["occurred_at"],
                "distinct_values": len(frequency),
            }
        )
    return chosen


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def consents_query(records: str) -> str:
    """`records` (a table, or a subquery in parentheses): the standing consent per channel
    and purpose, the latest decision."""
    return f"""
        SELECT json_extract_string(properties, '$.channel') AS channel,
               json_extract_string(properties, '$.purpose') AS purpose,
               arg_max(name = {lit(CONSENT_GIVEN)}, occurred_at) AS granted,
               max(occurred_at) AS decided_at,
               arg_max(source, occurred_at) AS source
        FROM {records} WHERE name IN ({lit(CONSENT_GIVEN)}, {lit(CONSENT_WITHDRAWN)})
        GROUP BY ALL ORDER BY channel, purpose
    """


def traits(store: Store, customer_id: str) -> list[dict[str, Any]]:
    records = store.engine.query(
        f"SELECT type, properties, source, event_id, occurred_at "
        f"FROM ({customer_events.of_customer(customer_id)}) WHERE type = 'identify'"
    ).to_pylist()
    return survivors(records, identity_rules(store.settings))


def traits_of_many(store: Store, customers: str) -> dict[str, dict[str, str]]:
    """Each customer's surviving traits (trait → value), for the customers `customers` (SQL
    selecting `customer_id`) at once: what a batch of messages or tasks is written from."""
    records = store.engine.query(
        "SELECT customer_id, type, properties, source, event_id, occurred_at "
        f"FROM customer_events WHERE customer_id IN ({customers}) AND type = 'identify'"
    ).to_pylist()
    per: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        per.setdefault(record["customer_id"], []).append(record)
    rules = identity_rules(store.settings)
    return {c: {t["trait"]: t["value"] for t in survivors(r, rules)} for c, r in per.items()}


def consents(store: Store, customer_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.engine.query(
        consents_query(f"({customer_events.of_customer(customer_id)})")
    ).to_pylist()
    return rows


def consent_allows(store: Store, customer_id: str, channel: str, purpose: str) -> bool:
    """Whether the customer's standing consent allows `purpose` on `channel` (no record: no)."""
    for consent in consents(store, customer_id):
        if consent["channel"] == channel and consent["purpose"] == purpose:
            return bool(consent["granted"])
    return False
