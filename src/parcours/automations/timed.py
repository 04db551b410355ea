"""Candidates of the triggers that time starts: a date trait plus an offset, and schedules.

Each is evaluated at every tick over the window since its last evaluation (a cursor per
automation in `automation_cursors`, `date:<name>` and `schedule:<name>`), starting at the
first tick that sees the automation: a date already past when an automation is published
starts no one. The entry key is the date (a renewal next year is a new key) or the slot, so
evaluating a window twice admits no one twice."""

from __future__ import annotations

import datetime as dt

from parcours.automations.calendar import date_due_sql, last_slot
from parcours.automations.entries import CANDIDATES
from parcours.automations.feed import read_cursor, write_cursor
from parcours.automations.matching import at_sql
from parcours.automations.timezones import zones_query
from parcours.automations.versions import Version
from parcours.identity.rules import IdentityRules
from parcours.segments.compile import Builder
from parcours.segments.definition import SegmentDefinition
from parcours.sql import lit
from parcours.store.store import Store


def timed_candidates(
    store: Store, rules: IdentityRules, version: Version, now: dt.datetime, default_zone: str
) -> bool:
    """Fill `CANDIDATES` for a date or schedule trigger due in (last evaluation, now] and
    move its cursor (inside the caller's transaction); False for other triggers."""
    trigger = version.definition.trigger
    kind = "date" if trigger.date is not None else "schedule" if trigger.schedule else None
    if kind is None:
        return False
    cursor = f"{kind}:{version.name}"
    after = read_cursor(store.engine, cursor)
    write_cursor(store.engine, cursor, now)
    if after is None or after >= now:
        return True
    if trigger.date is not None:
        _dates(store, rules, version, after, now, default_zone)
    else:
        _schedule(store, version, after, now, default_zone)
    return True


def _dates(
    store: Store,
    rules: IdentityRules,
    version: Version,
    after: dt.datetime,
    now: dt.datetime,
    default_zone: str,
) -> None:
    trigger = version.definition.trigger.date
    assert trigger is not None
    builder = Builder(rules, as_of=now)
    where = {"trait": {"name": trigger.trait}}
    compiled = builder.compile(SegmentDefinition.model_validate({"name": "date", "where": where}))
    column = compiled.leaves[0].column
    engine = store.engine
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE _auto_dates AS SELECT customer_id, {column} AS value "
        f"FROM ({builder.features_query()}) WHERE {column} IS NOT NULL"
    )
    zones = zones_query("SELECT customer_id FROM _auto_dates", default_zone)
    due = date_due_sql(trigger, "d.value", "z.zone")
    engine.execute(
        f"""INSERT INTO {CANDIDATES}
            SELECT customer_id, left(value, 10), json_object({lit(trigger.trait)}, value), due
            FROM (SELECT d.customer_id, d.value, {due} AS due
                  FROM _auto_dates d JOIN ({zones}) z USING (customer_id))
            WHERE due > {at_sql(after)} AND due <= {at_sql(now)}"""
    )
    engine.execute("DROP TABLE _auto_dates")


def _schedule(
    store: Store, version: Version, after: dt.datetime, now: dt.datetime, default_zone: str
) -> None:
    trigger = version.definition.trigger.schedule
    assert trigger is not None
    engine = store.engine
    members = (
        f"SELECT customer_id FROM segment_members WHERE segment = {lit(trigger.audience)}"
        if trigger.audience
        else "SELECT DISTINCT customer_id FROM identity_map"
    )
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE _auto_zones AS {zones_query(members, default_zone)}"
    )
    for zone in engine.query("SELECT DISTINCT zone FROM _auto_zones").column(0).to_pylist():
        slot = last_slot(
            after, now, every=trigger.every, at=trigger.at, weekdays=trigger.weekdays, zone=zone
        )
        if slot is not None:
            engine.execute(
                f"INSERT INTO {CANDIDATES} SELECT customer_id, {lit(slot.isoformat())}, "
                f"json_object('slot', {lit(slot.isoformat())}), {at_sql(slot)} "
                f"FROM _auto_zones WHERE zone = {lit(zone)}"
            )
    engine.execute("DROP TABLE _auto_zones")
