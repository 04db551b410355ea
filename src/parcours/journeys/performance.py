"""Which touchpoints and which agents work: reach, what follows them, resolution, effort.

**Touchpoints** (a channel × event name by default): how many customers reach each, and what
happens after their first time there compared with everyone in the scope — the share who
convert afterwards (within the window, 30 days by default) and the share who churn (no event in
the last `churn_days` of the data). The differences are the touchpoint's lifts; the
**moments of truth** are the touchpoints with the largest lifts, either way, among those that
reach enough customers. For contact touchpoints (events with an intent), the share of the cases
they opened that they settled at once: their first-contact resolution.

**Agents and teams**: the contacts each handled; the first contacts among them and the share
settled at once (first-contact resolution); the share followed by a repeat (repeats caused:
the customer had to come back); handle time (median and mean `duration_seconds`), the wait
before it, and the outcomes. Contacts and cases are those of `journeys.contacts`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from parcours.journeys.contacts import CHURN_DAYS, REPEAT_WINDOW, contacts_query
from parcours.journeys.scope import Scope, Touchpoint, parse_duration, touchpoint_sql
from parcours.sql import lit
from parcours.store.store import Store

MIN_REACH = 30
"""A moment of truth needs this many customers: a lift over five customers is noise."""


def touchpoints_query(
    scope: Scope,
    conversion: str,
    touchpoint: Touchpoint | str,
    window: float,
    churn_days: int,
) -> str:
    """Per touchpoint: reach, conversion and churn after it, and the lifts over everyone."""
    converts = f"coalesce(name = {lit(conversion)}, false)"
    return f"""
        WITH e AS (
            SELECT customer_id, occurred_at, {touchpoint_sql(touchpoint)} AS touchpoint,
                   {converts} AS converts
            FROM ({scope.events()})
        ),
        data_end AS (SELECT max(occurred_at) AS ended_at FROM e),
        customers AS (
            SELECT customer_id, max(occurred_at) < (SELECT ended_at FROM data_end)
                       - INTERVAL {int(churn_days)} DAY AS churned,
                   list(occurred_at) FILTER (WHERE converts) AS conversions
            FROM e GROUP BY customer_id
        ),
        firsts AS (
            SELECT touchpoint, customer_id, min(occurred_at) AS first_at, count(*) AS events
            FROM e GROUP BY ALL
        ),
        reached AS (
            SELECT f.touchpoint, count(*) AS customers, sum(f.events)::BIGINT AS events,
                   avg(coalesce(list_bool_or(list_transform(c.conversions, lambda t:
                       t > f.first_at AND t <= f.first_at + to_seconds({window!r}))), false)
                       ::INTEGER) AS conversion_after,
                   avg(c.churned::INTEGER) AS churn_after
            FROM firsts f JOIN customers c USING (customer_id) GROUP BY f.touchpoint
        ),
        everyone AS (
            SELECT avg((len(coalesce(conversions, [])) > 0)::INTEGER) AS conversion,
                   avg(churned::INTEGER) AS churn
            FROM customers
        )
        SELECT r.touchpoint, r.customers, r.events,
               round(r.conversion_after, 4) AS conversion_after,
               round(r.conversion_after - e.conversion, 4) AS conversion_lift,
               round(r.churn_after, 4) AS churn_after,
               round(r.churn_after - e.churn, 4) AS churn_lift
        FROM reached r, everyone e
        ORDER BY r.customers DESC, r.touchpoint
    """


def touchpoint_resolution_query(contacts: str, touchpoint: Touchpoint | str) -> str:
    """Per contact touchpoint: the cases it opened, and the share it settled at once."""
    return f"""
        SELECT {touchpoint_sql(touchpoint)} AS touchpoint, count(*) AS cases_opened,
               round(avg((settles)::INTEGER), 4) AS first_contact_resolution
        FROM ({contacts}) WHERE NOT is_repeat GROUP BY ALL
    """


@dataclass
class TouchpointPerformance:
    """`journeys touchpoints` as data; `to_dict()` is the stable JSON."""

    conversion: str
    customers: int
    conversion_rate: float | None
    churn_rate: float | None
    touchpoints: list[dict[str, Any]] = field(default_factory=list)
    moments_of_truth: list[dict[str, Any]] = field(default_factory=list)
    """The touchpoints with the largest conversion or churn lift (reach >= MIN_REACH)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def touchpoints(
    store: Store,
    scope: Scope | None = None,
    *,
    conversion: str = "Order Completed",
    touchpoint: Touchpoint | str = "channel:name",
    window: str | float = "30d",
    churn_days: int = CHURN_DAYS,
    top: int = 10,
) -> TouchpointPerformance:
    """Reach, lifts, first-contact resolution per touchpoint, and the moments of truth."""
    scope = scope or Scope()
    engine = store.engine
    rows = engine.query(
        touchpoints_query(scope, conversion, touchpoint, parse_duration(window), churn_days)
    ).to_pylist()
    resolution = {
        r["touchpoint"]: r
        for r in engine.query(
            touchpoint_resolution_query(contacts_query(scope), touchpoint)
        ).to_pylist()
    }
    for row in rows:
        found = resolution.get(row["touchpoint"], {})
        row["cases_opened"] = found.get("cases_opened", 0)
        row["first_contact_resolution"] = found.get("first_contact_resolution")
    overall = engine.query(
        f"""SELECT count(*) AS customers,
                   round(avg(converted::INTEGER), 4) AS conversion,
                   round(avg(churned::INTEGER), 4) AS churn
            FROM (SELECT customer_id, bool_or(coalesce(name = {lit(conversion)}, false))
                             AS converted,
                         max(occurred_at) < (SELECT max(occurred_at) FROM ({scope.events()}))
                             - INTERVAL {int(churn_days)} DAY AS churned
                  FROM ({scope.events()}) GROUP BY customer_id)"""
    ).to_pylist()[0]
    eligible = [r for r in rows if r["customers"] >= MIN_REACH]
    moments = sorted(
        eligible,
        key=lambda r: -max(abs(r["conversion_lift"] or 0.0), abs(r["churn_lift"] or 0.0)),
    )[:top]
    return TouchpointPerformance(
        conversion, overall["customers"], overall["conversion"], overall["churn"], rows, moments
    )


def agents_query(contacts: str, by: str) -> str:
    """Per agent (or team): contacts, first contacts and their resolution, repeats caused,
    handle and wait times, outcomes."""
    return f"""
        WITH c AS (SELECT * FROM ({contacts}) WHERE {by} IS NOT NULL),
        figures AS (
            SELECT {by}, count(*) AS contacts,
                   count(*) FILTER (WHERE NOT is_repeat) AS first_contacts,
                   round(avg(settles::INTEGER) FILTER (WHERE NOT is_repeat), 4)
                       AS first_contact_resolution,
                   round(avg(followed_by_repeat::INTEGER), 4) AS repeat_rate,
                   median(duration_seconds) AS median_handle_seconds,
                   round(avg(duration_seconds), 1) AS mean_handle_seconds,
                   round(avg(wait_seconds), 1) AS mean_wait_seconds
            FROM c GROUP BY {by}
        ),
        outcomes AS (
            SELECT {by}, map_from_entries(list((outcome, n) ORDER BY outcome)) AS outcomes
            FROM (SELECT {by}, coalesce(lower(outcome), 'unknown') AS outcome, count(*) AS n
                  FROM c GROUP BY ALL)
            GROUP BY {by}
        )
        SELECT * FROM figures JOIN outcomes USING ({by}) ORDER BY contacts DESC, {by}
    """


@dataclass
class AgentPerformance:
    """`journeys agents` as data; `to_dict()` is the stable JSON."""

    agents: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def agents(
    store: Store, scope: Scope | None = None, *, window: str | float = REPEAT_WINDOW
) -> AgentPerformance:
    """Per agent and per team: see the module's docstring."""
    contacts = contacts_query(scope or Scope(), window)
    engine = store.engine
    rows = [
        [
            {**r, "outcomes": dict(r["outcomes"])}
            for r in engine.query(agents_query(contacts, by)).to_pylist()
        ]
        for by in ("agent", "team")
    ]
    return AgentPerformance(rows[0], rows[1])
