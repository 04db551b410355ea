"""The single customer view's traits and consents, derived from the customer's records.

Traits are the properties of the customer's `identify` events (a CRM export row, an SDK's
`identify` call). Each trait's value is chosen by its survivorship rule, declared per trait in
the identity rules: `most_recent` (the latest record that has it), `most_frequent` (the value
most records give; the latest on a tie) or `most_trusted` (the most trusted source that has it,
then the latest). Nothing is copied: the profile is computed from the records each time, so a
merge, a split or an erasure shows at once.

Consents are recorded as events — `Consent Given` / `Consent Withdrawn` with `channel` and
`purpose` properties (what a preference centre or an SDK sends) — and the latest per channel and
purpose stands. `consent_allows` is what orchestration asks before a send.
"""

from __future__ import annotations

from typing import Any

from parcours.identity import customer_events
from parcours.identity.rules import IdentityRules
from parcours.sql import lit
from parcours.store.store import Store

CONSENT_GIVEN, CONSENT_WITHDRAWN = "Consent Given", "Consent Withdrawn"
CONSENT_NAMES = (CONSENT_GIVEN, CONSENT_WITHDRAWN)
IDENTIFY = ("identify",)
"""The event types whose properties are traits."""


def traits_query(records: str, rules: IdentityRules) -> str:
    """One row per trait of `records` (a table, or a subquery in parentheses): the surviving
    value, where it came from, and by which rule."""
    trusted = " ".join(f"WHEN {lit(s)} THEN {i}" for i, s in enumerate(rules.trusted_sources))
    trust = f"CASE source {trusted} ELSE {len(rules.trusted_sources)} END" if trusted else "0"
    chosen = " ".join(f"WHEN {lit(t)} THEN {lit(r)}" for t, r in rules.survivorship.items())
    rule = (
        f"CASE trait {chosen} ELSE {lit(rules.default_survivorship)} END"
        if chosen
        else lit(rules.default_survivorship)
    )
    return f"""
        WITH t AS (
            SELECT source, event_id, occurred_at, k.key AS trait,
                   json_extract_string(properties, '$."' || replace(k.key, '"', '\\"') || '"')
                       AS value
            FROM {records} r, LATERAL (SELECT unnest(json_keys(properties)) AS key) k
            WHERE r.type = 'identify' AND properties IS NOT NULL
        ),
        scored AS (
            SELECT *, {rule} AS rule, {trust} AS trust,
                   count(*) OVER (PARTITION BY trait, value) AS frequency,
                   count(DISTINCT value) OVER (PARTITION BY trait) AS distinct_values
            FROM t WHERE value IS NOT NULL AND value <> ''
        )
        SELECT trait, value, rule, source, event_id, occurred_at, distinct_values
        FROM scored
        QUALIFY row_number() OVER (PARTITION BY trait ORDER BY
            CASE rule WHEN 'most_frequent' THEN -frequency
                      WHEN 'most_trusted' THEN trust ELSE 0 END,
            occurred_at DESC, source, event_id) = 1
        ORDER BY trait
    """


def consents_query(records: str) -> str:
    """`records` as in `traits_query`: the standing consent per channel and purpose, the
    latest decision."""
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
    rows: list[dict[str, Any]] = store.engine.query(
        traits_query(f"({customer_events.of_customer(customer_id)})", store.settings.identity)
    ).to_pylist()
    return rows


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
