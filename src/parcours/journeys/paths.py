"""The journey map: which touchpoint follows which, whole journeys (variants), and paths.

A journey is a customer's events in time order (or one visit's, with `case="visit"`), each
named as a touchpoint: its event name, its channel, or both. Three views of the same journeys:

* the directly-follows graph: for each pair of touchpoints a → b, how often b came right after
  a, in how many journeys, and the median time between; with how journeys start and end — the
  same counts as process mining's DFG (pm4py's `discover_dfg`);
* the variants: each distinct whole journey and its share, the most frequent first, the rest
  summed as "other" so the shares add up;
* the paths from (or to) an anchor touchpoint: what customers did after (before) the first
  time they did it, step by step up to a depth, the rarer touchpoints at each depth summed as
  "other" and a journey that stops marked "(end)" once, at the depth after its last step: the
  first two depths add up to the customers who did the anchor (the number a funnel starting
  there shows), each later one to the journeys still going or stopping there.

The SQL builders below are the portable reference. The journeys are walked in numpy instead,
over the events read in journey order (`ordered.read_journeys`, or `visits.read_visits` cut
into visits): consecutive rows of one case are consecutive steps of one journey, so no window
query sorts ten million events per analysis. Each numpy answer equals the SQL one
(tests/engine/test_paths.py).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from parcours.arrays import numpy_of
from parcours.errors import BadRequest, StoreError
from parcours.journeys.ordered import Codes, Ints, Journeys, read_journeys, rounded
from parcours.journeys.scope import CHANNEL_CODE, CHANNEL_NAMES, Scope, Touchpoint, touchpoint_sql
from parcours.journeys.visits import GAP, ORDER, read_visits, visits_query
from parcours.sql import lit
from parcours.store.store import Store

Case = Literal["customer", "visit"]
END, START, OTHER = "(end)", "(start)", "other"
MAX_DEPTH = 50


def journeys_query(
    scope: Scope,
    touchpoint: Touchpoint | str = "name",
    case: Case | str = "customer",
    gap: str = GAP,
) -> str:
    """Every scoped event as (case_id, customer_id, activity, occurred_at, position)."""
    if case == "customer":
        source, case_id = scope.events(), "customer_key"
    elif case == "visit":
        source, case_id = visits_query(scope, gap=gap), "(customer_key, visit_number)"
    else:
        raise BadRequest(f"Unknown journey case {case!r}", "use customer or visit")
    return f"""
        SELECT {case_id} AS case_id, customer_id, {touchpoint_sql(touchpoint)} AS activity,
               occurred_at,
               row_number() OVER (PARTITION BY {case_id} ORDER BY {ORDER}) AS position
        FROM ({source})
    """


def dfg_query(journeys: str) -> str:
    """Directly-follows pairs with their counts and the median seconds between."""
    return f"""
        SELECT activity AS source, next_activity AS target, count(*) AS count,
               count(DISTINCT case_id) AS journeys,
               median(epoch(next_at) - epoch(occurred_at)) AS median_seconds
        FROM (SELECT *, lead(activity) OVER w AS next_activity, lead(occurred_at) OVER w AS next_at
              FROM ({journeys}) WINDOW w AS (PARTITION BY case_id ORDER BY position))
        WHERE next_activity IS NOT NULL
        GROUP BY ALL ORDER BY count DESC, source, target
    """


def ends_query(journeys: str) -> str:
    """How journeys start and end: per touchpoint, journeys starting and ending with it."""
    return f"""
        SELECT activity, count(*) FILTER (WHERE position = 1) AS starts,
               count(*) FILTER (WHERE position = last) AS ends
        FROM (SELECT *, max(position) OVER (PARTITION BY case_id) AS last FROM ({journeys}))
        WHERE position = 1 OR position = last
        GROUP BY activity ORDER BY starts DESC, ends DESC, activity
    """


def variants_query(journeys: str, top: int) -> str:
    """The `top` most frequent whole journeys, then one row summing the others."""
    return f"""
        WITH v AS (
            SELECT variant, count(*) AS journeys, len(variant) AS length
            FROM (SELECT case_id, list(activity ORDER BY position) AS variant
                  FROM ({journeys}) GROUP BY case_id)
            GROUP BY variant
        ),
        ranked AS (
            SELECT *, row_number() OVER (ORDER BY journeys DESC, length, variant) AS rank,
                   sum(journeys) OVER () AS total
            FROM v
        )
        SELECT rank, variant, journeys, round(journeys / total, 6) AS share FROM ranked
        WHERE rank <= {int(top)}
        UNION ALL
        SELECT NULL, NULL, sum(journeys)::BIGINT, round(sum(journeys) / any_value(total), 6)
        FROM ranked WHERE rank > {int(top)} HAVING count(*) > 0
        ORDER BY rank NULLS LAST
    """


def paths_query(journeys: str, anchor: str, depth: int, top: int, direction: str) -> str:
    """Nodes (depth, activity, customers) and links of the paths from or to `anchor`."""
    sign = 1 if direction == "from" else -1
    stop = lit(END if direction == "from" else START)
    return f"""
        WITH j AS (SELECT * FROM ({journeys})),
        a AS (SELECT case_id, min(position) AS anchor FROM j
              WHERE activity = {lit(anchor)} GROUP BY case_id),
        steps AS (
            SELECT j.case_id, {sign} * (j.position - a.anchor) AS depth, j.activity
            FROM j JOIN a USING (case_id)
            WHERE {sign} * (j.position - a.anchor) BETWEEN 0 AND {int(depth)}
        ),
        ended AS (  -- journeys that stop before the last depth: one "(end)" step
            SELECT case_id, max(depth) + 1 AS depth, {stop} AS activity FROM steps
            GROUP BY case_id HAVING max(depth) < {int(depth)}
        ),
        every AS (SELECT * FROM steps UNION ALL SELECT * FROM ended),
        ranked AS (
            SELECT depth, activity, row_number() OVER (
                       PARTITION BY depth ORDER BY (activity = {stop}), count(*) DESC,
                       activity) AS rank
            FROM every GROUP BY depth, activity
        ),
        named AS (
            SELECT e.case_id, e.depth,
                   CASE WHEN r.rank <= {int(top)} OR e.activity = {stop} THEN e.activity
                        ELSE {lit(OTHER)} END AS activity
            FROM every e JOIN ranked r USING (depth, activity)
        )
        SELECT 'node' AS kind, depth, activity AS source, NULL AS target,
               count(*) AS customers FROM named GROUP BY ALL
        UNION ALL
        SELECT 'link', a.depth, a.activity, b.activity, count(*)
        FROM named a JOIN named b ON b.case_id = a.case_id AND b.depth = a.depth + 1
        GROUP BY ALL
        ORDER BY kind DESC, depth, customers DESC, source, target
    """


@dataclass
class JourneyMap:
    """`journeys map` as data; `to_dict()` is the stable JSON."""

    touchpoint: str
    case: str
    journeys: int
    edges: list[dict[str, Any]] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def journey_map(
    store: Store,
    scope: Scope | None = None,
    *,
    touchpoint: Touchpoint | str = "name",
    case: Case | str = "customer",
    gap: str = GAP,
) -> JourneyMap:
    """The directly-follows graph of the scoped journeys, with their starts and ends."""
    steps = _Steps.read(store, scope or Scope(), touchpoint, case, gap)
    ends = steps.ends()
    return JourneyMap(touchpoint, case, sum(e["starts"] for e in ends), steps.edges(), ends)


def variants(
    store: Store,
    scope: Scope | None = None,
    *,
    touchpoint: Touchpoint | str = "name",
    case: Case | str = "customer",
    top: int = 20,
    gap: str = GAP,
) -> list[dict[str, Any]]:
    """The most frequent whole journeys and their share; a last row (rank None) sums the
    rest."""
    return _Steps.read(store, scope or Scope(), touchpoint, case, gap).variants(top)


@dataclass
class Paths:
    """`journeys paths` as data; `to_dict()` is the stable JSON."""

    anchor: str
    direction: str
    depth: int
    customers: int
    """Journeys that reach the anchor: depths 0 and 1 add up to this."""
    nodes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paths(
    store: Store,
    anchor: str,
    scope: Scope | None = None,
    *,
    direction: Literal["from", "to"] | str = "from",
    depth: int = 5,
    top: int = 8,
    touchpoint: Touchpoint | str = "name",
    case: Case | str = "customer",
    gap: str = GAP,
) -> Paths:
    """What customers did after (`from`) or before (`to`) their first `anchor`."""
    if not 1 <= depth <= MAX_DEPTH:
        raise BadRequest(f"A path depth of {depth}", f"choose a depth from 1 to {MAX_DEPTH}")
    if direction not in ("from", "to"):
        raise BadRequest(f"Unknown path direction {direction!r}", "use from or to")
    steps = _Steps.read(store, scope or Scope(), touchpoint, case, gap)
    nodes, links = steps.paths(anchor, depth, top, direction)
    customers = sum(n["customers"] for n in nodes if n["depth"] == 0)
    return Paths(anchor, direction, depth, customers, nodes, links)


# --- journeys by customer, walked in numpy ---------------------------------------------------


@dataclass
class _Steps:
    """The scoped events in journey order, each named as a touchpoint: `codes` index
    `names`, which are in order (so codes compare as names do)."""

    journeys: Journeys
    names: list[str]
    codes: Codes

    @classmethod
    def read(
        cls, store: Store, scope: Scope, touchpoint: Touchpoint | str, case: str, gap: str
    ) -> _Steps:
        """The steps of the customers' journeys, or of their visits. Read as numbers (the
        event's `name_code`, the channel's place in CHANNELS), named here, so that no text
        leaves the engine."""
        touchpoint_sql(touchpoint)  # a clear error for an unknown touchpoint
        columns = ", ".join(
            [
                *(["name_code"] if touchpoint != "channel" else []),
                *([f"{CHANNEL_CODE} AS channel_code"] if touchpoint != "name" else []),
            ]
        )
        if case == "customer":
            journeys = read_journeys(store, scope, columns)
        elif case == "visit":
            journeys = read_visits(store, scope, columns, gap=gap)
        else:
            raise BadRequest(f"Unknown journey case {case!r}", "use customer or visit")
        if not journeys.customers:
            return cls(journeys, [], np.zeros(0, dtype=np.int8))
        numbered = store.engine.query("SELECT code, name FROM event_names")
        known = dict(zip(numbered["code"].to_pylist(), numbered["name"].to_pylist(), strict=True))
        names, raw = _touchpoints(journeys, str(touchpoint), known)
        # Codes in name order, so that codes compare as names do.
        present = np.flatnonzero(np.bincount(raw))
        order = sorted(range(len(present)), key=lambda i: names(int(present[i])))
        rank = np.zeros(int(present[-1]) + 1, dtype=np.min_scalar_type(-len(present)))
        rank[present[order]] = np.arange(len(present))
        return cls(journeys, [names(int(present[i])) for i in order], rank[raw])

    @property
    def lengths(self) -> Ints:
        return np.diff(self.journeys.first_row)

    def ends(self) -> list[dict[str, Any]]:
        """As `ends_query`: per touchpoint, the journeys starting and ending with it."""
        if not len(self.codes):
            return []
        bounds, k = self.journeys.first_row, len(self.names)
        starts = np.bincount(self.codes[bounds[:-1]], minlength=k).tolist()
        ends = np.bincount(self.codes[bounds[1:] - 1], minlength=k).tolist()
        found = [
            {"activity": name, "starts": starts[a], "ends": ends[a]}
            for a, name in enumerate(self.names)
            if starts[a] or ends[a]
        ]
        return sorted(found, key=lambda e: (-e["starts"], -e["ends"], e["activity"]))

    def edges(self) -> list[dict[str, Any]]:
        """As `dfg_query`: per pair a → b of consecutive events of one journey, its count,
        the journeys it is in and the median seconds between."""
        journeys, codes, k = self.journeys, self.codes, len(self.names)
        if len(codes) < 2:
            return []
        # Each row's pair with the next row, or past every pair (k * k) when the next row is
        # another journey's; in 16 bits when pairs fit. One stable sort by pair (a radix sort
        # in 16 bits) groups each pair's steps, still in journey order: one journey's are
        # consecutive (to count journeys), and a group's times are one slice (for its median).
        small = k * k < 1 << 16
        codes = codes.astype(np.uint16 if small else np.int64)
        pair = codes[:-1] * k
        pair += codes[1:]
        pair[journeys.first_row[1:-1] - 1] = k * k
        order = np.argsort(pair, kind="stable")
        order = order[: len(order) - (journeys.customers - 1)]
        pair = pair[order]
        bounds = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1], True]).tolist()
        # A journey's first step in its pair's group: the journey changes, or the group does.
        who = journeys.customer[order]
        new = np.ones(len(who), dtype=bool)
        new[1:] = who[1:] != who[:-1]
        new[bounds[:-1]] = True
        counted = np.diff(np.searchsorted(np.flatnonzero(new), bounds)).tolist()
        gaps = np.diff(journeys.at)[order]
        found = [
            {
                "source": self.names[p // k],
                "target": self.names[p % k],
                "count": hi - lo,
                "journeys": n,
                "median_seconds": float(np.median(gaps[lo:hi])) / 1e6,
            }
            for p, lo, hi, n in zip(
                pair[bounds[:-1]].tolist(), bounds[:-1], bounds[1:], counted, strict=True
            )
        ]
        return sorted(found, key=lambda e: (-e["count"], e["source"], e["target"]))

    def variants(self, top: int) -> list[dict[str, Any]]:
        """As `variants_query`. Each journey is written as bytes, its touchpoints' codes
        big-endian: Arrow then groups equal journeys exactly (by hash, then by comparing
        them), and comparing the bytes of two journeys of one length compares them name by
        name, as the ranking needs."""
        journeys = self.journeys
        if not journeys.customers:
            return []
        width = 1 if len(self.names) <= 1 << 8 else 2 if len(self.names) <= 1 << 16 else 4
        whole = _binary(self.codes.astype(f">u{width}"), journeys.first_row * width)
        encoded = whole.dictionary_encode()
        variants = encoded.dictionary
        counts = np.bincount(numpy_of(encoded.indices), minlength=len(variants))
        offsets = np.frombuffer(variants.buffers()[1], dtype=np.int64)[: len(variants) + 1]
        lengths = np.diff(offsets) // width
        shown = _ranked(variants, lengths, counts, top)[: max(top, 0)]
        total = int(counts.sum())
        steps = np.frombuffer(variants.buffers()[2], dtype=f">u{width}")
        with _collector_paused():  # many small lists, none part of a cycle
            rows: list[dict[str, Any]] = [
                {"rank": rank, "variant": names, "journeys": n, "share": share}
                for rank, (names, n, share) in enumerate(
                    zip(
                        self._decode(steps, offsets // width, shown),
                        counts[shown].tolist(),
                        rounded(counts[shown] / total, 6).tolist(),
                        strict=True,
                    ),
                    1,
                )
            ]
        if len(counts) > len(shown):
            rest = total - int(counts[shown].sum())
            share = float(rounded(np.array([rest / total]), 6)[0])
            rows.append({"rank": None, "variant": None, "journeys": rest, "share": share})
        return rows

    def _decode(self, codes: npt.NDArray[Any], bounds: Ints, shown: Ints) -> list[list[str]]:
        """The touchpoints of the journeys `shown`, each as a list: journey i is the run of
        `codes` from `bounds[i]` to `bounds[i + 1]`. When most are shown, all are decoded in
        place (no index of runs to build), then picked."""
        names = np.array(self.names, dtype=object)
        starts, ends = bounds[shown], bounds[shown + 1]
        if 2 * len(shown) >= len(bounds) - 1:
            flat = names[codes].tolist()
            return [flat[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        lengths = ends - starts
        flat = names[codes[_runs(starts, lengths)]].tolist()
        ends = np.cumsum(lengths)
        return [flat[a:b] for a, b in zip((ends - lengths).tolist(), ends.tolist(), strict=True)]

    def paths(
        self, anchor: str, depth: int, top: int, direction: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """As `paths_query`: nodes (depth, activity, customers) and links (depth, source,
        target, customers)."""
        if anchor not in self.names:
            return [], []
        journeys, codes = self.journeys, self.codes
        rows = np.flatnonzero(codes == self.names.index(anchor))
        who = journeys.customer[rows]
        rows = rows[np.append(True, who[1:] != who[:-1])]  # each customer's first anchor
        who = journeys.customer[rows]
        if direction == "from":
            step, room = 1, journeys.first_row[who + 1] - rows
        else:
            step, room = -1, rows - journeys.first_row[who] + 1
        # Names as the SQL groups them: a touchpoint called "other" or "(end)" is that bucket.
        names = list(self.names)
        stop = _index(names, END if direction == "from" else START)
        other = _index(names, OTHER)
        nodes: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        previous: Ints | None = None
        for d in range(depth + 1):
            at = np.full(len(rows), -1, dtype=np.int64)
            inside = room > d
            at[inside] = codes[rows[inside] + step * d]
            at[room == d] = stop  # the journey stopped at the depth before
            named = _bucketed(at, len(names), stop, other, top, names)
            counts = np.bincount(named[named >= 0], minlength=len(names))
            nodes += [
                {"depth": d, "activity": names[a], "customers": int(counts[a])}
                for a in np.flatnonzero(counts).tolist()
            ]
            if previous is not None:
                links += _links(d - 1, previous, named, names)
            previous = named
        nodes.sort(key=lambda n: (n["depth"], -n["customers"], n["activity"]))
        links.sort(key=lambda n: (n["depth"], -n["customers"], n["source"], n["target"]))
        return nodes, links


def _touchpoints(
    journeys: Journeys, touchpoint: str, known: dict[int, str]
) -> tuple[Callable[[int], str], npt.NDArray[np.signedinteger[Any]]]:
    """Each row's touchpoint as a number, and what names a number (the columns read are
    the touchpoint's: `name_code`, `channel_code` or both)."""
    if touchpoint == "channel":
        return CHANNEL_NAMES.__getitem__, journeys.values("channel_code", 0).astype(np.int32)
    name = journeys.values("name_code", -1)
    if len(name) and name.min() < 0:
        raise StoreError(
            "Some events of customer_events have no number for their name",
            "run `parcours identity resolve` to write customer_events again",
        )
    if touchpoint == "name":
        return known.__getitem__, name
    width = max(known) + 1
    channel = journeys.values("channel_code", 0).astype(np.int64)
    return (lambda c: f"{CHANNEL_NAMES[c // width]}:{known[c % width]}"), channel * width + name


def _bucketed(at: Ints, k: int, stop: int, other: int, top: int, names: list[str]) -> Ints:
    """One depth's touchpoints (-1: none) with all but the `top` most frequent as `other`;
    the stop is always kept."""
    counts = np.bincount(at[at >= 0], minlength=k)
    present = np.flatnonzero(counts).tolist()
    ranked = sorted(present, key=lambda a: (a == stop, -counts[a], names[a]))
    keep = np.zeros(k, dtype=bool)
    keep[ranked[: max(top, 0)]] = True
    keep[stop] = True
    return np.where(at < 0, -1, np.where(keep[np.maximum(at, 0)], at, other))


def _links(depth: int, before: Ints, after: Ints, names: list[str]) -> list[dict[str, Any]]:
    """The journeys going from each touchpoint at `depth` (`before`) to each at the next."""
    both = (before >= 0) & (after >= 0)
    k = len(names)
    pairs, pair = _dense(before[both] * k + after[both], k * k)
    counts = np.bincount(pair, minlength=len(pairs))
    return [
        {
            "depth": depth,
            "source": names[pairs[p] // k],
            "target": names[pairs[p] % k],
            "customers": int(counts[p]),
        }
        for p in np.flatnonzero(counts).tolist()
    ]


def _index(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)


def _dense(keys: Ints, size: int) -> tuple[Ints, Ints]:
    """Keys in 0..size-1 numbered for counting with `bincount`: (the key of each number, each
    key's number). As they are when `size` is small; else by rank among the distinct keys."""
    if size <= 4 * len(keys) + (1 << 20):
        return np.arange(size, dtype=np.int64), keys
    found, index = np.unique(keys, return_inverse=True)
    return found, index.reshape(-1)


def _runs(starts: Ints, lengths: Ints) -> Ints:
    """The rows start..start+length-1 of each run, one after the other."""
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(total, dtype=np.int64)


def _binary(data: npt.NDArray[Any], offsets: Ints) -> pa.LargeBinaryArray:
    """`data`'s bytes cut at `offsets` (in bytes), as one binary value per cut, no copy."""
    buffers = [None, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data)]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1, buffers)


def _ranked(variants: pa.LargeBinaryArray, lengths: Ints, counts: Ints, top: int) -> Ints:
    """The variants' indexes in rank order (journeys desc, length, then the touchpoints'
    names element by element, as their bytes compare), enough of them to hold the `top`."""
    import pyarrow.compute as pc  # here: its import is 40 ms that other analyses skip

    order = np.lexsort((lengths, -counts))
    if top < len(order):
        if top <= 0:
            return order[:0]
        # Beyond the top, only the ties of the last one shown can still move into it.
        last = order[top - 1]
        tied = (counts[order[top:]] == counts[last]) & (lengths[order[top:]] == lengths[last])
        order = order[: top + (int(np.argmin(tied)) if not tied.all() else len(tied))]
    table = pa.table(
        {"journeys": counts[order], "length": lengths[order], "steps": variants.take(order)}
    )
    keys = [("journeys", "descending"), ("length", "ascending"), ("steps", "ascending")]
    return order[np.asarray(numpy_of(pc.sort_indices(table, keys)), dtype=np.int64)]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building hundreds of thousands of small lists
    would run it over the growing heap again and again (7x the time, measured on the 250,000
    variants of 10 million events)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
