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


def _identifiers_on_events(rules: IdentityRules, columns: dict[str, str]) -> str:
    """One row per identifier on an event: the event's `columns` (name: expression over
    `events`), then type, value and rank; empty and blocked values left out."""
    inner = ", ".join(f"{expression} AS {name}" for name, expression in columns.items())
    outer = ", ".join(columns)
    return f"""
        SELECT {outer}, type, value, {rank_sql(rules)} AS rank FROM (
            SELECT {inner}, 'anonymous_id' AS type, anonymous_id AS value
            FROM events WHERE anonymous_id IS NOT NULL
            UNION ALL
            SELECT {inner}, 'user_id', user_id
            FROM events WHERE user_id IS NOT NULL
            UNION ALL
            SELECT {outer}, i.type, i.value
            FROM (SELECT {inner}, unnest(identifiers) AS i FROM events)
        ) WHERE value <> '' AND NOT {_blocked(rules)}
    """


def occurrences_query(rules: IdentityRules) -> str:
    """Every (event, identifier) pair with the identifier's rank; blocked values left out."""
    return _identifiers_on_events(
        rules, {"source": "source", "event_id": "event_id", "occurred_at": "occurred_at"}
    )


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


def key_sql(salt: int) -> str:
    """SQL for an identifier's key, over columns `type` and `value`: a 64-bit hash that stands
    for the identifier while the graph is built, where comparing two integers is much cheaper
    than comparing two strings. `resolve` checks that no two identifiers share a key, and
    builds the graph again with another `salt` if two ever do."""
    return f"hash(type, value, {int(salt)})"


def graph_occurrences_query(rules: IdentityRules, salt: int = 0) -> str:
    """`occurrences_query` as the graph reads it: each identifier with its `key`, and its event
    as `event`, the event's row id in the store (one integer rather than source and event id;
    stable within a transaction, which is where `resolve` reads it)."""
    rows = _identifiers_on_events(rules, {"event": "rowid", "occurred_at": "occurred_at"})
    return f"SELECT *, {key_sql(salt)} AS key FROM ({rows})"


def scoped_graph_occurrences_query(occurrences: str, scope: str) -> str:
    """`graph_occurrences_query` rows of the events that carry an identifier of `scope`."""
    return f"""
        SELECT * FROM ({occurrences}) WHERE event IN (
            SELECT event FROM ({occurrences}) WHERE (type, value) IN (
                SELECT type, value FROM {scope}))
    """


def nodes_query(occurrences: str) -> str:
    """Distinct identifiers (from a `graph_occurrences_query` table) numbered 0.. (`node`, in no
    particular order), with their key and rank, and when and how often they were seen."""
    return f"""
        SELECT (row_number() OVER () - 1)::BIGINT AS node, * FROM (
            SELECT type, value, any_value(rank) AS rank, any_value(key) AS key,
                   min(occurred_at) AS first_seen, max(occurred_at) AS last_seen,
                   count(*) AS events
            FROM {occurrences} GROUP BY type, value)
    """


_LOW_64 = "18446744073709551615::HUGEINT"
"""The low 64 bits of a 128-bit integer."""


def edges_query(occurrences: str, nodes: str, match_threshold: float) -> str:
    """The edges to unite, numbered (`edge`), each end by its identifier's key (`left_key`,
    `right_key`; `links_query` maps them to node numbers).

    The deterministic ones: star edges from each event's most trusted identifier (lowest
    rank, then type and value) to its others, with evidence (the first event that showed them
    together, and how many did). The probabilistic matches (`kind` 1) at or above the
    threshold, and the merges a user forced (`kind` -1). `union_order_query` gives the order
    they are united in. Events are read back by row id: run it in the transaction that made
    `occurrences`.
    """
    # Two integers packed in one 128-bit integer compare as the pair: min() then finds the
    # least pair in one pass, cheaper than an arg_min over a (rank, type, value) struct.
    pair, low = "::HUGEINT * 18446744073709551616 + ", f"& {_LOW_64}"
    return f"""
        WITH ranked AS (
            -- Each event's lowest rank, with the least and the greatest key at that rank.
            SELECT event, min(rank{pair}key) AS least, max((65536 - rank){pair}key) AS greatest
            FROM {occurrences} GROUP BY event HAVING count(*) > 1
        ),
        tied AS (
            -- Two identifiers of the lowest rank (two emails): type and value decide.
            SELECT event, arg_min(key, (rank, type, value)) AS best_key FROM {occurrences}
            WHERE event IN (SELECT event FROM ranked WHERE (least {low}) <> (greatest {low}))
            GROUP BY event
        ),
        best AS (
            SELECT event, coalesce(t.best_key, (r.least {low})::UBIGINT) AS best_key
            FROM ranked r LEFT JOIN tied t USING (event)
        ),
        star AS (
            SELECT b.best_key AS left_key, o.key AS right_key, count(*) AS events,
                   min(o.occurred_at) AS first_seen,
                   -- The first event, the same from one resolve to the next (ties by row).
                   (min(epoch_us(o.occurred_at){pair}o.event) {low})::BIGINT AS event
            FROM {occurrences} o JOIN best b USING (event)
            WHERE o.key <> b.best_key
            GROUP BY b.best_key, o.key
        ),
        seen AS (
            SELECT 0 AS kind, s.left_key, s.right_key, s.events, s.first_seen, e.source,
                   e.event_id, NULL::DOUBLE AS match_weight, NULL::JSON AS evidence
            FROM star s JOIN events e ON e.rowid = s.event
        ),
        matched AS (
            SELECT 1 AS kind, l.key AS left_key, r.key AS right_key, NULL::BIGINT AS events,
                   NULL::TIMESTAMPTZ AS first_seen, 'identity_matches' AS source,
                   m.run_id AS event_id, m.match_weight, m.evidence
            FROM identity_matches m
            JOIN {nodes} l ON l.type = m.left_type AND l.value = m.left_value
            JOIN {nodes} r ON r.type = m.right_type AND r.value = m.right_value
            WHERE m.probability >= {float(match_threshold)!r} AND l.key <> r.key
        ),
        forced AS (
            SELECT -1 AS kind, l.key AS left_key, r.key AS right_key, NULL::BIGINT AS events,
                   f.created_at AS first_seen, 'identity_overrides' AS source,
                   f.override_id AS event_id, NULL::DOUBLE AS match_weight, NULL::JSON AS evidence
            FROM identity_overrides f
            JOIN {nodes} l ON l.type = f.left_type AND l.value = f.left_value
            JOIN {nodes} r ON r.type = f.right_type AND r.value = f.right_value
            WHERE f.kind = 'merge' AND l.key <> r.key
        )
        SELECT (row_number() OVER () - 1)::BIGINT AS edge, * FROM (
            SELECT * FROM forced UNION ALL SELECT * FROM seen UNION ALL SELECT * FROM matched)
    """


def links_query(edges: str, nodes: str) -> str:
    """The edges (`edge`, `kind`) with their ends as node numbers (`left_node`, `right_node`)."""
    return f"""
        SELECT e.edge, e.kind, l.node AS left_node, r.node AS right_node FROM {edges} e
        JOIN {nodes} l ON l.key = e.left_key JOIN {nodes} r ON r.key = e.right_key
    """


def trust_order_query(nodes: str, part: str | None = None) -> str:
    """Nodes (`node`, `type`), most trusted first: rank, then type and value. The union–find
    numbers them in this order, so the root it keeps, the lower number, is the more trusted.
    `part`: a relation of the nodes to take (column `node`; default: all)."""
    where = f"WHERE node IN (SELECT node FROM {part})" if part else ""
    return f"SELECT node, type FROM {nodes} {where} ORDER BY rank, type, value"


def union_order_query(edges: str, nodes: str, part: str | None = None) -> str:
    """Edges (`edge`, `kind` and ends) in the order the union–find unites them: the merges a
    user forced, which no limit refuses; then the star edges, the most trusted identifiers'
    first, so that deterministic links always win over probabilistic ones; then the matches,
    strongest first. `part`: a relation of the edges to take (column `edge`; default: all)."""
    where = f"WHERE e.edge IN (SELECT edge FROM {part})" if part else ""
    return f"""
        SELECT e.edge, e.kind, l.node AS left_node, r.node AS right_node FROM {edges} e
        JOIN {nodes} l ON l.key = e.left_key JOIN {nodes} r ON r.key = e.right_key {where}
        ORDER BY e.kind, l.rank, l.type, l.value, e.first_seen, -e.match_weight,
                 r.rank, r.type, r.value
    """


def shared_query(occurrences: str, nodes: str, rules: IdentityRules) -> str:
    """Nodes of a shared type seen on events with two or more different user ids (from a
    `graph_occurrences_query` table)."""
    if not rules.shared_types:
        return "SELECT NULL::BIGINT AS node WHERE false"
    kinds = ", ".join(lit(k) for k in rules.shared_types)
    return f"""
        SELECT n.node FROM {nodes} n WHERE n.key IN (
            SELECT x.key FROM {occurrences} x
            JOIN (SELECT event, value FROM {occurrences} WHERE type = 'user_id') u USING (event)
            WHERE x.type IN ({kinds})
            GROUP BY x.key HAVING count(DISTINCT u.value) >= 2)
    """


def splits_query(nodes: str) -> str:
    """Pairs of nodes a user split: never in one customer."""
    return f"""
        SELECT l.node AS left_node, r.node AS right_node FROM identity_overrides f
        JOIN {nodes} l ON l.type = f.left_type AND l.value = f.left_value
        JOIN {nodes} r ON r.type = f.right_type AND r.value = f.right_value
        WHERE f.kind = 'split'
    """
