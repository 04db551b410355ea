"""Each customer's purchase history as the buy-till-you-die models read it, computed by the
engine from `customer_events`.

A purchase is an event of one name (`Order Completed` unless told otherwise); purchases on the
same (UTC) day are one purchase whose value is their total, as in the papers' CDNOW data (Fader,
Hardie & Lee 2005 count purchase days). For the customers who bought by `calibration_end`
(a day, included):

- `frequency`: repeat purchases, the purchase days after the first, up to `calibration_end`;
- `recency` (t_x): the time from the first purchase day to the last one, up to then;
- `T`: the time from the first purchase day to `calibration_end`;
- `monetary`: the mean value of the repeat purchases (0 with none), the first one left out
  since it is said to differ in kind (Fader & Hardie 2013);
- with an `observation_end` after it, `frequency_holdout` (purchase days after
  `calibration_end`, up to `observation_end` included) and `duration_holdout`.

Times are in `unit`: days, or weeks (days / 7, so a week-based fit still merges by day).
Amounts are summed as decimals (exact, whatever the order the engine adds them in), so the
same purchases give the same summary, and the same fit, every time.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pyarrow as pa

from parcours.errors import ParcoursError, QueryError
from parcours.journeys.contacts import PURCHASE
from parcours.segments.scored import EVENTS
from parcours.sql import lit
from parcours.store.store import Store

Unit = Literal["days", "weeks"]
DAYS_IN: dict[str, int] = {"days": 1, "weeks": 7}


def purchase_summary_query(
    *,
    calibration_end: dt.date,
    observation_end: dt.date | None = None,
    purchase_event: str = PURCHASE,
    unit: Unit = "days",
    customers: str | None = None,
    events: str = EVENTS,
) -> str:
    """SQL answering one row per customer who bought by `calibration_end`: customer_id,
    frequency, recency, T, monetary (and the hold-out columns with `observation_end`)."""
    if unit not in DAYS_IN:
        raise QueryError(f"Unknown time unit {unit!r}", "use days or weeks")
    end = observation_end or calibration_end
    if end < calibration_end:
        raise QueryError(
            f"The observation ends ({end}) before the calibration does ({calibration_end})",
            "give an observation end on or after the calibration end",
        )
    days = DAYS_IN[unit]
    calibration = f"DATE {lit(calibration_end.isoformat())}"
    in_scope = "" if customers is None else f" AND customer_id IN ({customers})"
    holdout = (
        ""
        if observation_end is None
        else f""",
            count(*) FILTER (WHERE day > {calibration}) AS frequency_holdout,
            datediff('day', {calibration}, DATE {lit(end.isoformat())}) / {days}
                AS duration_holdout"""
    )
    return f"""
        WITH days AS (
            SELECT customer_id, CAST(occurred_at AS DATE) AS day,
                   sum(coalesce(amount, 0)) AS spend
            FROM {events}
            WHERE name = {lit(purchase_event)}
              AND CAST(occurred_at AS DATE) <= DATE {lit(end.isoformat())}{in_scope}
            GROUP BY ALL
        ),
        firsts AS (
            SELECT customer_id, min(day) AS first_day FROM days
            WHERE day <= {calibration} GROUP BY customer_id
        )
        SELECT customer_id,
               count(*) FILTER (WHERE day <= {calibration}) - 1 AS frequency,
               datediff('day', first_day, max(day) FILTER (WHERE day <= {calibration}))
                   / {days} AS recency,
               datediff('day', first_day, {calibration}) / {days} AS "T",
               coalesce(CAST(sum(spend) FILTER (WHERE day <= {calibration} AND day > first_day)
                   AS DOUBLE) / nullif(count(*) FILTER (WHERE day <= {calibration}) - 1, 0), 0)
                   AS monetary{holdout}
        FROM days JOIN firsts USING (customer_id)
        GROUP BY customer_id, first_day
        ORDER BY customer_id
    """


def purchase_summary(
    store: Store,
    *,
    calibration_end: dt.date,
    observation_end: dt.date | None = None,
    purchase_event: str = PURCHASE,
    unit: Unit = "days",
    customers: str | None = None,
    events: str = EVENTS,
) -> pa.Table:
    """The purchase summary (see the module's docstring) as an Arrow table, one row per
    customer who bought by `calibration_end`; `customers` (SQL selecting `customer_id`)
    restricts it (and `events` names where their events are read)."""
    if customers is not None:
        check_customers(store, customers)
    return store.engine.query(
        purchase_summary_query(
            calibration_end=calibration_end,
            observation_end=observation_end,
            purchase_event=purchase_event,
            unit=unit,
            customers=customers,
            events=events,
        )
    )


def check_customers(store: Store, customers: str) -> None:
    """Refuse, with the engine's reason, a `customers` query that cannot be run."""
    try:
        store.engine.query(f"SELECT customer_id FROM ({customers}) LIMIT 0")
    except ParcoursError:
        raise
    except Exception as error:
        raise QueryError(
            f"The customers query {customers!r} cannot be run: {str(error).splitlines()[0]}",
            'give a query answering a customer_id column, e.g. "SELECT customer_id FROM '
            "customer_scores WHERE score = 'tier' AND label = 'gold'\"",
        ) from None
