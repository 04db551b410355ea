"""A dry run: replay the store's events of a period against an automation, over the real
profiles, in simulated time, and say who would enter, where each would go and what would be
sent — without changing the store or sending anything.

How it stays apart from the real tables: it runs on a session of its own (`Engine.fork`),
in which TEMP tables of the same shape shadow the runtime's tables (`automation_instances`,
`automation_steps`, `automation_sends`, `automation_tasks`, `automation_cursors`). Every
statement of the runtime runs unchanged, reading the real profiles (events, identity, segment
members, scores) and writing only into that session's temp tables, dropped with it. No copy
of the store is made (a month over a large store starts at once), and nothing another session
reads ever sees them. Steps that would act outside these tables — set_trait and tag (events),
anonymise and delete (privacy) — are recorded, not done; sends are planned into the shadow
ledger, which no delivery reads.

Time: events are replayed by `occurred_at`, a tick at the end of each `step` (an hour by
default) seeing the events of that step; ticks where nothing can happen (no relevant event,
no timer due, no date or schedule trigger) are skipped. Conditions (the audience, splits) are
evaluated as of the simulated instant over the events; segment membership and scores are read
as they are now (the store keeps no past membership to replay).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from parcours.automations.clock import SimulatedClock
from parcours.automations.definition import AutomationDefinition, AutomationError, parse_automation
from parcours.automations.feed import FEED, replay_feed, write_cursor
from parcours.automations.matching import at_sql, event_match_sql
from parcours.automations.runtime import Runtime
from parcours.automations.versions import Version
from parcours.segments.membership import ENTERED, EXITED
from parcours.store.store import Store

SHADOWED = (
    "automation_instances",
    "automation_steps",
    "automation_sends",
    "automation_tasks",
    "automation_cursors",
)


@dataclass(frozen=True)
class DryRun:
    """What an automation would have done over a period; `to_dict()` is the stable JSON."""

    automation: str
    start: dt.datetime
    end: dt.datetime
    entered: int
    held_out: int
    steps: dict[str, dict[str, int]]
    """Per step, how many instances had each outcome there (planned, branch, waited...)."""
    branches: dict[str, dict[str, int]]
    """Per split or random step, how many went each way."""
    planned: dict[str, int]
    """Sends planned per send step (the held out are not sent)."""
    exits: dict[str, int]
    """Instances ended, per reason."""
    converted: int
    running: int
    """Instances still active or waiting at the end."""
    customers: list[dict[str, Any]] = field(default_factory=list)
    """Each instance: customer_id, arm, entered_at, the steps it went through, how it ended."""
    ticks: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dry_run(
    store: Store,
    definition_or_name: AutomationDefinition | str,
    *,
    start: dt.datetime,
    days: float = 30,
    step: dt.timedelta = dt.timedelta(hours=1),
) -> DryRun:
    """Replay [start, start + days) against the automation (a definition, or the name of a
    published one: its current version) without touching the store."""
    started = time.perf_counter()
    if start.tzinfo is None:
        raise AutomationError(
            f"the dry run's start {start.isoformat()} has no time zone",
            "give an aware instant, e.g. 2026-03-01T00:00:00+00:00",
            where="start",
        )
    version = _version(store, definition_or_name)
    end = start + dt.timedelta(days=days)
    engine = store.engine.fork()
    try:
        scratch = Store(engine, store.settings)
        for table in SHADOWED:
            engine.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM main.{table} LIMIT 0"
            )
        for kind in ("date", "schedule"):
            write_cursor(engine, f"{kind}:{version.name}", start)
        clock = SimulatedClock(start)
        runtime = Runtime(scratch, clock=clock, versions=[version], acts=False)
        ticks = _replay(scratch, runtime, clock, version.definition, start, end, step)
        result = _summary(scratch, version.name, start, end, ticks)
        for table in (*SHADOWED, FEED):
            engine.execute(f"DROP TABLE IF EXISTS temp.{table}")
    finally:
        engine.close()
    return DryRun(**{**result, "seconds": round(time.perf_counter() - started, 3)})


def _version(store: Store, given: AutomationDefinition | str) -> Version:
    if isinstance(given, AutomationDefinition):
        return Version(given.name, 0, given, current=True)
    row = store.engine.query(
        "SELECT name, version, definition FROM automations WHERE name = ? AND retired_at IS NULL "
        "ORDER BY version DESC LIMIT 1",
        [given],
    ).to_pylist()
    if not row:
        raise AutomationError(
            f"No automation is named {given!r}",
            "give a published automation's name, or the definition itself",
            where=f"automation {given}",
        )
    definition = parse_automation(orjson.loads(row[0]["definition"]), origin=given)
    return Version(given, row[0]["version"], definition, current=True)


def _relevant(definition: AutomationDefinition) -> str:
    """Whether a customer_events row could matter to the automation (a trigger, a goal, an
    exit, an awaited event), to skip the ticks where none occurred."""
    filters = [definition.goal.event] if definition.goal else []
    filters += [e.event for e in definition.exit if e.event is not None]
    filters += [s.wait_for.event for s in definition.steps if s.wait_for is not None]
    trigger = definition.trigger
    if trigger.event is not None:
        filters.append(trigger.event)
    if trigger.geofence is not None:
        filters.append(trigger.geofence.event)
    parts = [event_match_sql(f) for f in filters]
    if trigger.segment is not None or any(e.left_segment for e in definition.exit):
        parts.append(f"name IN ('{ENTERED}', '{EXITED}')")
    return " OR ".join(parts) or "false"


def _replay(
    store: Store,
    runtime: Runtime,
    clock: SimulatedClock,
    definition: AutomationDefinition,
    start: dt.datetime,
    end: dt.datetime,
    step: dt.timedelta,
) -> int:
    engine = store.engine
    seconds = int(step.total_seconds())
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE _auto_dry_ticks AS
            SELECT DISTINCT {at_sql(start)} + INTERVAL ({seconds}) SECOND *
                   (1 + floor((epoch(occurred_at) - epoch({at_sql(start)})) / {seconds}))::BIGINT
                   AS tick
            FROM customer_events
            WHERE occurred_at >= {at_sql(start)} AND occurred_at < {at_sql(end)}
              AND ({_relevant(definition)})"""
    )
    every_step = definition.trigger.date is not None or definition.trigger.schedule is not None
    ticks, last = 0, start
    while last < end:
        if every_step:
            at = last + step
        else:
            next_event = engine.scalar(
                f"SELECT min(tick) FROM _auto_dry_ticks WHERE tick > {at_sql(last)}"
            )
            next_wake = engine.scalar(
                "SELECT min(wake_at) FROM automation_instances WHERE state = 'waiting'"
            )
            candidates = [t for t in (next_event, _ceil(next_wake, start, step)) if t is not None]
            if not candidates:
                break
            at = max(min(candidates), last + step)
        at = min(at, end)
        replay_feed(engine, last, at, "customer_events")
        clock.set(at)
        runtime.tick(feed=False)
        ticks += 1
        last = at
    engine.execute("DROP TABLE _auto_dry_ticks")
    return ticks


def _ceil(
    instant: dt.datetime | None, start: dt.datetime, step: dt.timedelta
) -> dt.datetime | None:
    """The first tick of the grid at or after `instant`."""
    if instant is None:
        return None
    steps = -(-(instant - start) // step)
    return start + max(steps, 1) * step


def _summary(
    store: Store, name: str, start: dt.datetime, end: dt.datetime, ticks: int
) -> dict[str, Any]:
    engine = store.engine
    instances = engine.query(
        "SELECT instance_id, customer_id, arm, entered_at, state, exit_reason, converted_at "
        "FROM automation_instances ORDER BY entered_at, customer_id"
    ).to_pylist()
    history = engine.query(
        "SELECT instance_id, step, outcome, detail FROM automation_steps "
        "ORDER BY instance_id, happened_at"
    ).to_pylist()
    paths: dict[int, list[dict[str, Any]]] = defaultdict(list)
    steps: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    branches: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in history:
        paths[row["instance_id"]].append(
            {k: row[k] for k in ("step", "outcome", "detail") if row[k] is not None}
        )
        if row["step"] != "entry":
            steps[row["step"]][row["outcome"]] += 1
        if row["outcome"] == "branch":
            branches[row["step"]][row["detail"]] += 1
    planned = engine.query("SELECT step, count(*) AS n FROM automation_sends GROUP BY 1")
    exits: dict[str, int] = defaultdict(int)
    for i in instances:
        if i["state"] == "done":
            exits[i["exit_reason"]] += 1
    return {
        "automation": name,
        "start": start,
        "end": end,
        "entered": len(instances),
        "held_out": sum(i["arm"] == "holdout" for i in instances),
        "steps": {k: dict(v) for k, v in steps.items()},
        "branches": {k: dict(v) for k, v in branches.items()},
        "planned": {r["step"]: r["n"] for r in planned.to_pylist()},
        "exits": dict(exits),
        "converted": sum(i["converted_at"] is not None for i in instances),
        "running": sum(i["state"] != "done" for i in instances),
        "customers": [
            {
                "customer_id": i["customer_id"],
                "arm": i["arm"],
                "entered_at": i["entered_at"],
                "path": paths.get(i["instance_id"], []),
                "state": i["state"],
                "exit_reason": i["exit_reason"],
            }
            for i in instances
        ],
        "ticks": ticks,
    }
