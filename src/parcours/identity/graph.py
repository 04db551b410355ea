"""The identity graph as pure SQL: identifiers are nodes, co-occurrence on an event is an edge.

Events are never rewritten: these builders read `events` and produce the nodes and edges that
`resolve` unites. Each event links every identifier on it to its most trusted one (a star,
k − 1 edges for k identifiers, rather than all k² pairs), which keeps the same components.
"""

from __future__ import annotations

from parcours.identity.rules import IdentityRules
from parcours.sql import lit


def rank_sql(rules: IdentityRules) -> str:
    """SQL for an identifier's rank (0 is the most trusted type), over a column `type`."""
    cases = " ".join(f"WHEN {lit(kind)} THEN {i}" for i, kind in enumerate(rules.priority))
    return f"CASE type {cases} ELSE {len(rules.priority)} END"


def _blocked(rules: IdentityRules) -> str:
    if not rules.blocked:
        return "false"
    pattern = "|".join(f"(?:{p})" for p in rules.blocked)
    return f"regexp_full_match(lower(value), {lit(pattern)})"


def occurrences_query(rules: IdentityRules) -> str:
    """Every (event, identifier) pair with the identifier's rank; blocked values left out."""
    return f"""
        SELECT source, event_id, occurred_at, type, value, {rank_sql(rules)} AS rank FROM (
            SELECT source, event_id, occurred_at, 'anonymous_id' AS type, anonymous_id AS value
            FROM events WHERE anonymous_id IS NOT NULL
            UNION ALL
            SELECT source, event_id, occurred_at, 'user_id', user_id
            FROM events WHERE user_id IS NOT NULL
            UNION ALL
            SELECT source, event_id, occurred_at, i.type, i.value
            FROM (SELECT source, event_id, occurred_at, unnest(identifiers) AS i FROM events)
        ) WHERE value <> '' AND NOT {_blocked(rules)}
    """


def scoped_occurrences_query(occurrences: str, scope: str) -> str:
    """`occurrences` of the events that carry at least one identifier of `scope` (type, value)."""
    return f"""
        SELECT * FROM ({occurrences}) WHERE (source, event_id) IN (
            SELECT source, event_id FROM ({occurrences}) WHERE (type, value) IN (
                SELECT type, value FROM {scope}))
    """


def grow_scope_query(occurrences: str, scope: str) -> str:
    """The scope's closure step: its identifiers, those on the events that carry one, and
    every identifier of the customers they belong to."""
    return f"""
        SELECT type, value FROM {scope}
        UNION SELECT type, value FROM ({scoped_occurrences_query(occurrences, scope)})
        UNION SELECT m.type, m.value FROM identity_map m WHERE m.customer_id IN (
            SELECT customer_id FROM identity_map WHERE (type, value) IN (
                SELECT type, value FROM {scope}))
    """


def customer_events_query(rules: IdentityRules, customer_id: str) -> str:
    """The events carrying any of the customer's identifiers: the customer's history."""
    return (
        "SELECT * FROM events WHERE (source, event_id) IN ("
        f"SELECT o.source, o.event_id FROM ({occurrences_query(rules)}) o "
        f"JOIN identity_map m USING (type, value) WHERE m.customer_id = {lit(customer_id)})"
    )


def blocked_query(rules: IdentityRules) -> str:
    """The blocked values that occur, with how often: what the rules kept from linking."""
    return f"""
        SELECT type, value, count(*) AS events FROM (
            SELECT 'anonymous_id' AS type, anonymous_id AS value FROM events
            UNION ALL SELECT 'user_id', user_id FROM events
            UNION ALL SELECT i.type, i.value FROM (SELECT unnest(identifiers) AS i FROM events)
        ) WHERE value IS NOT NULL AND (value = '' OR {_blocked(rules)}) GROUP BY ALL
    """


def nodes_query(occurrences: str) -> str:
    """Distinct identifiers numbered 0.. by trust (rank), then type and value: stable ids."""
    return f"""
        SELECT type, value, rank,
               (row_number() OVER (ORDER BY rank, type, value) - 1)::BIGINT AS node,
               min(occurred_at) AS first_seen, max(occurred_at) AS last_seen,
               count(*) AS events
        FROM ({occurrences}) GROUP BY type, value, rank
    """


def edges_query(occurrences: str, nodes: str, match_threshold: float) -> str:
    """The edges to unite, in the order they are united (`position`).

    First the deterministic ones: star edges from each event's most trusted identifier to its
    others, with evidence (the first event that showed them together, and how many did), the
    most trusted identifiers' first. Then the probabilistic matches at or above the threshold,
    strongest first: deterministic links always win over probabilistic ones. Before all of
    them, the merges a user forced (`kind` -1), which no rule refuses.
    """
    return f"""
        WITH o AS (
            SELECT o.source, o.event_id, o.occurred_at, n.node, n.rank,
                   row_number() OVER (PARTITION BY o.source, o.event_id ORDER BY n.node) AS pos
            FROM ({occurrences}) o JOIN ({nodes}) n USING (type, value)
        ),
        seen AS (
            SELECT 0 AS kind, a.node AS left_node, b.node AS right_node, count(*) AS events,
                   min(b.occurred_at) AS first_seen,
                   arg_min(b.source, b.occurred_at) AS source,
                   arg_min(b.event_id, b.occurred_at) AS event_id,
                   NULL::DOUBLE AS match_weight, NULL::JSON AS evidence
            FROM o a JOIN o b ON a.source = b.source AND a.event_id = b.event_id
            WHERE a.pos = 1 AND b.pos > 1 AND a.node <> b.node
            GROUP BY a.node, b.node
        ),
        matched AS (
            SELECT 1 AS kind, l.node AS left_node, r.node AS right_node, NULL::BIGINT AS events,
                   NULL::TIMESTAMPTZ AS first_seen, 'identity_matches' AS source,
                   m.run_id AS event_id, m.match_weight, m.evidence
            FROM identity_matches m
            JOIN ({nodes}) l ON l.type = m.left_type AND l.value = m.left_value
            JOIN ({nodes}) r ON r.type = m.right_type AND r.value = m.right_value
            WHERE m.probability >= {float(match_threshold)!r} AND l.node <> r.node
        ),
        forced AS (
            SELECT -1 AS kind, l.node AS left_node, r.node AS right_node, NULL::BIGINT AS events,
                   f.created_at AS first_seen, 'identity_overrides' AS source,
                   f.override_id AS event_id, NULL::DOUBLE AS match_weight, NULL::JSON AS evidence
            FROM identity_overrides f
            JOIN ({nodes}) l ON l.type = f.left_type AND l.value = f.left_value
            JOIN ({nodes}) r ON r.type = f.right_type AND r.value = f.right_value
            WHERE f.kind = 'merge' AND l.node <> r.node
        )
        SELECT *, (row_number() OVER (
                      ORDER BY kind, left_node, first_seen, -match_weight, right_node) - 1
                  )::BIGINT AS position
        FROM (SELECT * FROM forced UNION ALL SELECT * FROM seen UNION ALL SELECT * FROM matched)
    """


def shared_query(occurrences: str, nodes: str, rules: IdentityRules) -> str:
    """Nodes of a shared type seen on events with two or more different user ids."""
    if not rules.shared_types:
        return "SELECT NULL::BIGINT AS node WHERE false"
    kinds = ", ".join(lit(k) for k in rules.shared_types)
    return f"""
        SELECT n.node FROM ({occurrences}) x
        JOIN ({occurrences}) u ON u.source = x.source AND u.event_id = x.event_id
                              AND u.type = 'user_id'
        JOIN ({nodes}) n ON n.type = x.type AND n.value = x.value
        WHERE x.type IN ({kinds})
        GROUP BY n.node HAVING count(DISTINCT u.value) >= 2
    """


def splits_query(nodes: str) -> str:
    """Pairs of nodes a user split: never in one customer."""
    return f"""
        SELECT l.node AS left_node, r.node AS right_node FROM identity_overrides f
        JOIN ({nodes}) l ON l.type = f.left_type AND l.value = f.left_value
        JOIN ({nodes}) r ON r.type = f.right_type AND r.value = f.right_value
        WHERE f.kind = 'split'
    """
