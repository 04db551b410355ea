"""Contacts, cases, repeats, channel switches and customer effort.

A contact is an event with an intent (why the customer got in touch): a call, a chat, a
video call, a social post, an email to the service desk — whatever the channel. A customer's
contacts on one intent form a case as long as each comes within the repeat window of the one
before (7 days by default, as contact centres count repeats); a longer silence opens a new case.
Within a case, every contact after the first is a repeat: the customer had to come back and
say it again. A repeat on another channel than the contact before is a channel switch.

Measures, all from the same cases:

* repeat contacts by intent and channel: contacts, repeats, the share of contacts that were
  followed by a repeat (the channel did not settle it), and the share of cases opened there
  that their first contact settled (first-contact resolution);
* first-contact resolution: the share of cases settled by their first contact (one contact,
  not ending unresolved); contacts per resolution (contacts / resolved cases); time to
  resolution (first contact to the contact that settled it);
* the effort score of a case: `contacts + repeats + switches + waiting minutes / 10` (weights
  in `EffortWeights`): what the customer had to do, each unit about one more contact's worth;
* channel switches: the transition matrix between consecutive contacts of a case, and for each
  switch its intent, the time between and what followed — the contact after it resolved the
  case or not, another repeat came, a purchase within the window, or the customer churned (no
  event in the last `churn_days` of the data) — judged positive when it settled the case.

An outcome is "settling" unless it says otherwise (unresolved, abandoned, transferred,
escalated, pending): a contact with no recorded outcome and no repeat after it is taken as
settled, as contact centres count first-contact resolution without a survey.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from parcours.journeys.scope import Scope, parse_duration
from parcours.journeys.visits import ORDER
from parcours.sql import lit
from parcours.store.store import Store

REPEAT_WINDOW = "7d"
CHURN_DAYS = 90
PURCHASE = "Order Completed"
UNSETTLED = ("unresolved", "abandoned", "transferred", "escalated", "pending")


@dataclass(frozen=True)
class EffortWeights:
    """The effort score's weights: per contact, per repeat, per switch, per waiting minute."""

    contact: float = 1.0
    repeat: float = 1.0
    switch: float = 1.0
    wait_minute: float = 0.1


def contacts_query(scope: Scope, window: str | float = REPEAT_WINDOW) -> str:
    """Every contact with its case: case_id, attempt, is_repeat, previous_channel, switched,
    followed_by_repeat, settles."""
    seconds = parse_duration(window)
    contacts = replace(scope, extra=(*scope.extra, "intent IS NOT NULL")).events()
    unsettled = ", ".join(lit(o) for o in UNSETTLED)
    return f"""
        WITH c AS (
            SELECT customer_id, customer_key, source, event_id, event_key, occurred_at,
                   channel, type, name, intent, outcome, agent, team, wait_seconds,
                   duration_seconds,
                   lag(occurred_at) OVER w AS previous_at,
                   lag(channel) OVER w AS previous_contact_channel
            FROM ({contacts})
            WINDOW w AS (PARTITION BY customer_key, intent ORDER BY {ORDER})
        ),
        opened AS (
            SELECT *, (previous_at IS NULL
                       OR epoch_us(occurred_at) - epoch_us(previous_at)
                          > {int(seconds * 1e6)}) AS opens
            FROM c
        ),
        numbered AS (
            SELECT *, sum(opens::INTEGER) OVER (
                       PARTITION BY customer_key, intent ORDER BY {ORDER}
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS case_number
            FROM opened
        ),
        cased AS (
            SELECT * EXCLUDE (previous_at, previous_contact_channel, opens, case_number),
                   customer_id || '/' || intent || '/' || case_number AS case_id,
                   NOT opens AS is_repeat,
                   CASE WHEN NOT opens THEN previous_contact_channel END AS previous_channel
            FROM numbered
        )
        SELECT *,
               row_number() OVER k AS attempt,
               coalesce(previous_channel <> channel, false) AS switched,
               lead(occurred_at) OVER k IS NOT NULL AS followed_by_repeat,
               lead(occurred_at) OVER k IS NULL
                   AND coalesce(lower(outcome) NOT IN ({unsettled}), true) AS settles
        FROM cased
        WINDOW k AS (PARTITION BY case_id ORDER BY {ORDER})
    """


def cases_query(contacts: str, weights: EffortWeights) -> str:
    """One row per case: its contacts, channels, switches, resolution, waiting and effort."""
    return f"""
        SELECT case_id, customer_id, intent,
               min(occurred_at) AS opened_at, max(occurred_at) AS last_contact_at,
               count(*) AS contacts, count(*) FILTER (WHERE is_repeat) AS repeats,
               count(*) FILTER (WHERE switched) AS switches,
               list(channel ORDER BY {ORDER}) AS channels,
               bool_or(settles) AS resolved,
               epoch(max(occurred_at) FILTER (WHERE settles)) - epoch(min(occurred_at))
                   AS seconds_to_resolution,
               coalesce(sum(wait_seconds), 0) AS wait_seconds,
               round({weights.contact!r} * count(*)
                     + {weights.repeat!r} * count(*) FILTER (WHERE is_repeat)
                     + {weights.switch!r} * count(*) FILTER (WHERE switched)
                     + {weights.wait_minute!r} * coalesce(sum(wait_seconds), 0) / 60, 2)
                   AS effort
        FROM ({contacts}) GROUP BY case_id, customer_id, intent
    """


@dataclass
class RepeatContacts:
    """`journeys repeats` as data; `to_dict()` is the stable JSON."""

    window_seconds: float
    contacts: int
    cases: int
    repeats: int
    first_contact_resolution: float | None
    contacts_per_resolution: float | None
    median_seconds_to_resolution: float | None
    mean_effort: float | None
    by_intent: list[dict[str, Any]] = field(default_factory=list)
    by_channel: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _by(contacts: str, cases: str, key: str) -> str:
    case_figures = (
        f"""LEFT JOIN (SELECT {key}, count(*) AS cases,
                  round(avg(effort), 2) AS mean_effort
           FROM ({cases}) GROUP BY {key}) USING ({key})"""
        if key == "intent"
        else ""
    )
    return f"""
        SELECT * FROM (
            SELECT {key}, count(*) AS contacts, count(*) FILTER (WHERE is_repeat) AS repeats,
                   round(avg(followed_by_repeat::INTEGER), 4) AS repeat_rate,
                   count(*) FILTER (WHERE switched) AS switched_to,
                   round(avg(settles::INTEGER) FILTER (WHERE NOT is_repeat), 4)
                       AS first_contact_resolution
            FROM ({contacts}) GROUP BY {key}
        ) {case_figures}
        ORDER BY contacts DESC, {key}
    """


def repeat_contacts(
    store: Store,
    scope: Scope | None = None,
    *,
    window: str | float = REPEAT_WINDOW,
    weights: EffortWeights | None = None,
) -> RepeatContacts:
    """Repeat contacts, first-contact resolution and effort: see the module's docstring."""
    contacts = contacts_query(scope or Scope(), window)
    cases = cases_query(contacts, weights or EffortWeights())
    engine = store.engine
    totals = engine.query(
        f"""SELECT sum(contacts)::BIGINT AS contacts, count(*) AS cases,
                   sum(repeats)::BIGINT AS repeats,
                   round(avg((contacts = 1 AND resolved)::INTEGER), 4) AS fcr,
                   round(sum(contacts) / nullif(count(*) FILTER (WHERE resolved), 0), 3) AS cpr,
                   median(seconds_to_resolution) AS median_resolution,
                   round(avg(effort), 3) AS effort
            FROM ({cases})"""
    ).to_pylist()[0]
    return RepeatContacts(
        parse_duration(window),
        totals["contacts"] or 0,
        totals["cases"],
        totals["repeats"] or 0,
        totals["fcr"],
        totals["cpr"],
        totals["median_resolution"],
        totals["effort"],
        engine.query(_by(contacts, cases, "intent")).to_pylist(),
        engine.query(_by(contacts, cases, "channel")).to_pylist(),
    )


def repeaters(
    store: Store,
    scope: Scope | None = None,
    *,
    window: str | float = REPEAT_WINDOW,
    weights: EffortWeights | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The cases where the customer had to repeat themselves, most effort first, each with
    its contacts: what an agent or a CX manager opens next."""
    contacts = contacts_query(scope or Scope(), window)
    cases = cases_query(contacts, weights or EffortWeights())
    rows: list[dict[str, Any]] = store.engine.query(
        f"""SELECT k.*, list({{'occurred_at': c.occurred_at, 'channel': c.channel,
                               'source': c.source, 'event_id': c.event_id,
                               'outcome': c.outcome, 'agent': c.agent}}
                              ORDER BY c.occurred_at, c.event_key) AS history
            FROM ({cases}) k JOIN ({contacts}) c USING (case_id)
            WHERE k.repeats > 0
            GROUP BY ALL ORDER BY k.effort DESC, k.case_id LIMIT {int(limit)}"""
    ).to_pylist()
    return rows


def switches_query(
    contacts: str, scope: Scope, window: str | float, churn_days: int, purchase: str
) -> str:
    """Every channel switch with its intent, time between, and what followed."""
    seconds = parse_duration(window)
    everything = scope.events("customer_id, occurred_at, name")
    return f"""
        WITH c AS (SELECT *, lag(occurred_at) OVER k AS previous_at,
                          count(*) OVER (PARTITION BY case_id) - row_number() OVER k
                              AS contacts_after
                   FROM ({contacts}) WINDOW k AS (PARTITION BY case_id ORDER BY {ORDER})),
        e AS (SELECT * FROM ({everything})),
        last_seen AS (SELECT customer_id, max(occurred_at) AS last_at FROM e GROUP BY ALL),
        data_end AS (SELECT max(occurred_at) AS ended_at FROM e)
        SELECT c.customer_id, c.case_id, c.intent, c.previous_channel AS from_channel,
               c.channel AS to_channel, c.occurred_at,
               epoch(c.occurred_at) - epoch(c.previous_at) AS seconds_between,
               c.outcome, c.settles AS resolved_after, c.followed_by_repeat AS repeated_after,
               c.contacts_after,
               EXISTS (SELECT 1 FROM e WHERE e.customer_id = c.customer_id
                       AND e.name = {lit(purchase)} AND e.occurred_at > c.occurred_at
                       AND e.occurred_at <= c.occurred_at + to_seconds({seconds!r}))
                   AS purchase_after,
               l.last_at < (SELECT ended_at FROM data_end) - INTERVAL {int(churn_days)} DAY
                   AS churned_after
        FROM c JOIN last_seen l USING (customer_id)
        WHERE c.switched
    """


@dataclass
class ChannelSwitching:
    """`journeys switches` as data; `to_dict()` is the stable JSON."""

    contacts: int
    switches: int
    matrix: list[dict[str, Any]] = field(default_factory=list)
    """Consecutive contacts of a case: from channel, to channel, how many, and how often the
    second settled the case."""
    by_switch: list[dict[str, Any]] = field(default_factory=list)
    """Per (from, to) switch: how many, the time between, and what followed; costliest first
    (most contacts still needed after it)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def channel_switching(
    store: Store,
    scope: Scope | None = None,
    *,
    window: str | float = REPEAT_WINDOW,
    churn_days: int = CHURN_DAYS,
    purchase: str = PURCHASE,
) -> ChannelSwitching:
    """The channel-to-channel transitions within cases and the outcome of each switch."""
    scope = scope or Scope()
    contacts = contacts_query(scope, window)
    engine = store.engine
    matrix = engine.query(
        f"""SELECT previous_channel AS from_channel, channel AS to_channel, count(*) AS contacts,
                   round(avg(settles::INTEGER), 4) AS resolved_rate
            FROM ({contacts}) WHERE is_repeat
            GROUP BY ALL ORDER BY contacts DESC, from_channel, to_channel"""
    ).to_pylist()
    switches = switches_query(contacts, scope, window, churn_days, purchase)
    by_switch = engine.query(
        f"""SELECT from_channel, to_channel, count(*) AS switches,
                   median(seconds_between) AS median_seconds_between,
                   round(avg(resolved_after::INTEGER), 4) AS resolved_rate,
                   round(avg(repeated_after::INTEGER), 4) AS repeated_rate,
                   round(avg(purchase_after::INTEGER), 4) AS purchase_rate,
                   round(avg(churned_after::INTEGER), 4) AS churn_rate,
                   sum(contacts_after)::BIGINT AS contacts_after,
                   count(*) FILTER (WHERE NOT resolved_after) AS unresolved
            FROM ({switches}) GROUP BY ALL
            ORDER BY contacts_after DESC, switches DESC, from_channel, to_channel"""
    ).to_pylist()
    total = engine.query(f"SELECT count(*) AS n FROM ({contacts})").to_pylist()[0]["n"]
    return ChannelSwitching(total, sum(r["switches"] for r in by_switch), matrix, by_switch)


def switches(
    store: Store,
    scope: Scope | None = None,
    *,
    window: str | float = REPEAT_WINDOW,
    churn_days: int = CHURN_DAYS,
    purchase: str = PURCHASE,
) -> list[dict[str, Any]]:
    """Every switch, one row each (the detail behind `channel_switching`)."""
    scope = scope or Scope()
    query = switches_query(contacts_query(scope, window), scope, window, churn_days, purchase)
    rows: list[dict[str, Any]] = store.engine.query(
        f"{query} ORDER BY occurred_at, case_id"
    ).to_pylist()
    return rows
