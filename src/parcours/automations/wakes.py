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

from parcours.automations.definition import duration_seconds
from parcours.automations.feed import FEED
from parcours.automations.matching import at_sql, event_match_sql, property_sql
from parcours.automations.moves import MOVES, STEPS, apply_moves, move_rows, onward
from parcours.automations.versions import Version
from parcours.engine import Engine
from parcours.segments.membership import EXITED
from parcours.sql import lit

RUNNING = "state IN ('active', 'waiting')"


def _of(version: Version, alias: str = "i") -> str:
    return f"{alias}.automation = {lit(version.name)} AND {alias}.version = {version.version}"


def goals_and_exits(engine: Engine, versions: list[Version], now: dt.datetime) -> dict[str, int]:
    """End the running instances whose customer reached the goal or an exit in the feed;
    return how many per reason."""
    parts = []
    for version in versions:
        definition = version.definition
        if definition.goal is not None:
            within = int(duration_seconds(definition.goal.within))
            match = event_match_sql(definition.goal.event, "f")
            parts.append(
                f"""SELECT i.instance_id, 'goal' AS reason, min(f.occurred_at) AS converted_at,
                           0 AS rank
                    FROM automation_instances i JOIN {FEED} f USING (customer_id)
                    WHERE {_of(version)} AND i.{RUNNING} AND {match}
                      AND f.occurred_at >= i.entered_at
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
                f"""SELECT DISTINCT i.instance_id, {reason} AS reason,
                           NULL::TIMESTAMPTZ AS converted_at, {index + 1} AS rank
                    FROM automation_instances i JOIN {FEED} f USING (customer_id)
                    WHERE {_of(version)} AND i.{RUNNING} AND {match}
                      AND f.occurred_at >= i.entered_at"""
            )
    if not parts:
        return {}
    union = " UNION ALL ".join(f"({p})" for p in parts)
    engine.execute(
        move_rows(
            f"""SELECT instance_id, 'exited' AS outcome, reason AS detail,
                       NULL::VARCHAR AS next_step, 'done' AS state, NULL::TIMESTAMPTZ AS wake_at,
                       reason AS exit_reason, converted_at
                FROM ({union}) QUALIFY row_number() OVER (
                    PARTITION BY instance_id ORDER BY rank) = 1"""
        )
    )
    counts = engine.query(f"SELECT exit_reason, count(*) AS n FROM {MOVES} GROUP BY 1")
    apply_moves(engine, now)
    late = _late_conversions(engine, versions)
    found = {r["exit_reason"]: r["n"] for r in counts.to_pylist()}
    if late:
        found["converted after the end"] = late
    return found


def _late_conversions(engine: Engine, versions: list[Version]) -> int:
    """`converted_at` for ended instances whose customer reached the goal within the window."""
    written = 0
    for version in versions:
        goal = version.definition.goal
        if goal is None:
            continue
        within = int(duration_seconds(goal.within))
        written += engine.write(
            f"""UPDATE automation_instances i SET converted_at = c.at
                FROM (SELECT i.instance_id, min(f.occurred_at) AS at
                      FROM automation_instances i JOIN {FEED} f USING (customer_id)
                      WHERE {_of(version)} AND i.state = 'done' AND i.converted_at IS NULL
                        AND {event_match_sql(goal.event, "f")}
                        AND f.occurred_at >= i.entered_at
                        AND f.occurred_at <= i.entered_at + INTERVAL ({within}) SECOND
                      GROUP BY 1) c
                WHERE i.instance_id = c.instance_id"""
        )
    return written


def awaited_events(engine: Engine, versions: list[Version], now: dt.datetime) -> int:
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
                f"""SELECT DISTINCT i.instance_id, i.automation, i.version, i.step
                    FROM automation_instances i JOIN {FEED} f USING (customer_id)
                    WHERE {_of(version)} AND i.state = 'waiting' AND i.step = {lit(step.id)}
                      AND {match}
                      AND f.occurred_at >= i.updated_at AND f.occurred_at <= i.wake_at"""
            )
    if not parts:
        return 0
    union = " UNION ALL ".join(f"({p})" for p in parts)
    engine.execute(
        move_rows(
            f"""SELECT w.instance_id, 'event' AS outcome, NULL::VARCHAR AS detail,
                       {onward("s.on_event")}
                FROM ({union}) w JOIN {STEPS} s USING (automation, version, step)"""
        )
    )
    return apply_moves(engine, now)


def due_timers(engine: Engine, now: dt.datetime) -> int:
    """Fire every due timer of the acting versions: a wait or wait_until goes on to the next
    step, a wait_for that timed out to `on_timeout`."""
    engine.execute(
        move_rows(
            f"""SELECT i.instance_id,
                       CASE s.action WHEN 'wait_for' THEN 'timed_out' ELSE 'waited' END
                           AS outcome,
                       NULL::VARCHAR AS detail,
                       {onward("CASE s.action WHEN 'wait_for' THEN s.on_timeout ELSE s.after END")}
                FROM automation_instances i JOIN {STEPS} s USING (automation, version, step)
                WHERE s.live AND i.state = 'waiting' AND i.wake_at <= {at_sql(now)}"""
        )
    )
    return apply_moves(engine, now)
