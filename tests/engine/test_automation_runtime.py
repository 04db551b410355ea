"""The durable runtime on small hand-made logs (tests/automation_log.py), with a simulated
clock: entries and their rules, the holdout, splits, waits in two time zones, wait_for on the
same key, goals and exits at once, sends planned exactly once. Each expected value is read
off the log by hand, as each test says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from automation_log import (
    T0,
    customer,
    identify,
    instances,
    message,
    publish,
    send_messages,
    welcome,
)

import parcours
from parcours.automations import moves
from parcours.automations.clock import SimulatedClock
from parcours.automations.runtime import Runtime

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True, params=["replace", "update"])
def moves_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: instances moving by replacing their rows (as a few among many do)
    and by an UPDATE (as a large share of the table does)."""
    monkeypatch.setattr(moves, "REPLACE_BELOW", 10**9 if request.param == "replace" else 0)
    return str(request.param)


WELCOME = welcome("30d")


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
    assert report.planned == {"welcome:hello": 2}
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
    assert report.fired == 1 and report.planned == {"welcome:nudge": 1}
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


def _rules_automation(name: str, rule: str) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": {"event": {"name": "Logged In"}},
        "entry": {"re_entry": rule},
        "steps": [{"id": "pause", "wait": "1d"}, {"id": "bye", "exit": {"reason": "done"}}],
    }


def test_re_entry_never_after_exit_and_every_time(p: parcours.Parcours, tmp_path: Path) -> None:
    """u logs in at T0, T0+1h and T0+2d; each instance waits a day. never: one instance.
    after_exit: the T0 one, not the T0+1h one (T0's still waits), the T0+2d one (T0's ended
    at T0+1d): two. every_time: three. Ticking twice more admits no one again."""
    for rule in ("never", "after_exit", "every_time"):
        publish(p, _rules_automation(f"r-{rule}", rule))
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    for at in (T0, T0 + dt.timedelta(hours=1), T0 + 2 * DAY):
        clock.set(at)
        send_messages(p, tmp_path, [message("u", at, "Logged In")])
        runtime.tick()
    runtime.tick()
    runtime.tick()
    counted = p.store.engine.query(
        "SELECT automation, count(*) AS n FROM automation_instances GROUP BY 1"
    ).to_pylist()
    counts = {r["automation"]: r["n"] for r in counted}
    assert counts == {"r-never": 1, "r-after_exit": 2, "r-every_time": 3}
    ended = p.store.engine.query(
        "SELECT exit_reason, exited_at FROM automation_instances "
        "WHERE automation = 'r-after_exit' AND state = 'done'"
    ).to_pylist()
    assert ended == [{"exit_reason": "done", "exited_at": T0 + 2 * DAY}]


def _members(n: int) -> list[str]:
    return [f"m{i:03d}" for i in range(n)]


def test_the_holdout_is_stable_per_customer_and_is_sent_nothing(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """200 customers request two quotes each (every_time on quote_id), holdout 30%: each
    customer is in the same arm at both entries; the held out have no send rows, no task and
    held_out steps; the treated one planned send and a task per entry. The share held out is a
    draw: between 20% and 40% of 200 (a binomial's 4 standard deviations around 30%)."""
    publish(
        p,
        {
            "name": "quotes",
            "trigger": {"event": {"name": "Quote Requested"}},
            "entry": {"re_entry": "every_time", "key": "quote_id"},
            "holdout": 30,
            "steps": [
                {
                    "id": "thanks",
                    "send": {"channel": "sms", "purpose": "service", "body": "Thanks"},
                },
                {"id": "call", "task": {"title": "Call about the quote", "priority": "high"}},
            ],
        },
    )
    runtime = Runtime(p.store, clock=SimulatedClock(T0))
    users = _members(200)
    send_messages(
        p,
        tmp_path,
        [message(u, T0, "Quote Requested", quote_id=f"{u}-q{k}") for u in users for k in (1, 2)],
    )
    runtime.tick()
    rows = p.store.engine.query(
        "SELECT customer_id, list(DISTINCT arm) AS arms, count(*) AS n "
        "FROM automation_instances WHERE automation = 'quotes' GROUP BY 1"
    ).to_pylist()
    assert len(rows) == 200 and all(r["n"] == 2 and len(r["arms"]) == 1 for r in rows)
    held = {r["customer_id"] for r in rows if r["arms"] == ["holdout"]}
    assert 40 <= len(held) <= 80
    engine = p.store.engine
    sent_to = set(engine.query("SELECT customer_id FROM automation_sends").column(0).to_pylist())
    assert sent_to.isdisjoint(held) and len(sent_to) == 200 - len(held)
    assert engine.scalar("SELECT count(*) FROM automation_sends") == 2 * (200 - len(held))
    held_steps = (
        engine.query("SELECT DISTINCT customer_id FROM automation_steps WHERE outcome = 'held_out'")
        .column(0)
        .to_pylist()
    )
    assert set(held_steps) == held
    assert engine.scalar("SELECT priority FROM automation_sends LIMIT 1") == "service"
    # No agent calls the held out either: a task is treatment too.
    tasked = set(engine.query("SELECT customer_id FROM automation_tasks").column(0).to_pylist())
    assert tasked.isdisjoint(held) and len(tasked) == 200 - len(held)


def test_a_split_takes_the_first_branch_that_holds(p: parcours.Parcours, tmp_path: Path) -> None:
    """a lives in Lyon and is vip, b is vip only, c neither: the branches are Lyon first,
    then vip, else: a goes to lyon (not vip too), b to vip, c to else — one branch each."""
    publish(
        p,
        {
            "name": "route",
            "trigger": {"event": {"name": "Signed Up"}},
            "steps": [
                {
                    "id": "which",
                    "split": {
                        "branches": [
                            {"when": {"trait": {"name": "city", "equals": "Lyon"}}, "next": "lyon"},
                            {"when": {"trait": {"name": "vip", "equals": "yes"}}, "next": "vip"},
                        ],
                        "else": "other",
                    },
                },
                {"id": "lyon", "exit": {"reason": "lyon"}},
                {"id": "vip", "exit": {"reason": "vip"}},
                {"id": "other", "exit": {"reason": "other"}},
            ],
        },
    )
    earlier = T0 - DAY
    send_messages(
        p,
        tmp_path,
        [
            identify("a", earlier, city="Lyon", vip="yes"),
            identify("b", earlier, city="Paris", vip="yes"),
            identify("c", earlier, city="Paris"),
            *(message(u, T0, "Signed Up") for u in "abc"),
        ],
    )
    Runtime(p.store, clock=SimulatedClock(T0)).tick()
    found = instances(p, "route")
    assert {u: i["exit_reason"] for u, i in found.items()} == {
        "a": "lyon",
        "b": "vip",
        "c": "other",
    }
    branches = p.store.engine.query(
        "SELECT customer_id, count(*) AS n FROM automation_steps WHERE outcome = 'branch' "
        "GROUP BY 1"
    ).to_pylist()
    assert sorted(r["n"] for r in branches) == [1, 1, 1]


def test_random_arms_are_stable_and_weighted(p: parcours.Parcours, tmp_path: Path) -> None:
    """300 customers enter twice (two keys): each draws the same arm both times; both arms
    are drawn, A (weight 3) more often than B (weight 1): A's share between 60% and 90%."""
    publish(
        p,
        {
            "name": "ab",
            "trigger": {"event": {"name": "Quote Requested"}},
            "entry": {"re_entry": "every_time", "key": "quote_id"},
            "steps": [
                {
                    "id": "draw",
                    "random": {
                        "branches": [
                            {"name": "A", "weight": 3, "next": "a"},
                            {"name": "B", "weight": 1, "next": "b"},
                        ]
                    },
                },
                {"id": "a", "exit": {"reason": "A"}},
                {"id": "b", "exit": {"reason": "B"}},
            ],
        },
    )
    users = _members(300)
    send_messages(
        p,
        tmp_path,
        [message(u, T0, "Quote Requested", quote_id=f"{u}-{k}") for u in users for k in (1, 2)],
    )
    Runtime(p.store, clock=SimulatedClock(T0)).tick()
    rows = p.store.engine.query(
        "SELECT customer_id, list(DISTINCT detail) AS arms FROM automation_steps "
        "WHERE step = 'draw' GROUP BY 1"
    ).to_pylist()
    assert len(rows) == 300 and all(len(r["arms"]) == 1 for r in rows)
    share_a = sum(r["arms"] == ["A"] for r in rows) / 300
    assert 0.6 <= share_a <= 0.9
    reasons = (
        p.store.engine.query("SELECT DISTINCT exit_reason FROM automation_instances ORDER BY 1")
        .column(0)
        .to_pylist()
    )
    assert reasons == ["A", "B"]


def test_wait_until_a_local_time_in_two_zones_across_summer_time(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """paris (Europe/Paris) and ny (America/New_York) sign up on Saturday 2026-03-07 at 12:00
    UTC; the automation waits until Monday 09:00 local, sends, waits 14 days, waits until
    Monday 09:00 again and sends. America moves to summer time on 2026-03-08, Europe on
    2026-03-29 (tz database). ny: Monday 9 March 09:00 EDT = 13:00 UTC (not 14:00, as in
    winter); then from Monday 23 March 13:00 UTC, itself 09:00 local, the next is 30 March
    09:00 EDT = 13:00 UTC. paris: 9 March 09:00 CET = 08:00 UTC; then 30 March 09:00 CEST =
    07:00 UTC (summer time came in between)."""
    publish(
        p,
        {
            "name": "monday",
            "trigger": {"event": {"name": "Signed Up"}},
            "steps": [
                {"id": "first", "wait_until": {"time": "09:00", "weekdays": ["mon"]}},
                {
                    "id": "hello",
                    "send": {
                        "channel": "email",
                        "purpose": "service",
                        "subject": "Hi",
                        "body": "Hi",
                    },
                },
                {"id": "pause", "wait": "14d"},
                {"id": "second", "wait_until": {"time": "09:00", "weekdays": ["mon"]}},
                {
                    "id": "again",
                    "send": {
                        "channel": "email",
                        "purpose": "service",
                        "subject": "Hi",
                        "body": "Hi",
                    },
                },
            ],
        },
    )
    saturday = dt.datetime(2026, 3, 7, 12, tzinfo=dt.UTC)
    send_messages(
        p,
        tmp_path,
        [
            identify("paris", saturday - DAY, timezone="Europe/Paris"),
            identify("ny", saturday - DAY, timezone="America/New_York"),
            message("paris", saturday, "Signed Up"),
            message("ny", saturday, "Signed Up"),
        ],
    )
    clock = SimulatedClock(saturday)
    runtime = Runtime(p.store, clock=clock)
    runtime.tick()

    def wakes() -> dict[str, tuple[str, dt.datetime]]:
        return {u: (i["step"], i["wake_at"]) for u, i in instances(p, "monday").items()}

    utc = dt.UTC
    assert wakes() == {
        "paris": ("first", dt.datetime(2026, 3, 9, 8, tzinfo=utc)),
        "ny": ("first", dt.datetime(2026, 3, 9, 13, tzinfo=utc)),
    }
    clock.set(dt.datetime(2026, 3, 9, 8, tzinfo=utc))
    assert runtime.tick().planned == {"monday:hello": 1}  # paris only: ny's 09:00 is 5 hours later
    clock.set(dt.datetime(2026, 3, 9, 13, tzinfo=utc))
    assert runtime.tick().planned == {"monday:hello": 1}
    clock.set(dt.datetime(2026, 3, 23, 13, tzinfo=utc))  # both pauses are over
    runtime.tick()
    assert wakes() == {
        "paris": ("second", dt.datetime(2026, 3, 30, 7, tzinfo=utc)),
        "ny": ("second", dt.datetime(2026, 3, 30, 13, tzinfo=utc)),
    }


QUOTE: dict[str, Any] = {
    "name": "quote-follow-up",
    "trigger": {"event": {"name": "Quote Requested", "channel": "web"}},
    "entry": {"re_entry": "every_time", "key": "quote_id"},
    "steps": [
        {
            "id": "bought",
            "wait_for": {"event": {"name": "Order Completed"}, "timeout": "7d", "on_event": "done"},
        },
        {
            "id": "follow",
            "task": {
                "title": "Call {{ traits.first_name | default('them') }} about quote "
                "{{ entry.quote_id }}",
                "due_in": "1d",
                "priority": "high",
            },
        },
        {"id": "done", "exit": {"reason": "bought"}},
    ],
}


def test_wait_for_an_event_on_the_same_key(p: parcours.Parcours, tmp_path: Path) -> None:
    """ann quotes q1 on the web and buys q1 in store two days later: her instance moves on
    the event to done (reason bought), no task. bob quotes q2 and buys something else (q9):
    not his quote, so at day 7 his wait times out and a store follow-up task is created,
    due a day later, its title naming his quote."""
    publish(p, QUOTE)
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    send_messages(
        p,
        tmp_path,
        [
            message("ann", T0, "Quote Requested", quote_id="q1"),
            message("bob", T0, "Quote Requested", quote_id="q2"),
        ],
    )
    runtime.tick()
    clock.advance(2 * DAY)
    send_messages(
        p,
        tmp_path,
        [
            message("ann", T0 + 2 * DAY, "Order Completed", "store", quote_id="q1"),
            message("bob", T0 + 2 * DAY, "Order Completed", "store", quote_id="q9"),
        ],
    )
    assert runtime.tick().woke == 1
    clock.advance(5 * DAY)
    report = runtime.tick()
    assert report.fired == 1
    found = instances(p, "quote-follow-up")
    assert found["ann"]["exit_reason"] == "bought"
    assert found["ann"]["exited_at"] == T0 + 2 * DAY
    assert found["bob"]["exit_reason"] == "bought"  # the task step goes on to done
    outcomes = p.store.engine.query(
        "SELECT customer_id, list(outcome ORDER BY happened_at, outcome) AS o "
        "FROM automation_steps WHERE step = 'bought' GROUP BY 1"
    ).to_pylist()
    by = {r["customer_id"]: r["o"] for r in outcomes}
    assert by == {customer(p, "ann"): ["event"], customer(p, "bob"): ["timed_out"]}
    tasks = p.store.engine.query("SELECT * FROM automation_tasks").to_pylist()
    assert [(t["customer_id"], t["priority"], t["due_at"]) for t in tasks] == [
        (customer(p, "bob"), "high", T0 + 8 * DAY)
    ]
    # The title is filled from what made bob enter (his quote), as a message would be.
    assert tasks[0]["title"] == "Call them about quote q2"


def test_a_paused_automation_holds_its_instances_until_resumed(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """welcome pauses during ann's and bea's 30-day waits: at day 29 bea orders and her goal
    still ends her instance (nothing is lost while paused); at day 31 nothing else moves and
    cid's sign-up admits no one; resumed at day 40, ann's timer fires then (nudge planned at
    day 40)."""
    publish(p, WELCOME)
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    send_messages(p, tmp_path, [message("ann", T0, "Signed Up"), message("bea", T0, "Signed Up")])
    runtime.tick()
    p.store.engine.execute("UPDATE automations SET status = 'paused'")
    clock.advance(29 * DAY)
    send_messages(p, tmp_path, [message("bea", T0 + 29 * DAY, "Order Completed", "store")])
    assert runtime.tick().exits == {"goal": 1}
    clock.advance(2 * DAY)
    send_messages(p, tmp_path, [message("cid", T0 + 31 * DAY, "Signed Up")])
    report = runtime.tick()
    assert (report.entered, report.fired, report.planned) == ({}, 0, {})
    assert instances(p, "welcome")["ann"]["state"] == "waiting"
    p.store.engine.execute("UPDATE automations SET status = 'live'")
    clock.advance(9 * DAY)
    report = runtime.tick()
    assert report.planned == {"welcome:nudge": 1} and report.entered == {}
    nudge = p.store.engine.scalar("SELECT planned_at FROM automation_sends WHERE step = 'nudge'")
    assert nudge == T0 + 40 * DAY


def test_a_cycle_without_a_wait_is_bounded_per_tick(p: parcours.Parcours, tmp_path: Path) -> None:
    """Two tag steps naming each other (the lint refuses this; the runtime guards anyway): a
    tick runs at most steps + 1 = 3 rounds, leaving the instance active; the next tick runs
    3 more."""
    publish(
        p,
        {
            "name": "loop",
            "trigger": {"event": {"name": "Signed Up"}},
            "steps": [
                {"id": "a", "tag": "one", "next": "b"},
                {"id": "b", "tag": "two", "next": "a"},
            ],
        },
    )
    send_messages(p, tmp_path, [message("u", T0, "Signed Up")])
    runtime = Runtime(p.store, clock=SimulatedClock(T0))
    assert runtime.tick().advanced == 3
    assert instances(p, "loop")["u"]["state"] == "active"
    assert runtime.tick().advanced == 3


def test_an_exit_event_during_a_wait_ends_the_instance_at_once(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """welcome with an exit on Consent Withdrawn for email: on day 2 bob withdraws his email
    consent and his instance ends then with that reason, its timer gone; ann withdraws her
    SMS consent, which is no exit: she keeps waiting."""
    definition = {
        **WELCOME,
        "exit": [{"event": {"name": "Consent Withdrawn", "properties": {"channel": "email"}}}],
    }
    publish(p, definition)
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    send_messages(p, tmp_path, [message("ann", T0, "Signed Up"), message("bob", T0, "Signed Up")])
    runtime.tick()
    clock.advance(2 * DAY)
    send_messages(
        p,
        tmp_path,
        [
            message("ann", T0 + 2 * DAY, "Consent Withdrawn", "other", channel="sms"),
            message("bob", T0 + 2 * DAY, "Consent Withdrawn", "other", channel="email"),
        ],
    )
    report = runtime.tick()
    assert report.exits == {"exit: Consent Withdrawn": 1}
    found = instances(p, "welcome")
    assert (found["bob"]["state"], found["bob"]["wake_at"]) == ("done", None)
    assert found["bob"]["exited_at"] == T0 + 2 * DAY
    assert found["ann"]["state"] == "waiting"  # her withdrawal was for SMS, not email


def test_a_goal_after_the_last_step_still_converts_within_the_window(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """One send and the end: ann and bob enter at T0 and end at once; ann orders on day 3
    (within the goal's 30 days: converted at day 3, her exit reason still the end), bob on
    day 31 (outside: not converted)."""
    publish(p, {**WELCOME, "steps": WELCOME["steps"][:1]})
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    send_messages(p, tmp_path, [message("ann", T0, "Signed Up"), message("bob", T0, "Signed Up")])
    runtime.tick()
    clock.advance(3 * DAY)
    send_messages(p, tmp_path, [message("ann", T0 + 3 * DAY, "Order Completed", "store")])
    assert runtime.tick().converted == 1
    clock.advance(28 * DAY)
    send_messages(p, tmp_path, [message("bob", T0 + 31 * DAY, "Order Completed", "store")])
    assert runtime.tick().converted == 0
    found = instances(p, "welcome")
    assert (found["ann"]["exit_reason"], found["ann"]["converted_at"]) == ("end", T0 + 3 * DAY)
    assert found["bob"]["converted_at"] is None
