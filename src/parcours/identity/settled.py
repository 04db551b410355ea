"""New events that teach the graph nothing, placed without it.

Most live events change no link: a page view of a visitor not logged in carries one
identifier; a logged-in visitor's carries a user id and a cookie linked long ago. The graph's
edges, their order and so its refusals stay as they were, so re-resolving their part would
only count them. `place_settled` places them (`identity.resolve.resolve_new` calls it first
and resolves the rest through the graph):

- an event with one identifier: the identifier's customer (`identity_map`); an identifier
  never seen becomes a customer of its own, named as the graph names an anchor — provided
  every new event it is on carries it alone, and no forced merge, split or probabilistic
  match names it;
- an event with several: when each of its star edges (its most trusted identifier to each
  other one, as `graph.edges_query` draws them) is a link already made (`identity_links`,
  `linked`) first seen before the event — so the union order, which follows first sightings,
  cannot change;
- an event with no identifier that links: no customer, as through the graph.

What the graph would count is counted: each identifier's events, first and last seen, and
each link's events. Only events not placed before count, so placing an event again (a
resolve asked twice for the same events) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from parcours.identity import customer_events
from parcours.store.store import Store

EVENTS = "_identity_settled_events"
KNOWN, STARS = "_identity_settled_known", "_identity_settled_stars"
NEW = "_identity_settled_new"
PLACED, UNPLACED = "_identity_settled_placed", "_identity_settled_unplaced"
OWNERS, SEEN = "_identity_settled_owners", "_identity_settled_seen"
NAMED = (
    "SELECT left_type AS type, left_value AS value FROM identity_overrides "
    "UNION ALL SELECT right_type, right_value FROM identity_overrides "
    "UNION ALL SELECT left_type, left_value FROM identity_matches "
    "UNION ALL SELECT right_type, right_value FROM identity_matches"
)
"""Identifiers a forced merge or split, or a probabilistic match, names."""
NEW_CUSTOMER = "'c_' || left(md5(type || ':' || value), 16)"
"""A new identifier's customer: named from it, as the graph names a customer from its anchor
(`identity.resolve._name`)."""
BEST = "min({'rank': o.rank, 'type': o.type, 'value': o.value})"
"""An event's most trusted identifier — lowest rank, then type and value: where its star
edges start (`graph.edges_query`)."""


@dataclass(frozen=True)
class Placed:
    events: int = 0
    identifiers: int = 0
    customers: int = 0
    """The customers they belong to (an identifier never seen: a customer of its own)."""


def _steps(scope: str, occurrences: str) -> dict[str, str]:
    return {
        # Each identifier with its customer, if it has one yet.
        KNOWN: f"""
            SELECT o.*, m.customer_id, m.rowid AS map_row FROM {occurrences} o
            LEFT JOIN identity_map m USING (type, value)
        """,
        # Each event: how many identifiers, its most trusted one, whether all are known.
        EVENTS: f"""
            SELECT o.source, o.event_id, any_value(o.occurred_at) AS occurred_at,
                   count(DISTINCT (o.type, o.value)) AS identifiers,
                   {BEST} AS best,
                   count(o.customer_id) = count(*) AS known
            FROM {KNOWN} o GROUP BY o.source, o.event_id
        """,
        # The star edges of events with several identifiers, and whether each is a link made
        # before the event.
        STARS: f"""
            SELECT o.source, o.event_id, l.rowid AS link_row FROM {KNOWN} o
            JOIN {EVENTS} e USING (source, event_id)
            LEFT JOIN identity_links l
                ON l.left_type = e.best.type AND l.left_value = e.best.value
                AND l.right_type = o.type AND l.right_value = o.value
                AND l.decision = 'linked' AND l.first_seen < e.occurred_at
            WHERE e.identifiers > 1 AND (o.type, o.value) <> (e.best.type, e.best.value)
        """,
        # Identifiers never seen, each alone on every event it is on, that no decision names.
        NEW: f"""
            SELECT o.type, o.value FROM {KNOWN} o JOIN {EVENTS} e USING (source, event_id)
            WHERE NOT e.known GROUP BY o.type, o.value HAVING max(e.identifiers) = 1
            EXCEPT {NAMED}
        """,
        PLACED: f"""
            SELECT * FROM {scope} WHERE (source, event_id) IN (
                SELECT source, event_id FROM {EVENTS} e
                WHERE (e.identifiers = 1 AND (e.known OR (e.best.type, e.best.value) IN (
                          SELECT type, value FROM {NEW})))
                   OR (e.identifiers > 1 AND e.known AND NOT EXISTS (
                          SELECT 1 FROM {STARS} s WHERE s.source = e.source
                          AND s.event_id = e.event_id AND s.link_row IS NULL))
                UNION ALL (
                    SELECT source, event_id FROM {scope}
                    EXCEPT SELECT source, event_id FROM {KNOWN}))
        """,
        # Those the graph has not counted yet.
        UNPLACED: f"""
            SELECT source, event_id FROM {PLACED}
            EXCEPT SELECT source, event_id FROM customer_events
            WHERE (source, event_id) IN (SELECT source, event_id FROM {PLACED})
        """,
    }


def place_settled(store: Store, scope: str, occurrences: str) -> Placed:
    """Place the events of `scope` (a table of `event_row, source, event_id`) that change
    no link, and take them out of `scope`. `occurrences`: a table of the scope's (event,
    identifier) pairs (`graph.occurrences_query`). Runs in the caller's transaction."""
    engine = store.engine
    steps = _steps(scope, occurrences)
    try:
        for table, query in steps.items():
            engine.execute_script(f"CREATE OR REPLACE TEMP TABLE {table} AS {query}")
        events = engine.scalar(f"SELECT count(*) FROM {PLACED}")
        if not events:
            return Placed()
        _count(store)
        engine.execute_script(
            f"CREATE OR REPLACE TEMP TABLE {OWNERS} AS SELECT DISTINCT type, value, "
            f"coalesce(customer_id, {NEW_CUSTOMER}) AS customer_id FROM {KNOWN} "
            f"WHERE (source, event_id) IN (SELECT source, event_id FROM {PLACED})"
        )
        # Their customers for the join: a few rows rather than the whole map.
        customer_events.refresh(store, PLACED, OWNERS)
        engine.execute_script(
            f"DELETE FROM {scope} WHERE event_row IN (SELECT event_row FROM {PLACED})"
        )
        counts = engine.query(
            f"SELECT count(*) AS identifiers, count(DISTINCT customer_id) AS customers "
            f"FROM {OWNERS}"
        ).to_pylist()[0]
        return Placed(events, **counts)
    finally:
        for table in (*steps, OWNERS):
            engine.execute_script(f"DROP TABLE IF EXISTS {table}")


def _count(store: Store) -> None:
    """What the graph would count of the events not placed before: each identifier's events
    and first and last sightings (a new identifier's row), each link's events."""
    seen = f"""
        SELECT type, value, any_value(map_row) AS map_row, min(occurred_at) AS first_seen,
               max(occurred_at) AS last_seen, count(*) AS events
        FROM {KNOWN} WHERE (source, event_id) IN (SELECT source, event_id FROM {UNPLACED})
        GROUP BY type, value
    """
    linked = f"""
        SELECT link_row, count(*) AS events FROM {STARS}
        WHERE (source, event_id) IN (SELECT source, event_id FROM {UNPLACED}) GROUP BY link_row
    """
    store.engine.execute_script(
        f"""
        CREATE OR REPLACE TEMP TABLE {SEEN} AS {seen};
        -- By row id (read in this transaction): the map's rows, not the whole map, are read.
        UPDATE identity_map m SET first_seen = least(m.first_seen, s.first_seen),
            last_seen = greatest(m.last_seen, s.last_seen), events = m.events + s.events
        FROM {SEEN} s WHERE m.rowid = s.map_row
            AND m.rowid IN (SELECT map_row FROM {SEEN} WHERE map_row IS NOT NULL);
        INSERT INTO identity_map
        SELECT type, value, {NEW_CUSTOMER}, first_seen, last_seen, events FROM {SEEN}
        WHERE map_row IS NULL AND (type, value) IN (SELECT type, value FROM {NEW})
        ORDER BY value;
        DROP TABLE {SEEN};
        CREATE OR REPLACE TEMP TABLE {SEEN} AS {linked};
        UPDATE identity_links l SET events = l.events + s.events FROM {SEEN} s
        WHERE l.rowid = s.link_row AND l.rowid IN (SELECT link_row FROM {SEEN});
        DROP TABLE {SEEN};
        """
    )
