"""Visits: a customer's events cut into numbered visits, and conversion by visit number.

A visit on a browsing channel (web and app by default) is a run of events on that channel
with no gap longer than the inactivity gap (30 minutes, as Google Analytics and Adobe count
sessions), and no change of the sender's own session id when both events carry one. An event
on any other channel — a store purchase, a call, a chat — is a visit of its own. Visits are
numbered per customer from 1, in time order, across every channel in the scope: "the 4th
visit" is the 4th time this customer came, wherever. What the company sends (email, SMS) and
records such as CRM rows are not visits, unless the scope names those channels.

Conversion by visit number answers what changes between the 1st and the 4th visit: for each
visit number k, how many customers made a k-th visit, how many of those visits converted, how
many customers converted for the first time then (share of all converters, and rate among
those who reached visit k without having converted: the hazard), and the channel mix.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from parcours.journeys.ordered import read_journeys
from parcours.journeys.scope import Scope, parse_duration
from parcours.sql import lit
from parcours.store.store import Store

GAP = "30m"
BROWSING = ("web", "app")
VISIT_CHANNELS = ("web", "app", "store", "call", "chat", "video", "social")
"""Where a customer comes to the company. Email and SMS are what the company sends (a click
shows up as the web visit it opens), `other` holds records such as CRM rows: none is a visit,
unless a scope names its channels."""
ORDER = "occurred_at, event_key"
"""Within a customer, events in time; at the same instant, one fixed order everywhere (see
`customer_events`)."""


def visits_query(
    scope: Scope, *, gap: str | float = GAP, browsing: tuple[str, ...] = BROWSING
) -> str:
    """Every scoped event with its `visit_number` (and `new_visit` on a visit's first event);
    events on the `VISIT_CHANNELS` unless the scope names channels."""
    seconds = parse_duration(gap)
    if not scope.channels:
        scope = replace(scope, channels=VISIT_CHANNELS)
    sessioned = f"channel IN ({', '.join(lit(c) for c in browsing)})" if browsing else "false"
    return f"""
        WITH ordered AS (
            SELECT *,
                   lag(occurred_at) OVER w AS previous_at,
                   lag(channel) OVER w AS previous_channel,
                   lag(session_id) OVER w AS previous_session
            FROM ({scope.events()})
            WINDOW w AS (PARTITION BY customer_key ORDER BY {ORDER})
        ),
        cut AS (
            SELECT * EXCLUDE (previous_at, previous_channel, previous_session),
                   (previous_at IS NULL OR NOT ({sessioned})
                    OR channel <> previous_channel
                    OR epoch_us(occurred_at) - epoch_us(previous_at) > {int(seconds * 1e6)}
                    OR coalesce(session_id <> previous_session, false)) AS new_visit
            FROM ordered
        )
        SELECT *, sum(new_visit::INTEGER) OVER (
                   PARTITION BY customer_key ORDER BY {ORDER}
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)::BIGINT AS visit_number
        FROM cut
    """


def visit_table_query(events_with_visits: str, conversion: str) -> str:
    """One row per visit: customer, number, channel, start, end, events, conversions."""
    return f"""
        SELECT customer_id, visit_number, arg_min(channel, occurred_at) AS channel,
               min(occurred_at) AS started_at, max(occurred_at) AS ended_at,
               count(*) AS events,
               count(*) FILTER (WHERE name = {lit(conversion)}) AS conversions
        FROM ({events_with_visits}) GROUP BY customer_id, visit_number
    """


def conversion_by_visit_query(visit_table: str, max_visit: int) -> str:
    """Per visit number k (visits past `max_visit` folded into it): visits, converting visits,
    conversions, customers converting for the first time, the rates, and the channel mix."""
    return f"""
        WITH v AS (
            SELECT *, least(visit_number, {int(max_visit)}) AS k,
                   min(visit_number) FILTER (WHERE conversions > 0)
                       OVER (PARTITION BY customer_id) AS first_conversion
            FROM ({visit_table})
        ),
        per_k AS (
            SELECT k AS visit_number,
                   count(*) AS visits,
                   count(DISTINCT customer_id) AS customers,
                   count(*) FILTER (WHERE conversions > 0) AS converting_visits,
                   sum(conversions)::BIGINT AS conversions,
                   count(DISTINCT customer_id) FILTER (WHERE visit_number = first_conversion)
                       AS first_conversions,
                   count(DISTINCT customer_id) FILTER (
                       WHERE first_conversion IS NULL OR first_conversion >= visit_number)
                       AS at_risk
            FROM v GROUP BY k
        ),
        mix AS (
            SELECT k AS visit_number, map_from_entries(list((channel, n) ORDER BY channel))
                       AS channel_mix,
                   map_from_entries(list((channel, converting) ORDER BY channel))
                       AS converting_channel_mix
            FROM (SELECT k, channel, count(*) AS n,
                         count(*) FILTER (WHERE conversions > 0) AS converting
                  FROM v GROUP BY ALL)
            GROUP BY k
        )
        SELECT p.visit_number, p.customers, p.visits, p.converting_visits, p.conversions,
               round(p.converting_visits / p.visits, 4) AS visit_conversion_rate,
               p.first_conversions,
               round(p.first_conversions / nullif(sum(p.first_conversions) OVER (), 0), 4)
                   AS share_of_converters,
               round(p.first_conversions / nullif(p.at_risk, 0), 4) AS first_conversion_rate,
               m.channel_mix, m.converting_channel_mix
        FROM per_k p JOIN mix m USING (visit_number) ORDER BY visit_number
    """


def visit_table(
    store: Store,
    scope: Scope,
    conversion: str,
    *,
    gap: str | float = GAP,
    browsing: tuple[str, ...] = BROWSING,
) -> pa.Table:
    """One row per visit (customer number, visit_number, channel, events, conversions), cut
    as `visits_query` cuts them, by one walk over the ordered events instead of windows."""
    if not scope.channels:
        scope = replace(scope, channels=VISIT_CHANNELS)
    converts = f"coalesce(name = {lit(conversion)}, false) AS converts"
    session_key = "(hash(session_id) >> 1)::BIGINT AS session_key"  # NULL stays NULL
    j = read_journeys(store, scope, f"channel, {session_key}, {converts}")
    channels, channel = j.codes("channel")
    session = j.ints("session_key")
    sessioned = np.isin(channel, [i for i, c in enumerate(channels) if c in browsing])
    new = np.ones(len(channel), dtype=bool)
    new[1:] = (
        (j.customer[1:] != j.customer[:-1])
        | ~sessioned[1:]
        | (channel[1:] != channel[:-1])
        | (np.diff(j.at) > parse_duration(gap) * 1_000_000)
        | ((session[1:] >= 0) & (session[:-1] >= 0) & (session[1:] != session[:-1]))
    )
    starts = np.flatnonzero(new)
    visit = np.cumsum(new) - 1
    number = visit[starts] - visit[j.first_row[j.customer[starts]]] + 1
    ends = np.append(starts[1:], len(channel))
    converted = np.asarray(j.flag("converts"), dtype=np.int64)
    return pa.table(
        {
            "customer_id": j.customer[starts],
            "visit_number": number,
            "channel": pa.array(channels, pa.string()).take(pa.array(channel[starts])),
            "events": ends - starts,
            "conversions": (
                np.add.reduceat(converted, starts) if len(starts) else np.zeros(0, np.int64)
            ),
        }
    )


@dataclass
class ConversionByVisit:
    """`journeys visits` as data; `to_dict()` is the stable JSON."""

    conversion: str
    gap_seconds: float
    customers: int
    converters: int
    by_visit: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def conversion_by_visit(
    store: Store,
    conversion: str,
    scope: Scope | None = None,
    *,
    gap: str | float = GAP,
    browsing: tuple[str, ...] = BROWSING,
    max_visit: int = 20,
) -> ConversionByVisit:
    """Which visit converts: see the module's docstring."""
    table = visit_table(store, scope or Scope(), conversion, gap=gap, browsing=browsing)
    name = f"_visits_{uuid.uuid4().hex}"
    with store.engine.registered(name, table):
        query = conversion_by_visit_query(f"SELECT * FROM {name}", max_visit)
        rows = store.engine.query(query).to_pylist()
    for row in rows:
        row["channel_mix"] = dict(row["channel_mix"])
        row["converting_channel_mix"] = dict(row["converting_channel_mix"])
    # Every customer makes a first visit; every converter converts first on one visit.
    customers = rows[0]["customers"] if rows else 0
    converters = sum(row["first_conversions"] for row in rows)
    return ConversionByVisit(conversion, parse_duration(gap), customers, converters, rows)


def visits(
    store: Store,
    scope: Scope | None = None,
    *,
    gap: str | float = GAP,
    browsing: tuple[str, ...] = BROWSING,
    conversion: str = "Order Completed",
) -> pa.Table:
    """One row per visit (customer, number, channel, start, end, events, conversions)."""
    query = visit_table_query(
        visits_query(scope or Scope(), gap=gap, browsing=browsing), conversion
    )
    return store.engine.query(f"{query} ORDER BY customer_id, visit_number")
