"""Resolve: the identity graph's components, under the rules, become customers.

Edges are united most trusted first (the star edges of user ids before those of cookies), under
rules: a union that would give a customer more values of a type than its limit (two user ids, a
sixth email) is refused and recorded, and a shared device links nobody (`identity.stitch` does
the uniting, fast with scipy's connected components, checked against the plain union–find).
Events are never rewritten: the result is the identifier → customer map that queries join,
written with one audit row per link (which identifiers, which evidence, since when) and one per
refusal (which rule). A full resolve recomputes everything from the events, so a rule change
re-resolves history.

A customer's id is derived from its most trusted identifier, so it stays the same from one
resolve to the next as long as that identifier stays with it.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from parcours.arrays import numpy_of
from parcours.engine import Engine
from parcours.errors import StoreError
from parcours.identity import customer_events, graph, settled, stitch
from parcours.identity.rules import identity_rules
from parcours.sql import ident, lit
from parcours.store.store import Store

OCCURRENCES, NODES, EDGES = "_identity_occurrences", "_identity_nodes", "_identity_edges"
CUSTOMERS, OWNED = "_identity_customers", "_identity_owned"
REWRITTEN = ("identity_map", "identity_links", "customer_events")
"""The tables a full resolve rewrites whole."""
SALTS = 4
"""Tries at keys without a collision (about one chance in three million at 3M identifiers)."""


@dataclass
class Resolution:
    """What a resolve found. `to_dict()` is the stable JSON of `--format json`."""

    run_id: str
    identifiers: int = 0
    links: int = 0
    customers: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    shared_devices: int = 0
    settled: int = 0
    """New events that changed no link, placed without the graph (`identity.settled`)."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SCOPE = "_identity_scope"
"""The events a resolve_new re-resolves (`event_row, source, event_id`)."""
NEW_OCCURRENCES = "_identity_new_occurrences"
"""The scope's (event, identifier) pairs (`graph.occurrences_query`)."""
NEW_IDENTIFIERS, OWNERS = "_identity_new_identifiers", "_identity_new_owners"
REFUSED_PAIRS, TOUCHED = "_identity_refused_pairs", "_identity_touched"
"""The customers the new identifiers belong to, and those refused links reach from them."""
SCOPE_EVENTS = "_identity_scope_events"
"""The scope's events as the graph reads them (`graph.events_of_query`)."""


def resolve_full(store: Store, *, portable: bool = False) -> Resolution:
    """Recompute every customer from the identifiers on the events, under the current rules.

    `portable` stitches with the plain union–find over every link (`stitch.union_find`), the
    reference the fast path is checked against: the same customers and decisions, slower."""
    return _resolve(store, scoped=False, portable=portable)


def resolve_new(store: Store, where: str, params: list[Any] | None = None) -> Resolution:
    """Bring the customers up to date with new events (`where`: a condition on `events`
    selecting them, such as `import_id = ?`), re-resolving only the part of the graph they
    touch.

    New events that change no link are placed first, without the graph (`identity.settled`):
    most live traffic. The part the others touch is closed before it is resolved, from what
    the last resolve wrote rather than from every event: the customers the new events'
    identifiers belong to, and those that a link the rules refused (a shared device, a limit,
    a split) reaches from them, until nothing more joins; then every event of those customers
    (`customer_events`) and the new ones. Resolving a closed part gives what a full resolve
    would give there, and costs what the part holds, not what the store holds; other
    customers are not touched.

    That takes the earlier events as resolved. When some arrived since the last resolve and
    are not among the new ones (imported with `resolve_on_arrival` off, or a resolve that
    failed), or a matching run came after it (its matches may join customers no new event
    touches), a full resolve catches up instead.
    """
    started = time.perf_counter()
    engine = store.engine
    rules = identity_rules(store.settings)
    new = f"(SELECT source, event_id FROM events WHERE {where})"
    if engine.scalar(graph.unresolved_events_query(new), params) or engine.scalar(
        graph.matched_since_resolve_query()
    ):
        return resolve_full(store)
    steps = {
        NEW_IDENTIFIERS: f"SELECT DISTINCT type, value FROM {NEW_OCCURRENCES} "
        f"WHERE (source, event_id) IN (SELECT source, event_id FROM {SCOPE})",
        OWNERS: graph.owners_query(NEW_IDENTIFIERS),
        REFUSED_PAIRS: graph.refused_pairs_query(),
        TOUCHED: graph.reached_customers_query(OWNERS, REFUSED_PAIRS),
    }
    try:
        # One transaction: the scope names events by their row ids.
        with engine.transaction():
            engine.execute(
                f"CREATE OR REPLACE TEMP TABLE {SCOPE} AS SELECT rowid AS {graph.EVENT_ROW}, "
                f"source, event_id FROM events WHERE {where}",
                params,
            )
            # The new events' identifiers, read from the store once.
            engine.execute_script(
                f"CREATE OR REPLACE TEMP TABLE {NEW_OCCURRENCES} AS "
                + graph.occurrences_query(rules, f"({graph.events_of_query(SCOPE)})")
            )
            # The events that change no link first: they need no part of the graph.
            placed = settled.place_settled(store, SCOPE, NEW_OCCURRENCES)
            if not engine.scalar(f"SELECT count(*) FROM {SCOPE}"):
                return _record(store, Resolution(run_id=_run_id()), placed, started)
            for table, query in steps.items():
                engine.execute_script(f"CREATE OR REPLACE TEMP TABLE {table} AS {query}")
            engine.execute_script(
                f"INSERT INTO {SCOPE} SELECT rowid, source, event_id FROM events "
                f"WHERE (source, event_id) IN ({graph.customers_events_query(TOUCHED)}) "
                f"AND rowid NOT IN (SELECT {graph.EVENT_ROW} FROM {SCOPE})"
            )
            return _resolve(store, scoped=True, placed=placed, started=started)
    finally:
        for table in (SCOPE, SCOPE_EVENTS, NEW_OCCURRENCES, *steps):
            engine.execute_script(f"DROP TABLE IF EXISTS {table}")


def _run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _resolve(
    store: Store,
    *,
    scoped: bool,
    portable: bool = False,
    placed: settled.Placed | None = None,
    started: float | None = None,
) -> Resolution:
    started = started or time.perf_counter()
    engine = store.engine
    result = Resolution(run_id=_run_id())
    stitched, links = _stitched(store, scoped=scoped, portable=portable)

    _name(engine, stitched.customers)
    _own(engine, stitched.anchors)
    with ExitStack() as stack:
        if not scoped:
            stack.enter_context(_indexes_set_aside(engine, REWRITTEN))
        with engine.transaction():
            _write(store, result.run_id, stitched.refused, scoped=scoped)
            if scoped:
                customer_events.refresh(store, SCOPE, OWNED)
            else:
                customer_events.refresh(store)
    result.identifiers, result.links = len(links.ranks), len(links.edges) - len(stitched.refused)
    result.customers = len(stitched.customers)
    result.shared_devices = len(links.shared)
    result.refused = dict(Counter(stitched.refused.values()))
    return _record(store, result, placed or settled.Placed(), started)


def _record(store: Store, result: Resolution, placed: settled.Placed, started: float) -> Resolution:
    """Count what `placed` placed without the graph in `result`, and keep the run."""
    result.identifiers += placed.identifiers
    result.customers += placed.customers
    result.settled = placed.events
    result.seconds = round(time.perf_counter() - started, 3)
    store.engine.execute(
        "INSERT INTO identity_runs VALUES (?, now(), ?, ?, ?, ?, ?)",
        [
            result.run_id,
            result.identifiers,
            result.links,
            result.customers,
            sum(result.refused.values()),
            identity_rules(store.settings).model_dump_json(),
        ],
    )
    return result


def _stitched(
    store: Store, *, scoped: bool, portable: bool
) -> tuple[stitch.Stitched, stitch.Graph]:
    """Build the graph and stitch it."""
    rules = identity_rules(store.settings)
    links = _graph(store, scoped=scoped)
    limits = {kind: rules.limit(kind) for kind in links.type_names}
    how = stitch.union_find if portable else stitch.components
    return how(links, limits, _order(store.engine)), links


def _graph(store: Store, *, scoped: bool) -> stitch.Graph:
    """The graph's tables (occurrences, nodes, edges), made in one transaction (edges name
    their evidence's event by row id), and its arrays. The identifiers' keys are checked for
    collisions, and made again with another salt if two identifiers share one."""
    rules = identity_rules(store.settings)
    engine = store.engine
    with engine.transaction():
        if scoped:
            # Read in the transaction: the graph names events by their row ids.
            engine.execute_script(
                f"CREATE OR REPLACE TEMP TABLE {SCOPE_EVENTS} AS {graph.events_of_query(SCOPE)}"
            )
        for salt in range(SALTS):
            occurrences = graph.graph_occurrences_query(
                rules, salt, SCOPE_EVENTS if scoped else None
            )
            engine.execute_script(f"CREATE OR REPLACE TEMP TABLE {OCCURRENCES} AS {occurrences}")
            engine.execute_script(
                f"CREATE OR REPLACE TEMP TABLE {NODES} AS {graph.nodes_query(OCCURRENCES)}"
            )
            if not engine.scalar(f"SELECT count(*) - count(DISTINCT key) FROM {NODES}"):
                break
        else:
            raise StoreError(
                f"Identifiers kept sharing keys through {SALTS} salts of the hash",
                "report this with the DuckDB version in use: its hash function looks broken",
            )
        engine.execute_script(
            f"CREATE OR REPLACE TEMP TABLE {EDGES} AS "
            f"{graph.edges_query(OCCURRENCES, NODES, rules.match_threshold)}"
        )
        type_names = engine.query(f"SELECT DISTINCT type FROM {NODES}").column(0).to_pylist()
        codes = " ".join(f"WHEN {lit(kind)} THEN {i}" for i, kind in enumerate(type_names))
        nodes = engine.query(
            f"SELECT node, rank, CASE type {codes} END AS type_code FROM {NODES}"
            if type_names
            else f"SELECT node, rank, 0 AS type_code FROM {NODES}"
        )
        edges = engine.query(graph.links_query(EDGES, NODES))
        shared = engine.query(graph.shared_query(OCCURRENCES, NODES, rules))
        splits = engine.query(graph.splits_query(NODES))
    # Nodes come back in any order: each is put in its place.
    at = _ints(nodes.column("node"))
    return stitch.Graph(
        ranks=_placed(at, _ints(nodes.column("rank"))),
        types=_placed(at, _ints(nodes.column("type_code"))),
        type_names=type_names,
        edges=_ints(edges.column("edge")),
        kinds=_ints(edges.column("kind")),
        left=_ints(edges.column("left_node")),
        right=_ints(edges.column("right_node")),
        shared=_ints(shared.column(0)),
        splits=np.column_stack(
            [_ints(splits.column("left_node")), _ints(splits.column("right_node"))]
        ),
    )


def _order(engine: Engine) -> stitch.Order:
    """The engine's answer to `stitch.Order`: identifiers in trust order, links in union order."""

    def order(nodes: stitch.Ints | None, edges: stitch.Ints | None) -> stitch.Ordered:
        with ExitStack() as stack:
            if nodes is not None:
                stack.enter_context(engine.registered("_identity_part", pa.table({"node": nodes})))
            if edges is not None:
                stack.enter_context(
                    engine.registered("_identity_part_links", pa.table({"edge": edges}))
                )
            ordered = engine.query(
                graph.trust_order_query(NODES, None if nodes is None else "_identity_part")
            )
            links = engine.query(
                graph.union_order_query(
                    EDGES, NODES, None if edges is None else "_identity_part_links"
                )
            )
        return stitch.Ordered(
            nodes=_ints(ordered.column("node")),
            types=ordered.column("type").to_pylist(),
            edges=_ints(links.column("edge")),
            kinds=_ints(links.column("kind")),
            left=_ints(links.column("left_node")),
            right=_ints(links.column("right_node")),
        )

    return order


def _ints(column: pa.ChunkedArray | pa.Array) -> stitch.Ints:
    return np.asarray(numpy_of(column), dtype=np.int64)


def _placed(at: stitch.Ints, values: stitch.Ints) -> stitch.Ints:
    placed = np.empty(len(at), np.int64)
    placed[at] = values
    return placed


def _name(engine: Engine, customers: stitch.Ints) -> None:
    """Each customer's id, derived from its anchor: its most trusted identifier."""
    with engine.registered("_identity_anchors", pa.table({"node": customers})):
        engine.execute_script(
            f"CREATE OR REPLACE TEMP TABLE {CUSTOMERS} AS SELECT node AS anchor, "
            "'c_' || left(md5(type || ':' || value), 16) AS customer_id "
            f"FROM {NODES} JOIN _identity_anchors USING (node)"
        )


def _own(engine: Engine, anchors: stitch.Ints) -> None:
    """Each identifier with its customer: the rows of identity_map, and the ends of links."""
    owners = pa.table({"node": np.arange(len(anchors), dtype=np.int64), "anchor": anchors})
    with engine.registered("_identity_owners", owners):
        engine.execute_script(
            f"CREATE OR REPLACE TEMP TABLE {OWNED} AS SELECT n.key, n.type, n.value, "
            "c.customer_id, n.first_seen, n.last_seen, n.events "
            f"FROM {NODES} n JOIN _identity_owners o USING (node) JOIN {CUSTOMERS} c USING (anchor)"
        )


@contextmanager
def _indexes_set_aside(engine: Engine, tables: tuple[str, ...]) -> Iterator[None]:
    """The tables' indexes dropped for the block and built again after it.

    DuckDB updates an index row by row when rows are deleted: a full resolve deleting 3.3M
    indexed rows spends half a minute in its commit, even with the index dropped in the same
    transaction, while building the index again takes a few seconds. So the indexes are
    dropped in a transaction of their own, before."""
    names = ", ".join(lit(t) for t in tables)
    indexes = engine.query(
        "SELECT index_name, sql FROM duckdb_indexes() "
        f"WHERE database_name = current_database() AND table_name IN ({names})"
    ).to_pylist()
    for index in indexes:
        engine.execute_script(f"DROP INDEX IF EXISTS {ident(index['index_name'])}")
    try:
        yield
    finally:
        there = set(
            engine.query(
                "SELECT index_name FROM duckdb_indexes() "
                f"WHERE database_name = current_database() AND table_name IN ({names})"
            )
            .column(0)
            .to_pylist()
        )
        for index in indexes:
            if index["index_name"] not in there:
                engine.execute_script(index["sql"])


def _write(store: Store, run_id: str, refused: dict[int, str], *, scoped: bool) -> None:
    engine = store.engine
    refusals = pa.table(
        {
            "edge": pa.array(list(refused), pa.int64()),
            "decision": pa.array(list(refused.values()), pa.string()),
        }
    )
    engine.execute_script(
        f"DELETE FROM identity_map WHERE (type, value) IN (SELECT type, value FROM {NODES})"
        if scoped
        else "DELETE FROM identity_map"
    )
    engine.execute_script(
        "INSERT INTO identity_map SELECT type, value, customer_id, first_seen, last_seen, events "
        # Sorted by value, so that a lookup by identifier reads the one row group its zone
        # maps allow: as fast as sorted by type and value, and the sort costs a third less.
        f"FROM {OWNED} ORDER BY value"
    )
    engine.execute_script(
        "DELETE FROM identity_links WHERE (left_type, left_value) IN "
        f"(SELECT type, value FROM {NODES}) OR (right_type, right_value) IN "
        f"(SELECT type, value FROM {NODES})"
        if scoped
        else "DELETE FROM identity_links"
    )
    with engine.registered("_identity_refused", refusals):
        engine.execute_script(
            "INSERT INTO identity_links SELECT l.customer_id, l.type, l.value, r.type, r.value, "
            "coalesce(f.decision, CASE e.kind WHEN 0 THEN 'linked' WHEN 1 THEN 'matched' "
            "ELSE 'forced' END), "
            "e.events, e.first_seen, e.source, e.event_id, e.match_weight, e.evidence, "
            f"{lit(run_id)} "
            f"FROM {EDGES} e JOIN {OWNED} l ON l.key = e.left_key "
            f"JOIN {OWNED} r ON r.key = e.right_key "
            "LEFT JOIN _identity_refused f USING (edge)"
        )
