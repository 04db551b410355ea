"""What ends or wakes running instances: the feed's goal and exit events (at once, also
during a wait), a wait_for's awaited event, and due timers.

Each builds the moves of every acting version at once (automations.moves) and applies them
in the caller's transaction. An event counts for an instance only if it occurred at or after
the instance entered (an awaited event: once it began waiting, before its timeout); a goal
only within `goal.within` of entering. A goal reached after the
instance ended (its steps all done) still sets `converted_at` within the window, so that
the treated and the held out are compared on the same conversions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from parcours.automations.definition import duration_seconds
from parcours.automations.feed import FEED
from parcours.automations.matching import at_sql, event_match_sql, property_sql
from parcours.automations.moves import (
    MOVES,
    STEPS,
    apply_moves,
    ended,
    instances_with_rows,
    move,
    move_rows,
    onward,
)
from parcours.automations.versions import Version
from parcours.engine import Engine
from parcours.segments.membership import EXITED
from parcours.sql import lit

RUNNING = "state IN ('active', 'waiting')"
RUNNING_NOW = "_auto_touched"
"""The instances of the feed's customers, read once per tick (`touched_instances`): the
goals, exits and awaited events join the feed with this instead of every instance."""


def touched_instances(engine: Engine) -> int:
    """Copy the instances of the feed's customers into `RUNNING_NOW`; return how many."""
    return engine.write(
        f"CREATE OR REPLACE TEMP TABLE {RUNNING_NOW} AS SELECT * FROM automation_instances "
        f"WHERE customer_id IN (SELECT DISTINCT customer_id FROM {FEED})"
    )


def _of(version: Version, alias: str = "i") -> str:
    return f"{alias}.automation = {lit(version.name)} AND {alias}.version = {version.version}"


def goals_and_exits(
    engine: Engine,
    versions: list[Version],
    now: dt.datetime,
    *,
    per_instance: Callable[[str], str] | None = None,
) -> tuple[dict[str, int], int]:
    """End the running instances whose customer reached the goal or an exit in the feed (the
    earliest such event; a goal first at one instant); return how many per reason, and how
    many ended instances converted late. `per_instance` (a dry run's day at once: SQL of the
    tick that sees an instant): each ends at the tick of its event, and a waiting one only
    on events up to its timer (the timer fires first; a later event is for the step
    after)."""
    bound = " AND (i.wake_at IS NULL OR f.occurred_at <= i.wake_at)" if per_instance else ""
    moment = per_instance("e.first_at") if per_instance else "NULL::TIMESTAMPTZ"
    parts = []
    for version in versions:
        definition = version.definition
        if definition.goal is not None:
            within = int(duration_seconds(definition.goal.within))
            match = event_match_sql(definition.goal.event, "f")
            parts.append(
                f"""SELECT i.instance_id, 'goal' AS reason, min(f.occurred_at) AS converted_at,
                           min(f.occurred_at) AS first_at, 0 AS rank
                    FROM {RUNNING_NOW} i JOIN {FEED} f USING (customer_id)
                    WHERE {_of(version)} AND i.{RUNNING} AND {match}
                      AND f.occurred_at >= i.entered_at{bound}
                      AND f.occurred_at <= i.entered_at + INTERVAL ({within}) SECOND
                    GROUP BY i.instance_id"""
            )
        for index, rule in enumerate(definition.exit):
            if rule.event is not None:
                match = event_match_sql(rule.event, "f")
                reason = lit(f"exit: {rule.event.name or rule.event.channel or rule.event.type}")
            else:
                match = (
                    f"f.name = {lit(EXITED)} AND f.source = 'parcours' AND "
                    f"{property_sql('segment', 'f.properties')} = {lit(rule.left_segment or '')}"
                )
                reason = lit(f"left segment: {rule.left_segment}")
            parts.append(
                f"""SELECT i.instance_id, {reason} AS reason,
                           NULL::TIMESTAMPTZ AS converted_at, min(f.occurred_at) AS first_at,
                           {index + 1} AS rank
                    FROM {RUNNING_NOW} i JOIN {FEED} f USING (customer_id)
                    WHERE {_of(version)} AND i.{RUNNING} AND {match}
                      AND f.occurred_at >= i.entered_at{bound}
                    GROUP BY i.instance_id"""
            )
    if not parts:
        return {}, 0
    union = " UNION ALL ".join(f"({p})" for p in parts)
    moved = engine.write(
        move_rows(
            f"""SELECT i.*, 'exited' AS outcome, e.reason AS detail, {moment} AS moment,
                       {ended("e.reason", "e.converted_at")}
                FROM {RUNNING_NOW} i JOIN (
                    SELECT * FROM ({union})
                    QUALIFY row_number() OVER (PARTITION BY instance_id ORDER BY first_at, rank) = 1
                ) e USING (instance_id)"""
        )
    )
    found: dict[str, int] = {}
    if moved:
        counts = engine.query(
            f"SELECT to_exit_reason AS reason, count(*) AS n FROM {MOVES} GROUP BY 1"
        )
        found = {r["reason"]: r["n"] for r in counts.to_pylist()}
        apply_moves(engine, now, moved=moved, at_column="moment" if per_instance else None)
    return found, _late_conversions(engine, versions)


def _late_conversions(engine: Engine, versions: list[Version]) -> int:
    """`converted_at` for ended instances whose customer reached the goal within the window."""
    written = 0
    for version in versions:
        goal = version.definition.goal
        if goal is None:
            continue
        within = int(duration_seconds(goal.within))
        written += engine.write(
            f"""UPDATE automation_instances i SET converted_at = c.first_at
                FROM (SELECT i.instance_id, min(f.occurred_at) AS first_at
                      FROM {RUNNING_NOW} i JOIN {FEED} f USING (customer_id)
                      WHERE {_of(version)} AND i.state = 'done' AND i.converted_at IS NULL
                        AND {event_match_sql(goal.event, "f")}
                        AND f.occurred_at >= i.entered_at
                        AND f.occurred_at <= i.entered_at + INTERVAL ({within}) SECOND
                      GROUP BY 1) c
                WHERE i.instance_id = c.instance_id"""
        )
    return written


def awaited_events(
    engine: Engine,
    versions: list[Version],
    now: dt.datetime,
    *,
    per_instance: Callable[[str], str] | None = None,
) -> int:
    """Wake the instances waiting in a wait_for whose event came (with the entry's key value
    when the entry has a key): on to `on_event`."""
    parts = []
    for version in versions:
        key = version.definition.entry.key
        for step in version.definition.steps:
            if step.wait_for is None:
                continue
            match = event_match_sql(step.wait_for.event, "f")
            if key is not None:
                match += (
                    f" AND {property_sql(key, 'f.properties')} = {property_sql(key, 'i.entry')}"
                )
            parts.append(
                f"""SELECT i.instance_id, min(f.occurred_at) AS first_at
                    FROM {RUNNING_NOW} i JOIN {FEED} f USING (customer_id)
                    WHERE {_of(version)} AND i.state = 'waiting' AND i.step = {lit(step.id)}
                      AND {match}
                      AND f.occurred_at >= i.updated_at AND f.occurred_at <= i.wake_at
                    GROUP BY i.instance_id"""
            )
    if not parts:
        return 0
    union = " UNION ALL ".join(f"({p})" for p in parts)
    return move(
        engine,
        f"""SELECT i.*, 'event' AS outcome, NULL::VARCHAR AS detail,
                   {per_instance("w.first_at") if per_instance else "NULL::TIMESTAMPTZ"} AS moment,
                   {onward("s.on_event")}
            FROM {RUNNING_NOW} i JOIN (
                SELECT instance_id, min(first_at) AS first_at FROM ({union}) GROUP BY 1
            ) w ON w.instance_id = i.instance_id
            JOIN {STEPS} s
              ON s.automation = i.automation AND s.version = i.version AND s.step = i.step""",
        now,
        at_column="moment" if per_instance else None,
    )


def due_timers(engine: Engine, now: dt.datetime, *, per_instance: bool = False) -> int:
    """Fire every due timer of the live versions: a wait or wait_until goes on to the next
    step, a wait_for that timed out to `on_timeout`; at `now`, or (`per_instance`, a dry
    run's day at once) each at its due instant."""
    then = "CASE s.action WHEN 'wait_for' THEN s.on_timeout ELSE s.after END"
    return move(
        engine,
        f"""SELECT i.*,
                   CASE s.action WHEN 'wait_for' THEN 'timed_out' ELSE 'waited' END AS outcome,
                   NULL::VARCHAR AS detail, {onward(then)}
            FROM ({instances_with_rows(f"wake_at <= {at_sql(now)} AND state = 'waiting'")}) i
            JOIN {STEPS} s
              ON s.automation = i.automation AND s.version = i.version AND s.step = i.step
            WHERE s.live""",
        now,
        at_column="wake_at" if per_instance else None,
    )
