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


def _identifiers_on_events(
    rules: IdentityRules, columns: dict[str, str], events: str = "events"
) -> str:
    """One row per identifier on an event: the event's `columns` (name: expression over
    `events`), then type, value and rank; empty and blocked values left out. `events`: the
    relation of events to read (every event by default)."""
    inner = ", ".join(f"{expression} AS {name}" for name, expression in columns.items())
    outer = ", ".join(columns)
    return f"""
        SELECT {outer}, type, value, {rank_sql(rules)} AS rank FROM (
            SELECT {inner}, 'anonymous_id' AS type, anonymous_id AS value
            FROM {events} WHERE anonymous_id IS NOT NULL
            UNION ALL
            SELECT {inner}, 'user_id', user_id
            FROM {events} WHERE user_id IS NOT NULL
            UNION ALL
            SELECT {outer}, i.type, i.value
            FROM (SELECT {inner}, unnest(identifiers) AS i FROM {events})
        ) WHERE value <> '' AND NOT {_blocked(rules)}
    """


def occurrences_query(rules: IdentityRules, events: str = "events") -> str:
    """Every (event, identifier) pair with the identifier's rank; blocked values left out.
    `events`: the events to read (see `events_of_query`; every event by default)."""
    return _identifiers_on_events(
        rules, {"source": "source", "event_id": "event_id", "occurred_at": "occurred_at"}, events
    )


EVENT_ROW = "event_row"
"""`events_of_query`'s column for an event's row id in the store."""
PLACED_SOURCE = "parcours"
"""The source of the events parcours writes itself, placed with their customer as written."""


def events_of_query(relation: str) -> str:
    """The events of `relation` (`event_row`: their row ids in the store, read in the same
    transaction) with the columns the graph reads. Kept as a table, a part of the graph reads
    the store's events once, however many times it reads its own. By row id, the store reads
    those rows only: matched by source and event id, every event's ids would be read (50 ms
    for 10,000 events among 11 million, against 4)."""
    return f"""
        SELECT rowid AS {EVENT_ROW}, source, event_id, occurred_at, anonymous_id, user_id,
               identifiers
        FROM events WHERE rowid IN (SELECT {EVENT_ROW} FROM {relation})
    """


def unresolved_events_query(new_events: str) -> str:
    """How many events arrived since the last resolve (any, if none ran) and are not among
    `new_events` (`source, event_id`): events no resolve has seen. Events of source
    `parcours` (segment entries and exits) are written already placed with their customer,
    carrying one identifier of theirs (`segments.membership`): none needs a resolve."""
    return f"""
        SELECT count(*) FROM (
            SELECT source, event_id FROM events WHERE received_at > coalesce(
                (SELECT max(resolved_at) FROM identity_runs), '-infinity'::TIMESTAMPTZ)
                AND source <> {lit(PLACED_SOURCE)}
            EXCEPT SELECT source, event_id FROM {new_events})
    """


def matched_since_resolve_query() -> str:
    """Whether a matching run replaced `identity_matches` after the last resolve: its matches
    may join customers that no new event touches."""
    return """
        SELECT coalesce((SELECT max(matched_at) FROM identity_match_runs)
                        > (SELECT max(resolved_at) FROM identity_runs), true)
               AND EXISTS (SELECT 1 FROM identity_match_runs)
    """


def refused_pairs_query() -> str:
    """The customers a refused link stands between (`left_customer`, `right_customer`).

    Two customers one identity_links row refused to join are one part of the graph: whether
    the link is refused depends on both sides, so they are re-resolved together."""
    return """
        SELECT l.customer_id AS left_customer, m.customer_id AS right_customer
        FROM identity_links l
        JOIN identity_map m ON m.type = l.right_type AND m.value = l.right_value
        WHERE l.decision NOT IN ('linked', 'matched', 'forced')
          AND l.customer_id <> m.customer_id
    """


def owners_query(identifiers: str) -> str:
    """The customers `identifiers` (type, value) belong to."""
    return (
        "SELECT DISTINCT customer_id FROM identity_map "
        f"WHERE (type, value) IN (SELECT type, value FROM {identifiers})"
    )


def reached_customers_query(customers: str, refused_pairs: str) -> str:
    """`customers` (customer_id) and those the links the rules refused reach from them, until
    nothing more joins: with the customers of some identifiers, the closed part of the graph
    they are in (`refused_pairs`: a `refused_pairs_query` relation)."""
    return f"""
        WITH RECURSIVE pairs AS (
            SELECT left_customer AS here, right_customer AS there FROM {refused_pairs}
            UNION SELECT right_customer, left_customer FROM {refused_pairs}
        ),
        reached(customer_id) AS (
            SELECT customer_id FROM {customers}
            UNION SELECT p.there FROM pairs p JOIN reached r ON p.here = r.customer_id
        )
        SELECT DISTINCT customer_id FROM reached
    """


def customers_events_query(customers: str) -> str:
    """The events (`source, event_id`) of `customers` (customer_id), as the last resolve
    left them in customer_events (compared by key first: integers are cheaper to match)."""
    return f"""
        SELECT source, event_id FROM customer_events
        WHERE customer_key IN (SELECT (hash(customer_id) >> 1)::BIGINT FROM {customers})
          AND customer_id IN (SELECT customer_id FROM {customers})
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


def graph_occurrences_query(rules: IdentityRules, salt: int = 0, events: str | None = None) -> str:
    """`occurrences_query` as the graph reads it: each identifier with its `key`, and its event
    as `event`, the event's row id in the store (one integer rather than source and event id;
    stable within a transaction, which is where `resolve` reads it). `events`: a table of
    `events_of_query` to read (every event by default)."""
    row = "rowid" if events is None else EVENT_ROW
    rows = _identifiers_on_events(
        rules, {"event": row, "occurred_at": "occurred_at"}, events or "events"
    )
    return f"SELECT *, {key_sql(salt)} AS key FROM ({rows})"


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
