"""Cohorts: retention and repeat purchase by the month customers were first seen, or by the
channel that brought them.

A customer's cohort is the month of their first event in the scope (or its channel: the
acquisition channel). For each cohort and each month since, among the customers the data can
show that far (first seen at least that many months before the data ends): the share active
that month (any event: retention) and the share who have bought at least twice by then (repeat
purchase), with the cohort's size and buyers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from parcours.errors import BadRequest
from parcours.journeys.scope import Scope
from parcours.sql import lit
from parcours.store.store import Store

By = Literal["month", "channel"]


def cohorts_query(scope: Scope, conversion: str, by: str, months: int) -> str:
    """Per cohort and month since first seen: customers, active, retention, repeat buyers."""
    if by not in ("month", "channel"):
        raise BadRequest(f"Cannot make cohorts by {by!r}", "use month or channel")
    cohort = "strftime(first_at, '%Y-%m')" if by == "month" else "first_channel"
    return f"""
        WITH e AS (
            SELECT customer_id, occurred_at, source, event_id, channel,
                   coalesce(name = {lit(conversion)}, false) AS buys
            FROM ({scope.events()})
        ),
        firsts AS (
            SELECT customer_id, min(occurred_at) AS first_at,
                   arg_min(channel, (occurred_at, source, event_id)) AS first_channel
            FROM e GROUP BY customer_id
        ),
        cohort AS (
            SELECT customer_id, first_at, {cohort} AS cohort,
                   datediff('month', date_trunc('month', first_at),
                            date_trunc('month', (SELECT max(occurred_at) FROM e)))
                       AS observable_months
            FROM firsts
        ),
        sizes AS (SELECT cohort, count(*) AS customers FROM cohort GROUP BY cohort),
        activity AS (
            SELECT c.cohort, c.customer_id, c.observable_months,
                   datediff('month', date_trunc('month', c.first_at),
                            date_trunc('month', e.occurred_at)) AS month,
                   count(*) FILTER (WHERE e.buys) AS purchases
            FROM e JOIN cohort c USING (customer_id) GROUP BY ALL
        ),
        running AS (
            SELECT *, sum(purchases) OVER (PARTITION BY customer_id ORDER BY month) AS bought
            FROM activity
        ),
        grid AS (
            SELECT cohort, month FROM sizes, range(0, {int(months) + 1}) AS r(month)
        ),
        observable AS (
            SELECT g.cohort, g.month, count(c.customer_id) AS observed FROM grid g
            LEFT JOIN cohort c ON c.cohort = g.cohort AND c.observable_months >= g.month
            GROUP BY ALL
        ),
        per_month AS (
            SELECT g.cohort, g.month,
                   count(DISTINCT r.customer_id) FILTER (WHERE r.month = g.month) AS active,
                   count(DISTINCT r.customer_id) FILTER (
                       WHERE r.month <= g.month AND r.bought >= 2) AS repeat_buyers,
                   count(DISTINCT r.customer_id) FILTER (
                       WHERE r.month <= g.month AND r.bought >= 1) AS buyers
            FROM grid g LEFT JOIN running r ON r.cohort = g.cohort AND r.month <= g.month
                                         AND r.observable_months >= g.month
            GROUP BY ALL
        )
        SELECT p.cohort, s.customers, p.month, o.observed, p.active,
               round(p.active / nullif(o.observed, 0), 4) AS retention,
               p.buyers, p.repeat_buyers,
               round(p.repeat_buyers / nullif(o.observed, 0), 4) AS repeat_purchase_rate
        FROM per_month p JOIN sizes s USING (cohort) JOIN observable o USING (cohort, month)
        WHERE o.observed > 0
        ORDER BY p.cohort, p.month
    """


@dataclass
class Cohorts:
    """`journeys cohorts` as data; `to_dict()` is the stable JSON."""

    by: str
    conversion: str
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    """One row per cohort and month since first seen."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cohorts(
    store: Store,
    scope: Scope | None = None,
    *,
    by: By | str = "month",
    conversion: str = "Order Completed",
    months: int = 12,
) -> Cohorts:
    """Retention and repeat purchase per cohort; see the module's docstring."""
    rows = store.engine.query(cohorts_query(scope or Scope(), conversion, by, months)).to_pylist()
    return Cohorts(str(by), conversion, rows)
