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

Time: events are replayed by `occurred_at` on a grid of `step` (an hour by default): an event
is seen at the end of its step, and every instance moves at the grid instant it would move at
were the server ticking every step. A tick replays a whole `batch` (a day) at once, each
instance at its own instant (`Runtime.replay`): entrants at their arrival, timers at their due
instant, goals, exits and awaited events at the tick seeing them — and a waiting instance only
on events up to its timer, so that what came first still comes first. On a month of 80
customers through a goal, an exit, a wait, a split, a wait_for and sends, a batched replay and
one ticking every hour agree exactly, instants included (tests/engine/test_automation_dryrun.py);
a month for 3,000 customers takes about 9 s instead of 190 s (two busy cores).

Conditions (the audience, splits) are evaluated at each instance's instant over the events;
segment membership and scores are read as they are now (the store keeps no past membership to
replay). Entries are judged at the start of their batch: under `after_exit`, a customer whose
instance ends during a day cannot enter again later that same day (a server ticking hourly
would let them). Date and schedule triggers tick every step through `Runtime.tick`. Steps with
nothing to do (no relevant event, no timer due) are skipped.
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

BATCH = dt.timedelta(days=1)
"""How much simulated time one replayed tick covers (each instance still moving at its own
step of the grid)."""
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
    """Each instance: customer_id, arm, entered_at, the steps it went through (step, outcome,
    detail, happened_at), how and when it ended, when it converted."""
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
    batch: dt.timedelta | None = BATCH,
) -> DryRun:
    """Replay [start, start + days) against the automation (a definition, or the name of a
    published one: its current version) without touching the store: each instance moves at
    the `step` grid (an event is seen at the end of its step), `batch` of simulated time
    replayed per tick (None: one tick per step through `Runtime.tick`, as the server would
    run — the reference a batched replay must agree with, slower)."""
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
        timed = version.definition.trigger.kind in ("date", "schedule")
        batched = batch is not None and not timed
        grid = (lambda column: _grid_sql(column, start, step)) if batched else None
        runtime = Runtime(scratch, clock=clock, versions=[version], acts=False, grid=grid)
        ticks = _replay(
            scratch,
            runtime,
            clock,
            version.definition,
            start,
            end,
            step,
            batch if batched else None,
        )
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
    batch: dt.timedelta | None,
) -> int:
    engine = store.engine
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE _auto_dry_ticks AS
            SELECT DISTINCT {_grid_sql("occurred_at", start, step)} AS tick
            FROM customer_events
            WHERE occurred_at >= {at_sql(start)} AND occurred_at < {at_sql(end)}
              AND ({_relevant(definition)})"""
    )
    every_step = definition.trigger.date is not None or definition.trigger.schedule is not None
    span = step * max(1, -(-batch // step)) if batch is not None else step
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
            first = max(min(candidates), last + step)
            at = _ceil(first, start, span) or first  # the batch holding the first step due
        at = min(at, end)
        clock.set(at)
        with engine.transaction():  # a scratch session: one commit per tick is enough
            replay_feed(engine, last, at, "customer_events")
            if batch is None:
                runtime.tick(feed=False)
            else:
                runtime.replay()
        ticks += 1
        last = at
    engine.execute("DROP TABLE _auto_dry_ticks")
    return ticks


def _grid_sql(column: str, start: dt.datetime, step: dt.timedelta) -> str:
    """SQL: the tick that sees an instant `column` — the end of its step on the grid from
    `start` (an event at 10:20 is seen by the 11:00 tick of an hourly run)."""
    seconds = int(step.total_seconds())
    return (
        f"({at_sql(start)} + INTERVAL ({seconds}) SECOND * "
        f"(1 + floor((epoch({column}) - epoch({at_sql(start)})) / {seconds}))::BIGINT)"
    )


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
        "SELECT instance_id, customer_id, arm, entered_at, state, exit_reason, exited_at, "
        "converted_at "
        "FROM automation_instances ORDER BY entered_at, customer_id"
    ).to_pylist()
    history = engine.query(
        "SELECT instance_id, step, outcome, detail, happened_at FROM automation_steps "
        "ORDER BY instance_id, happened_at, rowid"  # rowid: the order written, within an instant
    ).to_pylist()
    paths: dict[int, list[dict[str, Any]]] = defaultdict(list)
    steps: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    branches: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in history:
        paths[row["instance_id"]].append(
            {k: row[k] for k in ("step", "outcome", "detail", "happened_at") if row[k] is not None}
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
                "exited_at": i["exited_at"],
                "converted_at": i["converted_at"],
            }
            for i in instances
        ],
        "ticks": ticks,
    }
