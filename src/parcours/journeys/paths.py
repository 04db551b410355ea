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
  "other" and the journeys that stop marked "(end)" — every depth adds up to the customers who
  did the anchor, the number a funnel starting there shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from parcours.errors import BadRequest
from parcours.journeys.scope import Scope, Touchpoint, touchpoint_sql
from parcours.journeys.visits import GAP, ORDER, visits_query
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
    journeys = journeys_query(scope or Scope(), touchpoint, case, gap)
    engine = store.engine
    ends = engine.query(ends_query(journeys)).to_pylist()
    return JourneyMap(
        touchpoint,
        case,
        sum(e["starts"] for e in ends),
        engine.query(dfg_query(journeys)).to_pylist(),
        ends,
    )


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
    journeys = journeys_query(scope or Scope(), touchpoint, case, gap)
    rows: list[dict[str, Any]] = store.engine.query(variants_query(journeys, top)).to_pylist()
    return rows


@dataclass
class Paths:
    """`journeys paths` as data; `to_dict()` is the stable JSON."""

    anchor: str
    direction: str
    depth: int
    customers: int
    """Journeys that reach the anchor: every depth adds up to this."""
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
    journeys = journeys_query(scope or Scope(), touchpoint, case, gap)
    rows = store.engine.query(paths_query(journeys, anchor, depth, top, direction)).to_pylist()
    nodes = [
        {"depth": r["depth"], "activity": r["source"], "customers": r["customers"]}
        for r in rows
        if r["kind"] == "node"
    ]
    links = [
        {
            "depth": r["depth"],
            "source": r["source"],
            "target": r["target"],
            "customers": r["customers"],
        }
        for r in rows
        if r["kind"] == "link"
    ]
    customers = sum(n["customers"] for n in nodes if n["depth"] == 0)
    return Paths(anchor, direction, depth, customers, nodes, links)
