"""Resolve: the identity graph's components, under the rules, become customers.

Edges are united most trusted first (the star edges of user ids before those of cookies), with
a union–find that keeps the rules: a union that would give a customer more values of a type
than its limit (two user ids, a sixth email) is refused and recorded, and a shared device links
nobody. Events are never rewritten: the result is the identifier → customer map that queries
join, written with one audit row per link (which identifiers, which evidence, since when) and
one per refusal (which rule). A full resolve recomputes everything from the events, so a rule
change re-resolves history.

A customer's id is derived from its most trusted identifier, so it stays the same from one
resolve to the next as long as that identifier stays with it.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from parcours.identity import customer_events, graph
from parcours.identity.rules import IdentityRules
from parcours.sql import lit
from parcours.store.store import Store

NODES, EDGES = "_identity_nodes", "_identity_edges"


@dataclass
class Resolution:
    """What a resolve found. `to_dict()` is the stable JSON of `--format json`."""

    run_id: str
    identifiers: int = 0
    links: int = 0
    customers: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    shared_devices: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Union:
    """Union–find over node numbers, keeping per-customer counts of each identifier type."""

    kinds: list[str]
    rules: IdentityRules
    apart: list[tuple[int, int]] = field(default_factory=list)
    """Pairs a user split: no union may bring them together."""
    parent: list[int] = field(init=False)
    counts: dict[int, dict[str, int]] = field(init=False)
    """Per root, identifier counts by type; a root absent here has one identifier (its own)."""
    limit: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.parent = list(range(len(self.kinds)))
        # Built lazily: most identifiers never join anything, and 3M small dicts cost seconds.
        self.counts = {}
        self.limit = {kind: self.rules.limit(kind) for kind in set(self.kinds)}

    def _counts(self, root: int) -> dict[str, int]:
        return self.counts.get(root) or {self.kinds[root]: 1}

    def find(self, node: int) -> int:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def unite(self, left: int, right: int, *, forced: bool = False) -> str | None:
        """Join the two customers; return why not if a rule or a split refuses it.

        A forced merge (a user's decision) passes the limits, but not a split."""
        a, b = self.find(left), self.find(right)
        if a == b:
            return None
        for x, y in self.apart:
            if {self.find(x), self.find(y)} == {a, b}:
                return "split"
        counts_a, counts_b = self._counts(a), self._counts(b)
        small, large = (
            (counts_a, counts_b) if len(counts_a) <= len(counts_b) else (counts_b, counts_a)
        )
        if not forced:
            for kind, count in small.items():
                # Refused only when both sides bring that type: a customer a user forced past
                # a limit still takes identifiers of other types.
                if kind in large and count + large[kind] > self.limit[kind]:
                    return f"limit:{kind}"
        # The more trusted root (lower node number) stays the root.
        keep, gone = (a, b) if a < b else (b, a)
        merged = dict(large)
        for kind, count in small.items():
            merged[kind] = merged.get(kind, 0) + count
        self.parent[gone] = keep
        self.counts[keep] = merged
        self.counts.pop(gone, None)
        return None


SCOPE = "_identity_scope"
MAX_SCOPE_ROUNDS = 20


def resolve_full(store: Store) -> Resolution:
    """Recompute every customer from the identifiers on the events, under the current rules."""
    return _resolve(store, scoped=False)


def resolve_new(store: Store, new_events: str, params: list[Any] | None = None) -> Resolution:
    """Bring the customers up to date with new events (`new_events`: SQL selecting their
    `source, event_id`), re-resolving only the part of the graph they touch.

    The part is closed before it is resolved: the new events' identifiers, the customers they
    already belong to, and everything linked to those, until nothing more joins. Resolving a
    closed part gives what a full resolve would give there; other customers are not touched.
    """
    engine = store.engine
    occurrences = graph.occurrences_query(store.settings.identity)
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {SCOPE} AS SELECT DISTINCT type, value FROM "
        f"({occurrences}) WHERE (source, event_id) IN ({new_events})",
        params,
    )
    size = engine.scalar(f"SELECT count(*) FROM {SCOPE}")
    for _ in range(MAX_SCOPE_ROUNDS):
        engine.execute_script(
            f"CREATE OR REPLACE TEMP TABLE {SCOPE}_next AS "
            f"{graph.grow_scope_query(occurrences, SCOPE)}"
        )
        engine.execute_script(f"CREATE OR REPLACE TEMP TABLE {SCOPE} AS SELECT * FROM {SCOPE}_next")
        grown = engine.scalar(f"SELECT count(*) FROM {SCOPE}")
        if grown == size:
            break
        size = grown
    else:
        return resolve_full(store)  # a part this entangled is the whole graph, near enough
    return _resolve(store, scoped=True)


def _resolve(store: Store, *, scoped: bool) -> Resolution:
    started = time.perf_counter()
    rules: IdentityRules = store.settings.identity
    engine = store.engine
    result = Resolution(run_id=time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6])
    occurrences = graph.occurrences_query(rules)
    if scoped:
        occurrences = graph.scoped_occurrences_query(occurrences, SCOPE)
    engine.execute_script(
        f"CREATE OR REPLACE TEMP TABLE {NODES} AS {graph.nodes_query(occurrences)}"
    )
    engine.execute_script(
        f"CREATE OR REPLACE TEMP TABLE {EDGES} AS "
        f"{graph.edges_query(occurrences, NODES, rules.match_threshold)}"
    )
    kinds = engine.query(f"SELECT type FROM {NODES} ORDER BY node").column(0).to_pylist()
    edges = engine.query(f"SELECT kind, left_node, right_node FROM {EDGES} ORDER BY position")
    shared = set(engine.query(graph.shared_query(occurrences, NODES, rules)).column(0).to_pylist())
    splits = engine.query(graph.splits_query(NODES)).to_pylist()

    union = _Union(kinds, rules, [(s["left_node"], s["right_node"]) for s in splits])
    decisions: list[str | None] = []
    for kind, left, right in zip(*(edges.column(i).to_pylist() for i in range(3)), strict=True):
        if kind >= 0 and (left in shared or right in shared):
            decisions.append("shared_device")
        else:
            decisions.append(union.unite(left, right, forced=kind < 0))
    roots = [union.find(node) for node in range(len(kinds))]

    with engine.transaction():
        _write(store, result.run_id, roots, decisions, scoped=scoped)
        customer_events.refresh(
            store, f"SELECT source, event_id FROM ({occurrences})" if scoped else None
        )
    result.identifiers, result.links = len(kinds), decisions.count(None)
    result.customers = len(set(roots))
    result.shared_devices = len(shared)
    result.refused = dict(Counter(d for d in decisions if d is not None))
    result.seconds = round(time.perf_counter() - started, 3)
    engine.execute(
        "INSERT INTO identity_runs VALUES (?, now(), ?, ?, ?, ?, ?)",
        [
            result.run_id,
            result.identifiers,
            result.links,
            result.customers,
            sum(result.refused.values()),
            store.settings.identity.model_dump_json(),
        ],
    )
    return result


def _write(
    store: Store, run_id: str, roots: list[int], decisions: list[str | None], *, scoped: bool
) -> None:
    engine = store.engine
    assignment = pa.table(
        {"node": pa.array(range(len(roots)), pa.int64()), "root": pa.array(roots, pa.int64())}
    )
    outcome = pa.table(
        {
            "position": pa.array(range(len(decisions)), pa.int64()),
            "refused": pa.array(decisions, pa.string()),
        }
    )
    customer = "'c_' || left(md5(r.type || ':' || r.value), 16)"
    with (
        engine.registered("_identity_roots", assignment),
        engine.registered("_identity_outcome", outcome),
    ):
        engine.execute_script(
            f"DELETE FROM identity_map WHERE (type, value) IN (SELECT type, value FROM {NODES})"
            if scoped
            else "DELETE FROM identity_map"
        )
        engine.execute_script(
            f"INSERT INTO identity_map SELECT n.type, n.value, {customer}, n.first_seen, "
            f"n.last_seen, n.events FROM {NODES} n JOIN _identity_roots a ON a.node = n.node "
            f"JOIN {NODES} r ON r.node = a.root "
            # Sorted, so a lookup by identifier reads the few row groups its zone maps allow.
            f"ORDER BY n.type, n.value"
        )
        engine.execute_script(
            "DELETE FROM identity_links WHERE (left_type, left_value) IN "
            f"(SELECT type, value FROM {NODES}) OR (right_type, right_value) IN "
            f"(SELECT type, value FROM {NODES})"
            if scoped
            else "DELETE FROM identity_links"
        )
        engine.execute_script(
            f"INSERT INTO identity_links SELECT {customer.replace('r.', 'c.')}, l.type, l.value, "
            f"rt.type, rt.value, "
            f"coalesce(o.refused, CASE e.kind WHEN 0 THEN 'linked' WHEN 1 THEN 'matched' "
            f"ELSE 'forced' END), "
            f"e.events, e.first_seen, e.source, e.event_id, e.match_weight, e.evidence, "
            f"{lit(run_id)} "
            f"FROM {EDGES} e JOIN _identity_outcome o USING (position) "
            f"JOIN {NODES} l ON l.node = e.left_node JOIN {NODES} rt ON rt.node = e.right_node "
            f"JOIN _identity_roots a ON a.node = e.left_node JOIN {NODES} c ON c.node = a.root"
        )
