"""Who enters: candidates from each trigger, then the audience, the re-entry rule and the
holdout, all in SQL over the candidates at once.

A candidate is (customer, entry key, entry properties, when). The entry key tells one entry
from another: the entry's `key` property when the definition names one (a quote id), else
the triggering event (source:event_id), the date of a date trigger, the slot of a schedule.
Whatever the rule, a customer never enters twice on the same key: re-reading the feed, or
evaluating a date trigger twice, admits no one twice. Then `never` admits a customer who
never entered, `after_exit` one with no running instance, `every_time` every new key.

The holdout is a seeded draw of (automation, customer): the same customer is held out of the
same automation at every entry, whatever the version, so the uplift compares stable groups.
"""

from __future__ import annotations

import datetime as dt

from parcours.automations.definition import AutomationDefinition
from parcours.automations.feed import FEED
from parcours.automations.matching import (
    DRAWS,
    at_sql,
    draw_sql,
    event_match_sql,
    instance_id_sql,
    property_sql,
)
from parcours.automations.versions import Version
from parcours.identity.rules import IdentityRules
from parcours.segments.compile import Builder
from parcours.segments.definition import SegmentDefinition
from parcours.segments.membership import ENTERED, EXITED
from parcours.sql import lit
from parcours.store.store import Store

CANDIDATES = "_auto_candidates"
EARTH_RADIUS_M = 6_371_000.0


def empty_candidates(store: Store) -> None:
    store.engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {CANDIDATES} (customer_id VARCHAR, entry_key VARCHAR, "
        "entry JSON, arrived_at TIMESTAMPTZ)"
    )


def _key_sql(definition: AutomationDefinition) -> str:
    event_key = "source || ':' || event_id"
    if definition.entry.key is None:
        return event_key
    return f"coalesce({property_sql(definition.entry.key)}, {event_key})"


def feed_candidates_sql(version: Version) -> str | None:
    """The feed's events that start `version` (event, segment and geofence triggers), if they
    occurred once the automation was published: SQL answering the candidates' columns; None
    for the other triggers."""
    definition = version.definition
    trigger = definition.trigger
    if trigger.event is not None:
        where = event_match_sql(trigger.event)
    elif trigger.segment is not None:
        name = ENTERED if trigger.segment.on == "entered" else EXITED
        where = (
            f"name = {lit(name)} AND source = 'parcours' "
            f"AND {property_sql('segment')} = {lit(trigger.segment.name)}"
        )
    elif trigger.geofence is not None:
        lat, lon = (f"TRY_CAST({property_sql(k)} AS DOUBLE)" for k in ("latitude", "longitude"))
        near = " OR ".join(
            f"{_haversine_m(lat, lon, p.latitude, p.longitude)} <= {float(p.radius_m)}"
            for p in trigger.geofence.places
        )
        where = f"{event_match_sql(trigger.geofence.event)} AND ({near})"
    else:
        return None
    if version.since is not None:
        where = f"({where}) AND occurred_at >= {at_sql(version.since)}"
    return (
        f"SELECT customer_id, {_key_sql(definition)} AS entry_key, properties AS entry, "
        f"occurred_at AS arrived_at FROM {FEED} WHERE {where}"
    )


def _haversine_m(lat: str, lon: str, place_lat: float, place_lon: float) -> str:
    """Metres between (lat, lon) columns and a place, on a spherical Earth."""
    p1, p2 = f"radians({lat})", f"radians({float(place_lat)})"
    dlat = f"radians({float(place_lat)} - {lat})"
    dlon = f"radians({float(place_lon)} - {lon})"
    a = f"(pow(sin({dlat} / 2), 2) + cos({p1}) * cos({p2}) * pow(sin({dlon} / 2), 2))"
    return f"(2 * {EARTH_RADIUS_M} * asin(sqrt(least(1.0, {a}))))"


def audience_filter(
    store: Store,
    rules: IdentityRules,
    definition: AutomationDefinition,
    now: dt.datetime,
    *,
    arrival: str | None = None,
) -> None:
    """Keep only the candidates the automation's `audience` condition holds for, evaluated
    over their profiles at `now` (or, `arrival` given, at each candidate's own instant: SQL
    over the candidates)."""
    if definition.audience is None:
        return
    engine = store.engine
    moments = [now]
    if arrival is not None:
        found = engine.query(f"SELECT DISTINCT {arrival} AS m FROM {CANDIDATES}")
        moments = [m.astimezone(dt.UTC) for m in found.column(0).to_pylist()]
    for moment in moments:
        only = f" AND {arrival} = {at_sql(moment)}" if arrival is not None else ""
        builder = Builder(rules, as_of=moment)
        compiled = builder.compile(SegmentDefinition(name="audience", where=definition.audience))
        scope = f"SELECT DISTINCT customer_id FROM {CANDIDATES} WHERE true{only}"
        engine.execute(
            f"DELETE FROM {CANDIDATES} WHERE customer_id NOT IN (SELECT customer_id FROM "
            f"({builder.features_query(scope)}) WHERE {compiled.member_sql}){only}"
        )


def admit(store: Store, version: Version, now: dt.datetime, *, arrival: str | None = None) -> int:
    """Admit the candidates `CANDIDATES` holds into `version` (the audience already applied):
    the re-entry rule, the holdout draw, the instances at the first step, active, entered at
    `now` (or at `arrival`, SQL over the candidates: a dry run's own instants). Inside the
    caller's transaction. Returns how many entered."""
    engine, definition, name = store.engine, version.definition, lit(version.name)
    rule = definition.entry.re_entry
    seen = "SELECT customer_id, entry_key FROM automation_instances WHERE automation = " + name
    blocked = {
        "never": f"customer_id IN (SELECT customer_id FROM automation_instances "
        f"WHERE automation = {name})",
        "after_exit": f"customer_id IN (SELECT customer_id FROM automation_instances "
        f"WHERE automation = {name} AND state <> 'done')",
        "every_time": "false",
    }[rule]
    # One entry per customer per batch, except every_time: one per new key.
    per = "customer_id, entry_key" if rule == "every_time" else "customer_id"
    at = arrival or at_sql(now)
    share = round(definition.holdout * DRAWS / 100)
    held = draw_sql("'holdout'", name, "customer_id")
    first = lit(definition.steps[0].id)
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE _auto_admitted AS
            SELECT {instance_id_sql(name, "customer_id", "entry_key", "entered_at")}
                       AS instance_id,
                   customer_id, entry_key, entry, entered_at,
                   CASE WHEN {held} < {share} THEN 'holdout' ELSE 'treated' END AS arm
            FROM (
                SELECT *, {at} AS entered_at FROM {CANDIDATES}
                WHERE customer_id IS NOT NULL
                  AND (customer_id, entry_key) NOT IN ({seen}) AND NOT ({blocked})
                QUALIFY row_number() OVER (PARTITION BY {per} ORDER BY arrived_at, entry_key) = 1
            )"""
    )
    entered = engine.write(
        f"""INSERT INTO automation_instances BY NAME
            SELECT instance_id, {name} AS automation, {version.version} AS version,
                   customer_id, entry_key, entry, arm, {first} AS step, 'active' AS state,
                   NULL::TIMESTAMPTZ AS wake_at, entered_at, entered_at AS updated_at
            FROM _auto_admitted"""
    )
    if entered:
        engine.execute(
            f"""INSERT INTO automation_steps BY NAME
                SELECT instance_id, {name} AS automation, {version.version} AS version,
                       customer_id, 'entry' AS step, 'entered' AS outcome, arm AS detail,
                       entered_at AS happened_at
                FROM _auto_admitted"""
        )
    return entered
