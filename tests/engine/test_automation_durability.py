"""A SIGKILL during a tick loses nothing and plans nothing twice: the runtime's process is
killed while it admits 20,000 customers and runs their first steps; a new process runs the
same entry and a tick again, and every instance is where it should be with exactly one send
planned per send step it passed."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson

import parcours
from parcours.automations.clock import SimulatedClock
from parcours.automations.definition import parse_automation
from parcours.automations.runtime import Runtime

T0 = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
CUSTOMERS = 20_000
ENTER = f"SELECT 'c' || i AS customer_id FROM range({CUSTOMERS}) r(i)"
BULK = {
    "name": "bulk",
    "trigger": {"http": {}},
    "holdout": 10,
    "steps": [
        {
            "id": "hello",
            "send": {"channel": "email", "purpose": "marketing", "subject": "s", "body": "b"},
        },
        {"id": "tag", "set_trait": {"welcomed": True}},
        {"id": "pause", "wait": "3d"},
        {"id": "nudge", "send": {"channel": "sms", "purpose": "marketing", "body": "b"}},
    ],
}
WORKER = textwrap.dedent(
    f"""
    import datetime as dt, sys
    import parcours
    from parcours.automations.clock import SimulatedClock
    from parcours.automations.runtime import Runtime
    with parcours.connect(sys.argv[1]) as p:
        clock = SimulatedClock(dt.datetime.fromisoformat({T0.isoformat()!r}))
        runtime = Runtime(p.store, clock=clock)
        print("ready", flush=True)
        runtime.enter("bulk", {ENTER!r})
        runtime.tick()
        print("done", flush=True)
    """
)


def _publish(path: Path) -> None:
    with parcours.connect(path) as p:
        definition = parse_automation(BULK)
        p.store.engine.execute(
            "INSERT INTO automations VALUES ('bulk', 1, ?, NULL, 'live', 'finish', ?, NULL)",
            [orjson.dumps(definition.to_json_dict()).decode(), T0],
        )


def test_a_sigkill_during_a_tick_loses_nothing_and_plans_nothing_twice(tmp_path: Path) -> None:
    """Killed at a random moment of its work (or after it, if it was quicker: the checks hold
    either way), then run again: 20,000 instances, each once, all waiting at pause; the
    treated (not held out) have exactly one hello send each; three days later, exactly one
    nudge each."""
    store = tmp_path / "store.duckdb"
    _publish(store)
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(store)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    time.sleep(random.uniform(0.05, 1.0))
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    print("the worker had", "finished" if "done" in worker.stdout.read() else "not finished")

    with parcours.connect(store) as p:
        clock = SimulatedClock(T0)
        runtime = Runtime(p.store, clock=clock)
        runtime.enter("bulk", ENTER)
        runtime.tick()
        engine = p.store.engine
        rows = engine.query(
            "SELECT count(*) AS n, count(DISTINCT customer_id) AS customers, "
            "count(*) FILTER (WHERE state = 'waiting' AND step = 'pause') AS waiting, "
            "count(*) FILTER (WHERE arm = 'treated') AS treated FROM automation_instances"
        ).to_pylist()[0]
        assert (rows["n"], rows["customers"], rows["waiting"]) == (CUSTOMERS,) * 3
        treated = rows["treated"]
        sends = engine.query(
            "SELECT step, count(*) AS n, count(DISTINCT instance_id) AS instances "
            "FROM automation_sends GROUP BY 1"
        ).to_pylist()
        assert sends == [{"step": "hello", "n": treated, "instances": treated}]
        entered = engine.scalar("SELECT count(*) FROM automation_steps WHERE outcome = 'entered'")
        assert entered == CUSTOMERS
        clock.advance(dt.timedelta(days=3))
        runtime.tick()
        nudges = engine.scalar(
            "SELECT count(DISTINCT instance_id) FILTER (WHERE step = 'nudge') - "
            "count(*) FILTER (WHERE step = 'nudge') FROM automation_sends"
        )
        assert nudges == 0
        assert (
            engine.scalar("SELECT count(*) FROM automation_sends WHERE step = 'nudge'") == treated
        )
