"""The first look at a store: what is in it, from where, and what was refused.

Each figure is a pure query builder; `store_stats` runs them and returns plain data whose
dict form is the stable JSON of `parcours stats --format json`.
"""

from __future__ import annotations

from typing import Any

from parcours.store.store import Store

IDENTIFIER_VALUES = """
    SELECT 'anonymous_id' AS type, anonymous_id AS value FROM events WHERE anonymous_id IS NOT NULL
    UNION ALL SELECT 'user_id', user_id FROM events WHERE user_id IS NOT NULL
    UNION ALL SELECT i.type, i.value FROM (SELECT unnest(identifiers) AS i FROM events)
"""


def totals_query() -> str:
    return (
        "SELECT count(*) AS events, count(DISTINCT source) AS sources, "
        "min(occurred_at) AS first_occurred_at, max(occurred_at) AS last_occurred_at, "
        "(SELECT count(*) FROM quarantine WHERE status = 'open') AS quarantined FROM events"
    )


def by_column_query(column: str) -> str:
    """Events counted by a column of `events` (a name from the schema, never user input)."""
    return (
        f"SELECT {column}, count(*) AS events FROM events "
        f"GROUP BY ALL ORDER BY events DESC, {column}"
    )


def by_day_query() -> str:
    return (
        "SELECT CAST(occurred_at AS DATE) AS day, count(*) AS events FROM events "
        "GROUP BY ALL ORDER BY day"
    )


def identifiers_query() -> str:
    return (
        f"SELECT type, count(DISTINCT value) AS distinct_values, count(*) AS occurrences "
        f"FROM ({IDENTIFIER_VALUES}) GROUP BY ALL ORDER BY distinct_values DESC, type"
    )


def quarantine_query() -> str:
    return (
        "SELECT source, reason_code, count(*) AS records FROM quarantine WHERE status = 'open' "
        "GROUP BY ALL ORDER BY records DESC, source, reason_code"
    )


def store_stats(store: Store) -> dict[str, Any]:
    """Everything `parcours stats` shows, as plain data."""
    run = store.engine.query
    totals = run(totals_query()).to_pylist()[0]
    return {
        "store": str(store.settings.store),
        "totals": totals,
        "by_channel": run(by_column_query("channel")).to_pylist(),
        "by_type": run(by_column_query("type")).to_pylist(),
        "by_source": run(by_column_query("source")).to_pylist(),
        "by_day": run(by_day_query()).to_pylist(),
        "identifiers": run(identifiers_query()).to_pylist(),
        "quarantine": run(quarantine_query()).to_pylist(),
    }
