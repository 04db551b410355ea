"""Success milestones: time-bounded objectives counted from a start event.

A milestone is "3 app sessions and a purchase within 30 days of enrolling in the loyalty
programme" (the shipped `onboarding` template): a start event (a name, optionally a channel and
property values: sign-up, loyalty enrolment, first purchase, contract start), objectives (at
least N events matching a name, a channel, property values) and a deadline in days. A
customer's clock starts at their first start event; an objective counts the matching events
from that instant until the deadline (exclusive).

Status as of an instant `as_of` (events before it count):

- **achieved**, at the instant the last objective was met (the Nth event of each);
- **missed**, the deadline passed (at or before `as_of`) with an objective unmet;
- still running, it is **on track** or **at risk** by the projected attainment date: each
  unmet objective is projected at its current rate (count so far over time elapsed since the
  start: N events take elapsed × N / count), the milestone at the latest objective; on track
  if that comes before the deadline, at risk if it comes after — or never: an objective with
  no event yet has no rate, so a customer who has done nothing towards one is at risk.

The per-customer value is the progress share (the mean over objectives of count / N, at most
1 each); per cohort (the month of the start) the funnel counts customers started, meeting each
objective, and achieving. Everything is one query over `customer_events` (pure builders below);
`write_scores` keeps each customer's status as the score `milestone:<name>`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from parcours.segments.milestone_definition import MilestoneDefinition, Objective, event_match
from parcours.segments.scored import EVENTS, save_model, write_scores
from parcours.sql import lit
from parcours.store.store import Store

STATUSES = ("achieved", "on_track", "at_risk", "missed")
VERSION = "1"


def _instant(at: dt.datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return f"TIMESTAMPTZ {lit(at.astimezone(dt.UTC).isoformat())}"


def _counted(k: int) -> str:
    return f"c{k}"


def _met(k: int) -> str:
    return f"m{k}"


def progress_query(
    definition: MilestoneDefinition,
    as_of: dt.datetime,
    customers: str | None = None,
    events: str = EVENTS,
) -> str:
    """One row per customer who started before `as_of`: `customer_id, started_at, deadline`,
    each objective's count `c<k>` and the instant it was met `m<k>` (k from 0)."""
    at = _instant(as_of)
    only = "" if customers is None else f" AND customer_id IN ({customers})"
    hits = " UNION ALL ".join(
        f"SELECT {k} AS k, customer_id, occurred_at, event_key FROM {events} "
        f"WHERE {event_match(o.event, o.channel, o.properties)}{only}"
        for k, o in enumerate(definition.objectives)
    )
    pivots = ", ".join(
        f"count(h.k) FILTER (WHERE h.k = {k}) AS {_counted(k)}, "
        f"min(h.occurred_at) FILTER (WHERE h.k = {k} AND h.n = {o.at_least}) AS {_met(k)}"
        for k, o in enumerate(definition.objectives)
    )
    start = definition.start
    return f"""
        WITH starts AS (
            SELECT customer_id, min(occurred_at) AS started_at FROM {events}
            WHERE {event_match(start.event, start.channel, start.properties)}
              AND occurred_at < {at}{only}
            GROUP BY customer_id
        ),
        clocks AS (
            SELECT customer_id, started_at,
                   started_at + INTERVAL {int(definition.deadline_days)} DAY AS deadline
            FROM starts
        ),
        hits AS (
            SELECT h.k, h.customer_id, h.occurred_at,
                   row_number() OVER (PARTITION BY h.customer_id, h.k
                                      ORDER BY h.occurred_at, h.event_key) AS n
            FROM ({hits}) h JOIN clocks c USING (customer_id)
            WHERE h.occurred_at >= c.started_at AND h.occurred_at < least(c.deadline, {at})
        )
        SELECT c.customer_id, c.started_at, c.deadline, {pivots}
        FROM clocks c LEFT JOIN hits h USING (customer_id)
        GROUP BY c.customer_id, c.started_at, c.deadline
    """


def status_query(definition: MilestoneDefinition, progress: str, as_of: dt.datetime) -> str:
    """`progress_query`'s rows with `achieved_at`, `projected_at`, `status` and `progress`."""
    at = _instant(as_of)
    objectives = list(enumerate(definition.objectives))
    met = [_met(k) for k, _ in objectives]
    elapsed = f"(epoch({at}) - epoch(started_at))"
    projected = [
        f"CASE WHEN {_met(k)} IS NOT NULL THEN {_met(k)} WHEN {_counted(k)} > 0 THEN "
        f"started_at + to_seconds({elapsed} * {o.at_least} / {_counted(k)}) END"
        for k, o in objectives
    ]
    all_met = " AND ".join(f"{m} IS NOT NULL" for m in met)
    all_projected = " AND ".join(f"({p}) IS NOT NULL" for p in projected)
    shares = " + ".join(f"least({_counted(k)}, {o.at_least}) / {o.at_least}" for k, o in objectives)
    return f"""
        WITH p AS (
            SELECT *,
                   CASE WHEN {all_met} THEN greatest({", ".join(met)}) END AS achieved_at,
                   CASE WHEN {all_projected} THEN greatest({", ".join(projected)}) END
                       AS projection
            FROM ({progress})
        )
        SELECT *,
               CASE WHEN achieved_at IS NOT NULL THEN 'achieved'
                    WHEN deadline <= {at} THEN 'missed'
                    WHEN projection < deadline THEN 'on_track'
                    ELSE 'at_risk' END AS status,
               CASE WHEN achieved_at IS NULL AND deadline > {at} THEN projection END
                   AS projected_at,
               ({shares}) / {len(objectives)} AS progress
        FROM p
    """


def scores_query(definition: MilestoneDefinition, statuses: str) -> str:
    """`write_scores` rows: the status as the label, the progress as the value, the counts and
    the dates as details."""
    counts = ", ".join(f"{lit(o.name)}, {_counted(k)}" for k, o in enumerate(definition.objectives))
    return f"""
        SELECT customer_id, progress AS value, status AS label,
               to_json({{'started_at': started_at, 'deadline': deadline,
                        'achieved_at': achieved_at, 'projected_at': projected_at,
                        'objectives': json_object({counts})}}) AS details
        FROM ({statuses})
    """


@dataclass(frozen=True)
class MilestoneResult:
    """Each customer's milestone status as of `as_of`, and the funnel of each start month."""

    milestone: str
    as_of: dt.datetime
    objectives: list[str]
    customers: list[dict[str, Any]]
    """customer_id, started_at, deadline, counts (per objective), achieved_at, projected_at,
    status, progress; by start, then customer."""
    cohorts: list[dict[str, Any]]
    """cohort (start month, YYYY-MM), started, met (per objective), achieved, on_track,
    at_risk, missed."""
    written: int | None = None
    """Customers whose score `milestone:<name>` was written (None: not written)."""

    def to_dict(self) -> dict[str, Any]:
        return orjson.loads(orjson.dumps(asdict(self)))  # type: ignore[no-any-return]


def milestones(
    store: Store,
    definition: MilestoneDefinition,
    *,
    as_of: dt.datetime | None = None,
    customers: str | None = None,
    events: str = EVENTS,
    write: bool = True,
) -> MilestoneResult:
    """Every customer's status on `definition` as of `as_of` (default: the latest event stored,
    so a store of past data is read as of its end), with the funnel of each start month; with
    `write`, also kept as the score `milestone:<name>` (for the customers `customers`, SQL
    selecting `customer_id`, selects; default: all)."""
    engine = store.engine
    if as_of is None:
        latest = engine.query("SELECT max(occurred_at) AS at FROM customer_events").column(0)
        as_of = latest[0].as_py() or dt.datetime.now(dt.UTC)
    statuses = status_query(definition, progress_query(definition, as_of, customers, events), as_of)
    rows = engine.query(f"{statuses} ORDER BY started_at, customer_id").to_pylist()
    names = [o.name for o in definition.objectives]
    listed = [_customer_row(row, definition.objectives) for row in rows]
    cohorts = _cohorts(rows, definition.objectives)
    written = None
    if write:
        written = write_scores(
            engine,
            f"milestone:{definition.name}",
            scores_query(definition, statuses),
            version=VERSION,
            customers_sql=customers,
        ).scored
        if customers is None:  # the definition, for the refreshes of touched customers
            save_model(
                engine, f"milestone:{definition.name}", VERSION, definition.model_dump(mode="json")
            )
    return MilestoneResult(definition.name, as_of, names, listed, cohorts, written)


def _customer_row(row: dict[str, Any], objectives: list[Objective]) -> dict[str, Any]:
    return {
        "customer_id": row["customer_id"],
        "started_at": row["started_at"],
        "deadline": row["deadline"],
        "counts": {o.name: row[_counted(k)] for k, o in enumerate(objectives)},
        "achieved_at": row["achieved_at"],
        "projected_at": row["projected_at"],
        "status": row["status"],
        "progress": round(float(row["progress"]), 4),
    }


def _cohorts(rows: list[dict[str, Any]], objectives: list[Objective]) -> list[dict[str, Any]]:
    """The funnel of each start month (UTC), from `status_query`'s rows in start order."""
    cohorts: dict[str, dict[str, Any]] = {}
    for row in rows:
        month = row["started_at"].astimezone(dt.UTC).strftime("%Y-%m")
        cohort = cohorts.setdefault(
            month,
            {
                "cohort": month,
                "started": 0,
                "met": {o.name: 0 for o in objectives},
                **dict.fromkeys(STATUSES, 0),
            },
        )
        cohort["started"] += 1
        for k, o in enumerate(objectives):
            cohort["met"][o.name] += row[_met(k)] is not None
        cohort[row["status"]] += 1
    return list(cohorts.values())
