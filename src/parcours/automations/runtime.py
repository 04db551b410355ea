"""The durable runtime: instances, timers, step history and the send ledger live in the store,
and `Runtime.tick()` moves them on.

A tick, in phases, each committed on its own (a SIGKILL between two loses nothing: the next
tick redoes what was not committed, and every phase is idempotent):

1. what the new events end or wake (the events received since the cursor,
   automations.feed): goals and exits end running instances at once, also waiting ones (their
   timer goes with them); wait_for steps wake on their event;
2. due timers fire (waits end, wait_for steps time out);
3. every active instance runs its steps until it waits or ends (automations.steps), a group
   of instances at one step at a time, each group in its own transaction;
4. event, segment and geofence triggers in the new events admit entrants, and the cursor
   moves, in one transaction; then date and schedule triggers due since their last
   evaluation (after the moves, so that `after_exit` sees who just ended);
5. the entrants run their first steps.

Only automations whose current version is live act: a paused one neither admits nor moves
(its waiting instances keep waiting; their timers fire at the first tick after it resumes).
Every instant comes from the clock, so a dry run and the tests run a month in seconds.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from parcours.automations.clock import Clock, SystemClock
from parcours.automations.definition import AutomationError
from parcours.automations.entries import (
    CANDIDATES,
    admit,
    audience_filter,
    empty_candidates,
    feed_candidates_sql,
)
from parcours.automations.feed import CURSOR, FEED, load_feed, write_cursor
from parcours.automations.matching import at_sql
from parcours.automations.moves import STEPS
from parcours.automations.settings import automation_settings
from parcours.automations.steps import Context, advance
from parcours.automations.timed import timed_candidates
from parcours.automations.versions import Version, acting_versions
from parcours.automations.wakes import (
    awaited_events,
    due_timers,
    goals_and_exits,
    touched_instances,
)
from parcours.identity.rules import identity_rules
from parcours.sql import lit
from parcours.store.store import Store

LOOPS = 100
"""A replayed batch repeats goals, wakes and timers at most this often (each pass moves every
instance due by at least one wait)."""


@dataclass(frozen=True)
class TickReport:
    """What one tick did; `to_dict()` is the stable JSON."""

    events: int = 0
    """New events read from the feed."""
    entered: dict[str, int] = field(default_factory=dict)
    """Entrants per automation."""
    exits: dict[str, int] = field(default_factory=dict)
    """Instances ended by a goal or an exit, per reason."""
    converted: int = 0
    """Goals reached: instances ended by their goal, and ended ones converting within the
    window."""
    woke: int = 0
    """wait_for steps whose event came."""
    fired: int = 0
    """Due timers fired."""
    advanced: int = 0
    """Steps run."""
    planned: dict[str, int] = field(default_factory=dict)
    """Sends planned, per send step (`automation:step`)."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Runtime:
    """Moves the store's automations on at the clock's time: `tick()`; `enter()` for the
    HTTP trigger."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        versions: list[Version] | None = None,
        acts: bool = True,
        grid: Callable[[str], str] | None = None,
    ) -> None:
        """`versions`, `acts` and `grid` are for a dry run: the versions to run instead of
        the store's live ones; whether steps act (own events, privacy) or only record; and
        the tick that sees an instant (SQL of SQL), with which every instance moves at its
        own tick rather than the clock's, so that one call replays a whole day (`replay`)."""
        self.store = store
        self.clock = clock or SystemClock()
        self._versions = versions
        self._acts = acts
        self._grid = grid
        self._rules = identity_rules(store.settings)
        self._zone = automation_settings(store.settings).default_timezone
        self._steps_of: tuple[tuple[str, int, bool], ...] | None = None
        self._settled = False
        """Whether no instance was left active by this runtime's last advance (a fresh
        runtime, after a crash, advances whatever a killed tick left active)."""

    def versions(self) -> list[Version]:
        if self._versions is not None:
            return self._versions
        return acting_versions(self.store.engine)

    def tick(self, *, feed: bool = True) -> TickReport:
        """One pass over new events, due triggers and timers, then every active instance's
        steps. `feed=False` leaves the feed to the caller (a dry run fills it itself)."""
        started = time.perf_counter()
        engine, now = self.store.engine, self.clock.now()
        versions = self.versions()
        if not versions:
            return TickReport(seconds=round(time.perf_counter() - started, 3))
        self._load_steps(versions)
        live = [v for v in versions if v.live]
        current = [v for v in live if v.current]
        context = Context(self.store, now, self._rules, self._zone, acts=self._acts)
        exits: dict[str, int] = {}
        woke = late = 0
        if feed:
            with engine.transaction():
                events, until = load_feed(engine, min(v.since or now for v in versions))
        else:
            events, until = int(engine.scalar(f"SELECT count(*) FROM {FEED}") or 0), None
        if events:
            with engine.transaction():  # what the new events end or wake
                if touched_instances(engine):
                    exits, late = goals_and_exits(engine, versions, now)
                    if touched_instances(engine):  # as the goals and exits left them
                        woke = awaited_events(engine, versions, now)
        with engine.transaction():
            fired = due_timers(engine, now)
        advanced = 0
        if fired or woke or not self._settled:
            advanced, self._settled = advance(context, live)
        # Entrants last, so that re-entry rules see the instances that just ended.
        entered: dict[str, int] = {}
        with engine.transaction():
            for version in current if events else []:
                sql = feed_candidates_sql(version)
                if sql is not None:
                    empty_candidates(self.store)
                    if engine.write(f"INSERT INTO {CANDIDATES} {sql}"):
                        self._admit(version, now, entered)
            if until is not None:
                write_cursor(engine, CURSOR, until)
        timed = [v for v in current if v.definition.trigger.kind in ("date", "schedule")]
        if timed:
            with engine.transaction():
                for version in timed:
                    empty_candidates(self.store)
                    timed_candidates(self.store, self._rules, version, now, self._zone)
                    self._admit(version, now, entered)
        if any(entered.values()):
            more, self._settled = advance(context, live)
            advanced += more
        converted = exits.get("goal", 0) + late
        return TickReport(
            events=events,
            entered={k: v for k, v in entered.items() if v},
            exits=exits,
            converted=converted,
            woke=woke,
            fired=fired,
            advanced=advanced,
            planned=context.planned,
            seconds=round(time.perf_counter() - started, 3),
        )

    def replay(self) -> TickReport:
        """A dry run's tick over a batch of the feed (`FEED`, filled by the caller) up to the
        clock's now, each instance at its own instant: entrants at their arrival run their
        first steps; then, until nothing moves, goals and exits end instances at their event
        (a waiting one only on events up to its timer), awaited events wake, due timers fire
        at their due instant, and the moved run their steps."""
        started = time.perf_counter()
        engine, now = self.store.engine, self.clock.now()
        versions = self.versions()
        self._load_steps(versions)
        live = [v for v in versions if v.live]
        context = Context(
            self.store, now, self._rules, self._zone, acts=self._acts, per_instance=True
        )
        entered: dict[str, int] = {}
        events = int(engine.scalar(f"SELECT count(*) FROM {FEED}") or 0)
        for version in [v for v in live if v.current] if events else []:
            sql = feed_candidates_sql(version)
            if sql is not None:
                empty_candidates(self.store)
                if engine.write(f"INSERT INTO {CANDIDATES} {sql}"):
                    self._admit(version, now, entered)
        advanced, _ = advance(context, live)
        exits: dict[str, int] = {}
        woke = fired = late = 0
        for _ in range(LOOPS):
            moved = 0
            if events and touched_instances(engine):
                ended, converted = goals_and_exits(engine, versions, now, per_instance=self._grid)
                late += converted
                for reason, count in ended.items():
                    exits[reason] = exits.get(reason, 0) + count
                moved += sum(ended.values())
                if touched_instances(engine):
                    woken = awaited_events(engine, versions, now, per_instance=self._grid)
                    woke, moved = woke + woken, moved + woken
            due = due_timers(engine, now, per_instance=True)
            fired, moved = fired + due, moved + due
            if not moved:
                break
            more, _ = advance(context, live)
            advanced += more
        return TickReport(
            events=events,
            entered={k: v for k, v in entered.items() if v},
            exits=exits,
            converted=exits.get("goal", 0) + late,
            woke=woke,
            fired=fired,
            advanced=advanced,
            planned=context.planned,
            seconds=round(time.perf_counter() - started, 3),
        )

    def enter(
        self, automation: str, customers_sql: str, *, entry: dict[str, Any] | None = None
    ) -> int:
        """Admit the customers `customers_sql` (SQL selecting customer_id) into `automation`
        now, with `entry` as the entry's properties (its `key` property, when the definition
        names one, is the entry key; else the instant), under the audience and re-entry
        rules; they run their first steps at once. Returns how many entered."""
        versions = [v for v in self.versions() if v.name == automation and v.live]
        current = next((v for v in versions if v.current), None)
        if current is None:
            raise AutomationError(
                f"No live automation is named {automation!r}",
                "publish it (or resume it) first: parcours automations list shows them",
                where=f"automation {automation}",
            )
        now, engine = self.clock.now(), self.store.engine
        properties = entry or {}
        key_name = current.definition.entry.key
        key = properties.get(key_name) if key_name else None
        entry_key = str(key) if key is not None else f"http:{now.isoformat()}"
        self._load_steps(versions)
        entered: dict[str, int] = {}
        with engine.transaction():
            empty_candidates(self.store)
            engine.execute(
                f"INSERT INTO {CANDIDATES} SELECT DISTINCT customer_id, {lit(entry_key)}, "
                f"{lit(orjson.dumps(properties).decode())}::JSON, {at_sql(now)} "
                f"FROM ({customers_sql})"
            )
            self._admit(current, now, entered)
        context = Context(self.store, now, self._rules, self._zone, acts=self._acts)
        _, self._settled = advance(context, versions)
        return entered.get(automation, 0)

    def _admit(self, version: Version, now: dt.datetime, entered: dict[str, int]) -> None:
        arrival = self._grid("arrived_at") if self._grid else None
        audience_filter(self.store, self._rules, version.definition, now, arrival=arrival)
        admitted = admit(self.store, version, now, arrival=arrival)
        entered[version.name] = entered.get(version.name, 0) + admitted

    def _load_steps(self, versions: list[Version]) -> None:
        """The transitions table (automations.moves.STEPS) of these versions. A runtime given
        its versions (a dry run, on a session of its own) makes it once; others at each call,
        since another runtime on the same session may have made it for other versions."""
        key = tuple((v.name, v.version, v.live) for v in versions)
        if self._versions is not None and key == self._steps_of:
            return
        self._steps_of = key
        rows = []
        for v in versions:
            d = v.definition
            for step in d.steps:
                after = d.after(step.id)
                on_event = on_timeout = after
                if step.wait_for is not None:
                    on_event = step.wait_for.on_event or after
                    on_timeout = step.wait_for.on_timeout or after
                cells = [lit(v.name), str(v.version), lit(step.id), lit(step.action)]
                cells += [lit(t) if t else "NULL" for t in (after, on_event, on_timeout)]
                rows.append(f"({', '.join(cells)}, {str(v.live).lower()})")
        self.store.engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {STEPS} AS SELECT automation::VARCHAR AS automation, "
            "version::INTEGER AS version, step::VARCHAR AS step, action::VARCHAR AS action, "
            "after::VARCHAR AS after, on_event::VARCHAR AS on_event, "
            "on_timeout::VARCHAR AS on_timeout, live::BOOLEAN AS live "
            f"FROM (VALUES {', '.join(rows)}) "
            "s(automation, version, step, action, after, on_event, on_timeout, live)"
        )
