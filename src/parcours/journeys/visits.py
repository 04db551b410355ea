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

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from parcours.journeys.ordered import Ints, Journeys, ratio_sql, read_journeys, rounded_ratio
from parcours.journeys.scope import CHANNEL_CODE, CHANNEL_NAMES, Scope, parse_duration
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
               {ratio_sql("p.converting_visits", "p.visits", 4)} AS visit_conversion_rate,
               p.first_conversions,
               {ratio_sql("p.first_conversions", "sum(p.first_conversions) OVER ()", 4)}
                   AS share_of_converters,
               {ratio_sql("p.first_conversions", "p.at_risk", 4)} AS first_conversion_rate,
               m.channel_mix, m.converting_channel_mix
        FROM per_k p JOIN mix m USING (visit_number) ORDER BY visit_number
    """


@dataclass
class _Visits:
    """One entry per visit, in journey order: the customer's number, the visit's number, its
    channel (an index into `channels`) and its conversions."""

    customer: Ints
    number: Ints
    channel: npt.NDArray[np.uint8]
    conversions: Ints
    channels: list[str]
    first_visit: Ints
    """Per customer, the index of their first visit."""


def read_visits(
    store: Store,
    scope: Scope,
    columns: str,
    *,
    gap: str | float = GAP,
    browsing: tuple[str, ...] = BROWSING,
) -> Journeys:
    """The scoped events (on the `VISIT_CHANNELS` unless the scope names channels) with
    `columns`, in journey order and cut into visits as `visits_query` cuts them: the cases
    of the returned `Journeys` are visits, by one walk over the ordered events instead of
    windows."""
    if not scope.channels:
        scope = replace(scope, channels=VISIT_CHANNELS)
    # The channel as a number and the session id as a hash: no text to carry out of the
    # engine.
    names = CHANNEL_NAMES
    session_key = "(hash(session_id) >> 1)::BIGINT"  # NULL stays NULL
    cut = f"{CHANNEL_CODE} AS _channel, {session_key} AS _session"
    j = read_journeys(store, scope, f"{cut}, {columns}" if columns else cut)
    channel = j.values("_channel", 0)
    session = j.ints("_session")
    sessioned = np.isin(np.arange(len(names)), [names.index(c) for c in browsing if c in names])
    new = np.zeros(len(channel), dtype=bool)
    new[j.first_row[:-1]] = True  # every customer's first event starts a visit
    new[1:] |= (
        ~sessioned[channel[1:]]
        | (channel[1:] != channel[:-1])
        | (np.diff(j.at) > parse_duration(gap) * 1_000_000)
        | ((session[1:] >= 0) & (session[:-1] >= 0) & (session[1:] != session[:-1]))
    )
    return j.cut(np.flatnonzero(new))


def _walk_visits(
    store: Store,
    scope: Scope,
    conversion: str,
    *,
    gap: str | float = GAP,
    browsing: tuple[str, ...] = BROWSING,
) -> _Visits:
    """The visits, with their customer, number, channel and conversions."""
    converts = f"coalesce(name = {lit(conversion)}, false)::UTINYINT AS converts"
    j = read_visits(store, scope, converts, gap=gap, browsing=browsing)
    starts = j.first_row[:-1]
    customer = np.searchsorted(j.customer_first_row, starts, side="right") - 1
    first_visit = np.searchsorted(starts, j.customer_first_row[:-1])
    conversions = (
        np.add.reduceat(j.values("converts", 0), starts, dtype=np.int64)
        if len(starts)
        else np.zeros(0, np.int64)
    )
    number = np.arange(len(starts)) - first_visit[customer] + 1
    channel = j.values("_channel", 0)[starts]
    return _Visits(customer, number, channel, conversions, list(CHANNEL_NAMES), first_visit)


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
    v = _walk_visits(store, scope or Scope(), conversion, gap=gap, browsing=browsing)
    rows = _by_visit_number(v, int(max_visit))
    # Every customer makes a first visit; every converter converts first on one visit.
    customers = len(v.first_visit)
    converters = sum(row["first_conversions"] for row in rows)
    return ConversionByVisit(conversion, parse_duration(gap), customers, converters, rows)


def _by_visit_number(v: _Visits, top: int) -> list[dict[str, Any]]:
    """`conversion_by_visit_query`'s rows, counted over the walked visits (the SQL is the
    portable reference, tested equal)."""
    k = np.minimum(v.number, top)
    converting = v.conversions > 0
    visits = np.bincount(k, minlength=top + 1)
    converting_visits = np.bincount(k, weights=converting, minlength=top + 1).astype(np.int64)
    conversions = np.bincount(k, weights=v.conversions, minlength=top + 1).astype(np.int64)
    # Per customer: the visits made, and the number of the first converting one (none: past
    # every visit).
    made = np.diff(np.append(v.first_visit, len(v.number)))
    never = np.iinfo(np.int64).max
    first = np.minimum.reduceat(np.where(converting, v.number, never), v.first_visit)

    def reaching(levels: Ints) -> Ints:
        """Per k, the customers whose level (folded at the top) is at least k."""
        return np.cumsum(np.bincount(np.minimum(levels, top), minlength=top + 1)[::-1])[::-1]

    customers = reaching(made)
    at_risk = reaching(np.minimum(made, first))  # made a k-th visit, not converted before it
    first_conversions = np.bincount(np.minimum(first[first != never], top), minlength=top + 1)
    converters = int(first_conversions.sum())
    cells, shape = k * len(v.channels) + v.channel, (top + 1, len(v.channels))
    by_channel = np.bincount(cells, minlength=shape[0] * shape[1]).reshape(shape)
    converting_by_channel = np.bincount(cells[converting], minlength=shape[0] * shape[1])
    converting_by_channel = converting_by_channel.reshape(shape)
    visit_rate = rounded_ratio(converting_visits, np.maximum(visits, 1), 4).tolist()
    share = rounded_ratio(first_conversions, max(converters, 1), 4).tolist()
    hazard = rounded_ratio(first_conversions, np.maximum(at_risk, 1), 4).tolist()
    channels = sorted(range(len(v.channels)), key=lambda c: str(v.channels[c]))
    return [
        {
            "visit_number": n,
            "customers": int(customers[n]),
            "visits": int(visits[n]),
            "converting_visits": int(converting_visits[n]),
            "conversions": int(conversions[n]),
            "visit_conversion_rate": visit_rate[n],
            "first_conversions": int(first_conversions[n]),
            "share_of_converters": share[n] if converters else None,
            "first_conversion_rate": hazard[n] if at_risk[n] else None,
            "channel_mix": {
                v.channels[c]: int(by_channel[n, c]) for c in channels if by_channel[n, c]
            },
            "converting_channel_mix": {
                v.channels[c]: int(converting_by_channel[n, c])
                for c in channels
                if by_channel[n, c]
            },
        }
        for n in np.flatnonzero(visits).tolist()
    ]


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
