"""The durable runtime on small hand-made logs (tests/automation_log.py), with a simulated
clock: entries and their rules, the holdout, splits, waits in two time zones, wait_for on the
same key, goals and exits at once, sends planned exactly once. Each expected value is read
off the log by hand, as each test says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from automation_log import T0, customer, identify, instances, message, publish, send_messages

import parcours
from parcours.automations.clock import SimulatedClock
from parcours.automations.runtime import Runtime

DAY = dt.timedelta(days=1)

WELCOME: dict[str, Any] = {
    "name": "welcome",
    "trigger": {"event": {"name": "Signed Up"}},
    "entry": {"re_entry": "never"},
    "goal": {"event": {"name": "Order Completed"}, "within": "30d"},
    "steps": [
        {"id": "hello", "send": {"channel": "email", "purpose": "marketing",
                                 "subject": "Hi", "body": "Hello"}},
        {"id": "pause", "wait": "30d"},
        {"id": "nudge", "send": {"channel": "email", "purpose": "marketing",
                                 "subject": "Still there?", "body": "..."}},
    ],
}


def _sends(p: parcours.Parcours, automation: str) -> list[dict[str, Any]]:
    return p.store.engine.query(
        "SELECT * FROM automation_sends WHERE automation = ? ORDER BY step, customer_id",
        [automation],
    ).to_pylist()


def test_a_goal_during_a_thirty_day_wait_ends_the_instance_at_once(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """ann signs up at T0, is sent hello and waits 30 days; she orders on day 5: the next
    tick (still day 5) ends her instance as converted, its timer gone, and the nudge is
    never planned, even when the clock passes day 30. bob, who never orders, gets both."""
    publish(p, WELCOME)
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    send_messages(p, tmp_path, [message("ann", T0, "Signed Up"), message("bob", T0, "Signed Up")])
    report = runtime.tick()
    assert report.entered == {"welcome": 2}
    assert report.planned == {"hello": 2}
    waiting = instances(p, "welcome")
    assert {u: (i["state"], i["step"]) for u, i in waiting.items()} == {
        "ann": ("waiting", "pause"),
        "bob": ("waiting", "pause"),
    }
    assert waiting["ann"]["wake_at"] == T0 + 30 * DAY

    clock.advance(5 * DAY)
    send_messages(p, tmp_path, [message("ann", T0 + 5 * DAY, "Order Completed", "store")])
    report = runtime.tick()
    assert report.exits == {"goal": 1} and report.converted == 1
    ann = instances(p, "welcome")["ann"]
    assert (ann["state"], ann["exit_reason"], ann["wake_at"]) == ("done", "goal", None)
    assert ann["converted_at"] == T0 + 5 * DAY and ann["exited_at"] == T0 + 5 * DAY

    clock.advance(26 * DAY)
    report = runtime.tick()
    assert report.fired == 1 and report.planned == {"nudge": 1}
    sent = [(s["step"], s["customer_id"]) for s in _sends(p, "welcome")]
    bob = customer(p, "bob")
    assert sorted(sent) == sorted([("hello", customer(p, "ann")), ("hello", bob), ("nudge", bob)])
    assert instances(p, "welcome")["bob"]["exit_reason"] == "end"


def test_sends_are_planned_exactly_once_however_often_the_tick_runs(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """Three sign-ups, ticked three times at the same instant and again a day later: three
    hello rows, each with its md5 key, state planned, due now, priority marketing."""
    publish(p, WELCOME)
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    send_messages(p, tmp_path, [message(u, T0, "Signed Up") for u in ("a", "b", "c")])
    for _ in range(3):
        runtime.tick()
    clock.advance(DAY)
    runtime.tick()
    sends = _sends(p, "welcome")
    assert len(sends) == 3
    assert len({s["send_key"] for s in sends}) == 3
    assert {(s["state"], s["priority"], s["next_attempt_at"]) for s in sends} == {
        ("planned", "marketing", T0)
    }
    one = sends[0]
    expected = p.store.engine.scalar(
        "SELECT md5(? || '|' || ? || '|' || ? || '|' || ? || '|' || ?)",
        ["welcome", 1, one["instance_id"], "hello", "email"],
    )
    assert one["send_key"] == expected
