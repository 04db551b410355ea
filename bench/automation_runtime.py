"""The automations runtime at scale, each figure from one run (timings are never asserted; the
machine is shared, so the load average is printed with them):

* **entry**: `--customers` customers (default 1M) entering one automation at once through
  `Runtime.enter` (as a segment entry or an HTTP call would admit them), each planned a first
  email (10 % held out) and set waiting 3 days; then the clock moves 3 days and one tick fires
  every timer and plans the second send (SMS). Time for each, and the sends planned.
* **segment**: `--segment-customers` customers (default 1M) entering a segment at once: their
  `Segment Entered` events written as the segments station writes them (an `events` row and
  its `customer_events` row each, source parcours); one tick reads them from the feed, admits
  everyone into an automation triggered by that segment and plans their first email.
* **timers**: `--timers` waiting instances (default 10M) written straight into
  `automation_instances`, their timers spread at random over 30 days; then ticks each firing
  the few thousand due in the next 1,000 seconds: the time per tick, and an idle tick's.
* **dry run**: `--dry-customers` customers (default 3,000) signing up at random over a month,
  some browsing and a third ordering; `dry_run` of a welcome with a goal, a wait, a split on
  recent pages and two sends over the 30 days, at hourly and six-hourly ticks.

    PYTHONPATH=src python bench/automation_runtime.py
    PYTHONPATH=src python bench/automation_runtime.py --customers 100000 --timers 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

import parcours
from parcours.automations.clock import SimulatedClock
from parcours.automations.definition import parse_automation
from parcours.automations.dryrun import dry_run
from parcours.automations.runtime import Runtime

T0 = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
EMAIL = {"channel": "email", "purpose": "marketing", "subject": "Hi", "body": "Hello"}
SMS = {"channel": "sms", "purpose": "marketing", "body": "Hello"}


def _publish(p: parcours.Parcours, definition: dict[str, object]) -> None:
    parsed = parse_automation(definition)
    p.store.engine.execute(
        "INSERT INTO automations VALUES (?, 1, ?, NULL, 'live', 'finish', ?, NULL)",
        [parsed.name, orjson.dumps(parsed.to_json_dict()).decode(), T0],
    )


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def entry(folder: Path, customers: int) -> None:
    with parcours.connect(folder / "entry.duckdb") as p:
        _publish(
            p,
            {
                "name": "bulk",
                "trigger": {"http": {}},
                "holdout": 10,
                "steps": [
                    {"id": "hello", "send": EMAIL},
                    {"id": "pause", "wait": "3d"},
                    {"id": "nudge", "send": SMS},
                ],
            },
        )
        clock = SimulatedClock(T0)
        runtime = Runtime(p.store, clock=clock)
        started = time.perf_counter()
        entered = runtime.enter(
            "bulk", f"SELECT 'c' || i AS customer_id FROM range({customers}) r(i)"
        )
        seconds = time.perf_counter() - started
        planned = p.store.engine.scalar("SELECT count(*) FROM automation_sends")
        print(
            f"entry: {entered:,} entered, {planned:,} first sends planned, all waiting: "
            f"{seconds:.2f} s ({_load()})"
        )
        clock.advance(dt.timedelta(days=3))
        report = runtime.tick()
        print(
            f"entry: one tick 3 days later fired {report.fired:,} timers and planned "
            f"{sum(report.planned.values()):,} sends: {report.seconds:.2f} s ({_load()})"
        )


def segment(folder: Path, customers: int) -> None:
    with parcours.connect(folder / "segment.duckdb") as p:
        _publish(
            p,
            {
                "name": "vip-welcome",
                "trigger": {"segment": {"name": "vip"}},
                "steps": [{"id": "hello", "send": EMAIL}, {"id": "pause", "wait": "7d"}],
            },
        )
        engine = p.store.engine
        at = f"TIMESTAMPTZ '{(T0 + dt.timedelta(minutes=1)).isoformat()}'"
        engine.execute(
            f"""INSERT INTO events BY NAME
                SELECT 'segment-' || i AS event_id, 'parcours' AS source, 'track' AS type,
                       'Segment Entered' AS name, 'other' AS channel, {at} AS occurred_at,
                       now() AS received_at, 'c' || i AS anonymous_id,
                       '{{"segment":"vip","version":1}}' AS properties, 'segments' AS import_id
                FROM range({customers}) r(i)"""
        )
        engine.execute(
            f"""INSERT INTO customer_events BY NAME
                SELECT 'c' || i AS customer_id, (hash('c' || i) >> 1)::BIGINT AS customer_key,
                       (hash('parcours', 'segment-' || i) >> 1)::BIGINT AS event_key,
                       {at} AS occurred_at, 'parcours' AS source, 'segment-' || i AS event_id,
                       'other' AS channel, 'track' AS type, 'Segment Entered' AS name,
                       '{{"segment":"vip","version":1}}' AS properties
                FROM range({customers}) r(i)"""
        )
        clock = SimulatedClock(T0 + dt.timedelta(minutes=2))
        report = Runtime(p.store, clock=clock).tick()
        print(
            f"segment: one tick read {report.events:,} segment entries, admitted "
            f"{sum(report.entered.values()):,} and planned {sum(report.planned.values()):,} "
            f"first emails: {report.seconds:.2f} s ({_load()})"
        )


def timers(folder: Path, count: int) -> None:
    with parcours.connect(folder / "timers.duckdb") as p:
        _publish(
            p,
            {
                "name": "bulk",
                "trigger": {"http": {}},
                "steps": [{"id": "pause", "wait": "30d"}, {"id": "nudge", "send": SMS}],
            },
        )
        p.store.engine.execute(
            f"""INSERT INTO automation_instances BY NAME
                SELECT (hash(i) >> 1)::BIGINT AS instance_id, 'bulk' AS automation, 1 AS version,
                       'c' || i AS customer_id, 'k' AS entry_key, 'treated' AS arm,
                       'pause' AS step, 'waiting' AS state,
                       TIMESTAMPTZ '{T0.isoformat()}' + INTERVAL (1 + hash(i) % 2592000) SECOND
                           AS wake_at,
                       TIMESTAMPTZ '{T0.isoformat()}' AS entered_at,
                       TIMESTAMPTZ '{T0.isoformat()}' AS updated_at
                FROM range({count}) r(i)"""
        )
        clock = SimulatedClock(T0)
        runtime = Runtime(p.store, clock=clock)
        print(f"timers: {count:,} waiting, an idle tick: {runtime.tick().seconds:.3f} s")
        for _ in range(3):
            clock.advance(dt.timedelta(seconds=1000))
            report = runtime.tick()
            print(
                f"timers: a tick firing {report.fired:,} due timers (and planning their "
                f"sends): {report.seconds:.3f} s ({_load()})"
            )


def dry(folder: Path, customers: int) -> None:
    rng = random.Random(7)
    lines = []
    number = 0

    def message(user: str, at: dt.datetime, event: str, channel: str = "web") -> None:
        nonlocal number
        number += 1
        lines.append(
            json.dumps(
                {
                    "type": "track",
                    "userId": user,
                    "messageId": f"m{number}",
                    "timestamp": at.isoformat(),
                    "event": event,
                    "context": {"channel": channel},
                }
            )
        )

    for i in range(customers):
        at = T0 + dt.timedelta(seconds=rng.uniform(0, 30 * 86400))
        message(f"u{i}", at, "Signed Up")
        for _ in range(rng.randint(0, 4)):
            message(f"u{i}", at + dt.timedelta(hours=rng.uniform(1, 200)), "Page Viewed")
        if rng.random() < 0.3:
            message(
                f"u{i}", at + dt.timedelta(hours=rng.uniform(1, 300)), "Order Completed", "store"
            )
    path = folder / "log.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with parcours.connect(folder / "dry.duckdb") as p:
        p.import_file(path, source="app", mapping="tracking")
        _publish(
            p,
            {
                "name": "welcome",
                "trigger": {"event": {"name": "Signed Up"}},
                "holdout": 10,
                "entry": {"re_entry": "never"},
                "goal": {"event": {"name": "Order Completed"}, "within": "30d"},
                "steps": [
                    {"id": "hello", "send": EMAIL},
                    {"id": "pause", "wait": "3d"},
                    {
                        "id": "which",
                        "split": {
                            "branches": [
                                {
                                    "when": {"events": {"name": "Page Viewed", "within": "7d"}},
                                    "next": "nudge",
                                }
                            ],
                            "else": "sms",
                        },
                    },
                    {"id": "nudge", "send": EMAIL, "next": "end"},
                    {"id": "sms", "send": SMS},
                    {"id": "end", "exit": {}},
                ],
            },
        )
        for hours in (1, 6):
            run = dry_run(p.store, "welcome", start=T0, days=30, step=dt.timedelta(hours=hours))
            print(
                f"dry run: {customers:,} customers ({len(lines):,} events), 30 days at "
                f"{hours} h ticks ({run.ticks} ticks): {run.seconds:.1f} s; entered "
                f"{run.entered:,}, held out {run.held_out}, planned {run.planned}, "
                f"exits {run.exits} ({_load()})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--segment-customers", type=int, default=1_000_000)
    parser.add_argument("--timers", type=int, default=10_000_000)
    parser.add_argument("--dry-customers", type=int, default=3_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        entry(Path(folder), args.customers)
        segment(Path(folder), args.segment_customers)
        timers(Path(folder), args.timers)
        dry(Path(folder), args.dry_customers)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
