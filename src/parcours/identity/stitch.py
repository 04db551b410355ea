"""Stitching: from the identity graph's links to customers, under the rules. No I/O.

Two ways to the same customers and the same decisions on every link:

* `union_find`, the reference: a union–find that keeps the rules, over every link in the order
  of trust. A union that would give a customer more values of a type than its limit (two user
  ids, a sixth email) is refused and recorded, a split pair is never joined, and a shared
  device links nobody. Plain Python: portable, and slow past a few hundred thousand links.
* `components`, the fast path: scipy's connected components over the links no rule refuses up
  front (all but those of shared devices), then the union–find only inside the components where
  a rule could bite, those with more values of a type than its limit or with both ends of a
  split. Elsewhere no union can be refused (a customer's counts only grow as it is joined, and
  end within the limits), so every link holds and the component is the customer. Inside, the
  union–find runs as in the reference, on the same links in the same order: the components are
  independent, so its decisions there are the reference's.

Identifiers are numbered 0..n-1 by the engine, in no particular order. A customer's anchor is
its most trusted identifier (lowest rank, then type and value), which its id is derived from.
Ordering identifiers by type and value is the engine's job: `Order` asks it for the part of the
graph that needs it, identifiers most trusted first and links in union order (see
`graph.trust_order_query` and `graph.union_order_query`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]


@dataclass
class Graph:
    """The identity graph as arrays: identifiers by number, links by the numbers of their ends."""

    ranks: Ints
    """Each identifier's rank: 0 is the most trusted type."""
    types: Ints
    """Its type, as a position in `type_names`."""
    type_names: list[str]
    edges: Ints
    """Each link's id."""
    kinds: Ints
    """-1 a merge a user forced, 0 seen together, 1 a probabilistic match."""
    left: Ints
    right: Ints
    shared: Ints
    """Shared devices: a link touching one (unless forced) is refused."""
    splits: Ints = field(default_factory=lambda: np.empty((0, 2), np.int64))
    """Pairs (n × 2) a user split: never in one customer."""


@dataclass
class Ordered:
    """A part of the graph as the union–find takes it: identifiers most trusted first (with
    their types), and links in the order they are united."""

    nodes: Ints
    types: list[str]
    edges: Ints
    kinds: Ints
    left: Ints
    right: Ints


Order = Callable[[Ints | None, Ints | None], Ordered]
"""`order(nodes, edges)`: those identifiers and links, ordered (None: all of them)."""


@dataclass
class Stitched:
    """Customers: each identifier's anchor, and the links the rules refused."""

    anchors: Ints
    """For each identifier, its customer's anchor (an identifier number)."""
    refused: dict[int, str]
    """Link id → the rule that refused it (shared_device, split, limit:<type>)."""
    customers: Ints
    """The customers, by their anchors."""


@dataclass
class _Union:
    """Union–find over node numbers, keeping per-customer counts of each identifier type."""

    kinds: list[str]
    limits: Mapping[str, int]
    apart: list[tuple[int, int]] = field(default_factory=list)
    """Pairs a user split: no union may bring them together."""
    parent: list[int] = field(init=False)
    counts: dict[int, dict[str, int]] = field(init=False)
    """Per root, identifier counts by type; a root absent here has one identifier (its own)."""

    def __post_init__(self) -> None:
        self.parent = list(range(len(self.kinds)))
        # Built lazily: most identifiers never join anything, and 3M small dicts cost seconds.
        self.counts = {}

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
                if kind in large and count + large[kind] > self.limits[kind]:
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


def _unite(
    part: Ordered, limits: Mapping[str, int], splits: Ints, shared: Ints, count: int
) -> tuple[Ints, dict[int, str]]:
    """The reference union–find over `part` (identifiers among `count`): each identifier's
    anchor (in `part.nodes` order) and the refused links."""
    local = np.full(count, -1, np.int64)
    local[part.nodes] = np.arange(len(part.nodes))
    pairs = local[splits] if len(splits) else np.empty((0, 2), np.int64)
    apart = [(int(a), int(b)) for a, b in pairs if a >= 0 and b >= 0]
    union = _Union(part.types, limits, apart)
    devices = np.zeros(count, bool)
    devices[shared] = True
    up_front = ((part.kinds >= 0) & (devices[part.left] | devices[part.right])).tolist()
    refused = {}
    links = (part.edges, part.kinds, local[part.left], local[part.right])
    for edge, kind, left, right, shared_device in zip(
        *(a.tolist() for a in links), up_front, strict=True
    ):
        if shared_device:
            refused[edge] = "shared_device"
        elif (why := union.unite(left, right, forced=kind < 0)) is not None:
            refused[edge] = why
    roots = np.fromiter((union.find(n) for n in range(len(part.nodes))), np.int64, len(part.nodes))
    return part.nodes[roots], refused


def union_find(graph: Graph, limits: Mapping[str, int], order: Order) -> Stitched:
    """The reference: the rule-keeping union–find over every link, in the order of trust."""
    count = len(graph.ranks)
    part = order(None, None)
    anchors, refused = _unite(part, limits, graph.splits, graph.shared, count)
    aligned = np.empty(count, np.int64)
    aligned[part.nodes] = anchors
    return Stitched(aligned, refused, np.unique(anchors))


def components(graph: Graph, limits: Mapping[str, int], order: Order) -> Stitched:
    """The fast path: connected components, and the union–find where a rule could bite."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    count = len(graph.ranks)
    if not count:
        return Stitched(np.empty(0, np.int64), {}, np.empty(0, np.int64))
    is_shared = np.zeros(count, bool)
    is_shared[graph.shared] = True
    refused_up_front = (graph.kinds >= 0) & (is_shared[graph.left] | is_shared[graph.right])
    kept = ~refused_up_front
    links = coo_matrix(
        (np.ones(int(kept.sum()), np.int8), (graph.left[kept], graph.right[kept])),
        shape=(count, count),
    )
    found, found_labels = connected_components(links, directed=False)
    labels = found_labels.astype(np.int64)

    # Where a rule could bite: more values of a type than its limit, or a split pair.
    conflict = np.zeros(found, bool)
    for code, name in enumerate(graph.type_names):
        of_type = labels[graph.types == code]
        if len(of_type) > limits[name]:
            conflict |= np.bincount(of_type, minlength=found) > limits[name]
    if len(graph.splits):
        a, b = labels[graph.splits[:, 0]], labels[graph.splits[:, 1]]
        conflict[a[a == b]] = True

    # Each component's anchor: its identifier of lowest rank, when only one has it.
    lowest = np.full(found, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(lowest, labels, graph.ranks)
    candidate = graph.ranks == lowest[labels]
    candidates = np.bincount(labels[candidate], minlength=found)
    anchor = np.zeros(found, np.int64)
    alone = np.flatnonzero(candidate & (candidates[labels] == 1))
    anchor[labels[alone]] = alone
    tied = (candidates > 1) & ~conflict
    refused = {int(edge): "shared_device" for edge in graph.edges[refused_up_front]}

    conflicting = conflict[labels]
    part = None
    if tied.any() or conflicting.any():
        # The engine orders the rest: ties (two emails and nothing more trusted) by type and
        # value, and the conflicting components' identifiers and links for the union–find.
        nodes = np.flatnonzero(conflicting | tied[labels])
        part = order(nodes, graph.edges[kept & conflicting[graph.left]])
        first_labels, first = np.unique(labels[part.nodes], return_index=True)
        untie = tied[first_labels]
        anchor[first_labels[untie]] = part.nodes[first[untie]]
    anchors = anchor[labels]
    customers = anchor[~conflict]
    if part is not None and conflicting.any():
        inner = _subset(part, conflicting[part.nodes], count)
        inner_anchors, inner_refused = _unite(inner, limits, graph.splits, graph.shared, count)
        anchors[inner.nodes] = inner_anchors
        refused.update(inner_refused)
        customers = np.concatenate([customers, np.unique(inner_anchors)])
    return Stitched(anchors, refused, customers)


def _subset(part: Ordered, mask: NDArray[np.bool_], count: int) -> Ordered:
    """The identifiers of `part` where `mask`, and the links between them (order kept)."""
    nodes = part.nodes[mask]
    within = np.zeros(count, bool)
    within[nodes] = True
    inside = within[part.left] & within[part.right]
    types = [kind for kind, keep in zip(part.types, mask.tolist(), strict=True) if keep]
    return Ordered(
        nodes, types, part.edges[inside], part.kinds[inside], part.left[inside], part.right[inside]
    )
