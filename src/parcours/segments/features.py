"""Per-customer signals as of a date: what the health scores (rules and learned) read.

One query over `customer_events`, run by the engine, answers one row per customer with what a
customer-success team looks at (Gainsight's and ChurnZero's measure groups), each counted over
the days before `as_of` only (nothing at or after it), so a back-test can ask the past:

* usage: visits started in the last 30 days and in the 60 before (visits as
  journeys/visits.py cuts them; each counted once, where it starts), their trend (last 30 days
  minus the monthly mean of the 60 before), days since the last activity, days since the first
  (tenure);
* purchases (`Order Completed` events): count and spend in the last 90 days and ever, days
  since the last;
* support experience over 90 days, from the cases of journeys/contacts.py: contacts, repeat
  contacts (a contact on an intent within 7 days of the one before), unresolved cases (no
  contact of the case settled it), and negative social posts (a post that repeats an open case
  in public, or whose text holds a word of `NEGATIVE_WORDS`);
* engagement with email and SMS over 90 days: messages received, opens, clicks and replies,
  and the share of messages engaged with;
* satisfaction, when events carry it (a `csat` or `satisfaction` property): its mean over 90
  days, NULL otherwise.

Activity is what the customer did: every event except what the company sends (`Email Sent`,
`SMS Sent`...) and records such as CRM rows (`identify`). Customers are those with an activity
before `as_of` (and, with `active_within`, one in that many days before it: the population a
churn label makes sense for).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from parcours.engine import Engine
from parcours.journeys.contacts import PURCHASE, EffortWeights, cases_query, contacts_query
from parcours.journeys.scope import Scope
from parcours.journeys.visits import visits_query
from parcours.segments.scored import EVENTS
from parcours.sql import lit

SENT = ("Email Sent", "SMS Sent", "Push Sent")
"""What the company sends: not the customer's activity."""
ENGAGED = ("Email Opened", "Email Clicked", "Email Replied", "SMS Clicked", "SMS Replied")
NEGATIVE_WORDS = (
    "honteux",
    "déçu",
    "inexistant",
    "plus jamais",
    "toujours rien",
    "arnaque",
    "scandale",
    "😡",
    "disappointed",
    "never again",
    "worst",
    "awful",
    "scam",
)
"""Words that make a public post negative (French and English; lower case). Posts that repeat an
open case in public count whatever their words."""

DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Signal:
    """One signal: its column, measure group, and how it reads in plain words."""

    name: str
    group: str
    words: str
    """A sentence with `{value}` for the customer's value, e.g. "{value} visits in 30 days"."""


SIGNALS: tuple[Signal, ...] = (
    Signal("visits_30d", "usage", "{value} visits in the last 30 days"),
    Signal("visits_prior_60d", "usage", "{value} visits in the 60 days before"),
    Signal("visit_trend", "usage", "visits {value:+} a month against the 60 days before"),
    Signal("days_since_activity", "usage", "last seen {value} days ago"),
    Signal("tenure_days", "usage", "a customer for {value} days"),
    Signal("purchases_90d", "purchases", "{value} purchases in 90 days"),
    Signal("spend_90d", "purchases", "{value} spent in 90 days"),
    Signal("purchases_total", "purchases", "{value} purchases in all"),
    Signal("days_since_purchase", "purchases", "last purchase {value} days ago"),
    Signal("contacts_90d", "support", "{value} service contacts in 90 days"),
    Signal("repeat_contacts_90d", "support", "{value} repeated contacts in 90 days"),
    Signal("unresolved_cases_90d", "support", "{value} unresolved cases in 90 days"),
    Signal("negative_posts_90d", "support", "{value} negative posts in 90 days"),
    Signal("messages_90d", "engagement", "{value} emails and SMS received in 90 days"),
    Signal("opens_90d", "engagement", "{value} emails opened in 90 days"),
    Signal("clicks_90d", "engagement", "{value} clicks in emails and SMS in 90 days"),
    Signal("replies_90d", "engagement", "{value} replies to emails and SMS in 90 days"),
    Signal("engagement_rate_90d", "engagement", "engaged with {value:.0%} of messages"),
    Signal("satisfaction", "satisfaction", "satisfaction {value:.1f}"),
)
SIGNAL_NAMES = tuple(s.name for s in SIGNALS)
BY_NAME = {s.name: s for s in SIGNALS}


def activity_condition() -> str:
    """SQL: the event is something the customer did."""
    sent = ", ".join(lit(n) for n in SENT)
    return f"type <> 'identify' AND coalesce(name, '') NOT IN ({sent})"


def _days_before(as_of: str, days: int) -> str:
    return f"({as_of} - INTERVAL {int(days)} DAY)"


def features_query(
    as_of: dt.datetime,
    *,
    customers: str | None = None,
    active_within: int | None = None,
    events: str = EVENTS,
) -> str:
    """SQL answering `customer_id` and every signal of `SIGNALS` as of `as_of` (events before
    it only), for customers with an activity before it (within `active_within` days of it)."""
    at = f"{lit(as_of.astimezone(dt.UTC).isoformat())}::TIMESTAMPTZ"
    d30, d90 = _days_before(at, 30), _days_before(at, 90)
    since_90 = as_of - dt.timedelta(days=90)
    scope = Scope(until=as_of, customers=customers, table=events)
    recent = Scope(since=since_90, until=as_of, customers=customers, table=events)
    visits = visits_query(recent)
    contacts = "SELECT * FROM contacted"
    cases = cases_query(contacts, EffortWeights())
    sent = ", ".join(lit(n) for n in SENT)
    engaged = ", ".join(lit(n) for n in ENGAGED)
    words = "|".join(w.replace("|", "") for w in NEGATIVE_WORDS)
    negative = f"regexp_matches(lower(coalesce(text, '')), {lit(words)})"
    active = "" if active_within is None else f" WHERE last_at >= {_days_before(at, active_within)}"
    # The JSON is read only where its text names a key (most events carry neither).
    satisfaction = (
        "CASE WHEN properties::VARCHAR LIKE '%csat%' "
        "OR properties::VARCHAR LIKE '%satisfaction%' THEN "
        "TRY_CAST(coalesce(json_extract_string(properties, '$.csat'), "
        "json_extract_string(properties, '$.satisfaction')) AS DOUBLE) END"
    )
    return f"""
        WITH ev AS NOT MATERIALIZED ({scope.events()}),
        contacted AS MATERIALIZED ({contacts_query(recent)}),
        act AS (
            SELECT customer_id, max(occurred_at) AS last_at, min(occurred_at) AS first_at
            FROM ev WHERE {activity_condition()} GROUP BY customer_id
        ),
        pop AS (SELECT * FROM act{active}),
        visit AS (
            SELECT customer_id,
                   count(*) FILTER (WHERE new_visit AND occurred_at >= {d30}) AS recent,
                   count(*) FILTER (WHERE new_visit AND occurred_at < {d30}) AS prior
            FROM ({visits}) GROUP BY customer_id
        ),
        bought AS (
            SELECT customer_id, count(*) AS total, max(occurred_at) AS last_at,
                   count(*) FILTER (WHERE occurred_at >= {d90}) AS recent,
                   coalesce(sum(amount) FILTER (WHERE occurred_at >= {d90}), 0) AS spend
            FROM ev WHERE name = {lit(PURCHASE)} GROUP BY customer_id
        ),
        contact AS (
            SELECT customer_id, count(*) AS contacts,
                   count(*) FILTER (WHERE is_repeat) AS repeats
            FROM ({contacts}) GROUP BY customer_id
        ),
        unresolved AS (
            SELECT customer_id, count(*) FILTER (WHERE NOT resolved) AS cases
            FROM ({cases}) GROUP BY customer_id
        ),
        posts AS (
            SELECT customer_id, count(DISTINCT event_key) AS negative FROM (
                SELECT customer_id, event_key FROM ({contacts})
                WHERE channel = 'social' AND is_repeat
                UNION ALL
                SELECT customer_id, event_key FROM ev
                WHERE channel = 'social' AND occurred_at >= {d90} AND {negative}
            ) GROUP BY customer_id
        ),
        messages AS (
            SELECT customer_id,
                   count(*) FILTER (WHERE name IN ({sent})) AS received,
                   count(*) FILTER (WHERE name ILIKE '%Opened') AS opens,
                   count(*) FILTER (WHERE name ILIKE '%Clicked') AS clicks,
                   count(*) FILTER (WHERE name ILIKE '%Replied') AS replies,
                   count(*) FILTER (WHERE name IN ({engaged})) AS engaged,
                   avg({satisfaction}) AS satisfaction
            FROM ev WHERE occurred_at >= {d90} GROUP BY customer_id
        )
        SELECT pop.customer_id,
               coalesce(visit.recent, 0) AS visits_30d,
               coalesce(visit.prior, 0) AS visits_prior_60d,
               coalesce(visit.recent, 0) - coalesce(visit.prior, 0) / 2 AS visit_trend,
               (epoch_us({at}) - epoch_us(pop.last_at)) // {DAY_US} AS days_since_activity,
               (epoch_us({at}) - epoch_us(pop.first_at)) // {DAY_US} AS tenure_days,
               coalesce(bought.recent, 0) AS purchases_90d,
               coalesce(bought.spend, 0) AS spend_90d,
               coalesce(bought.total, 0) AS purchases_total,
               (epoch_us({at}) - epoch_us(bought.last_at)) // {DAY_US} AS days_since_purchase,
               coalesce(contact.contacts, 0) AS contacts_90d,
               coalesce(contact.repeats, 0) AS repeat_contacts_90d,
               coalesce(unresolved.cases, 0) AS unresolved_cases_90d,
               coalesce(posts.negative, 0) AS negative_posts_90d,
               coalesce(messages.received, 0) AS messages_90d,
               coalesce(messages.opens, 0) AS opens_90d,
               coalesce(messages.clicks, 0) AS clicks_90d,
               coalesce(messages.replies, 0) AS replies_90d,
               CASE WHEN coalesce(messages.received, 0) > 0
                    THEN least(messages.engaged / messages.received, 1.0) END
                   AS engagement_rate_90d,
               messages.satisfaction AS satisfaction
        FROM pop
        LEFT JOIN visit USING (customer_id) LEFT JOIN bought USING (customer_id)
        LEFT JOIN contact USING (customer_id) LEFT JOIN unresolved USING (customer_id)
        LEFT JOIN posts USING (customer_id) LEFT JOIN messages USING (customer_id)
        ORDER BY pop.customer_id
    """


@dataclass(frozen=True)
class Features:
    """Signals as numbers: `ids[i]`'s value of signal `s` is `values[s][i]` (NaN: none)."""

    as_of: dt.datetime
    ids: list[str]
    values: dict[str, npt.NDArray[np.float64]]

    def __len__(self) -> int:
        return len(self.ids)


def read_features(
    engine: Engine,
    as_of: dt.datetime,
    *,
    customers: str | None = None,
    active_within: int | None = None,
    events: str = EVENTS,
) -> Features:
    """The signals of `features_query`, read as numpy columns."""
    table: pa.Table = engine.query(
        features_query(as_of, customers=customers, active_within=active_within, events=events)
    )
    values = {
        name: np.asarray(
            table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        for name in SIGNAL_NAMES
    }
    return Features(as_of, [str(i) for i in table.column("customer_id").to_pylist()], values)


def activity_end(engine: Engine) -> dt.datetime | None:
    """The instant just after the last activity in the store (None: no activity)."""
    last = engine.scalar(
        f"SELECT max(occurred_at) FROM customer_events WHERE {activity_condition()}"
    )
    if last is None:
        return None
    at: dt.datetime = last
    return at.astimezone(dt.UTC) + dt.timedelta(microseconds=1)


def churn_labels_query(as_of: dt.datetime, horizon_days: int, *, active_within: int) -> str:
    """SQL: `customer_id, churned` for the customers active in the `active_within` days before
    `as_of`; churned when they did nothing in the `horizon_days` from `as_of` on (the observed
    outcome the learned model fits)."""
    at = f"{lit(as_of.astimezone(dt.UTC).isoformat())}::TIMESTAMPTZ"
    return f"""
        SELECT customer_id,
               count(*) FILTER (WHERE occurred_at >= {at}) = 0 AS churned
        FROM customer_events
        WHERE {activity_condition()}
          AND occurred_at >= {_days_before(at, active_within)}
          AND occurred_at < ({at} + INTERVAL {int(horizon_days)} DAY)
        GROUP BY customer_id
        HAVING count(*) FILTER (WHERE occurred_at < {at}) > 0
    """
