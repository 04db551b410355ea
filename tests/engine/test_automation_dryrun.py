"""A dry run replays a month of the store's events against an automation in simulated time
and answers who would enter and where each would go, leaving the store untouched."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from automation_log import T0, customer, message, publish, send_messages, welcome

import parcours
from parcours.automations.definition import parse_automation
from parcours.automations.dryrun import dry_run

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

WELCOME = welcome("7d")


def test_a_dry_run_says_who_would_enter_and_where_each_would_go(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """Over [T0, T0 + 30 days): ann signs up on day 1 and orders on day 3 (converted during
    her 7-day wait: hello only); bob signs up on day 2 and never orders (hello, then nudge on
    day 9, the end); cid signs up on day 26 (hello; still waiting at the end, the nudge would
    come on day 33); dan signed up before the period (no entry). Sends: hello 3, nudge 1.
    The store's own tables stay empty."""
    publish(p, WELCOME)
    at = T0 + 5 * HOUR
    send_messages(
        p,
        tmp_path,
        [
            message("dan", T0 - DAY, "Signed Up"),
            message("ann", at + DAY, "Signed Up"),
            message("ann", at + 3 * DAY, "Order Completed", "store"),
            message("bob", at + 2 * DAY, "Signed Up"),
            message("cid", at + 26 * DAY, "Signed Up"),
        ],
    )
    run = dry_run(p.store, "welcome", start=T0, days=30)
    assert (run.entered, run.held_out, run.converted, run.running) == (3, 0, 1, 1)
    assert run.planned == {"hello": 3, "nudge": 1}
    assert run.exits == {"goal": 1, "end": 1}
    paths = {
        c["customer_id"]: [(s["step"], s["outcome"]) for s in c["path"]] for c in run.customers
    }
    assert paths[customer(p, "ann")] == [
        ("entry", "entered"),
        ("hello", "planned"),
        ("pause", "exited"),
    ]
    assert paths[customer(p, "bob")] == [
        ("entry", "entered"),
        ("hello", "planned"),
        ("pause", "waited"),
        ("nudge", "planned"),
    ]
    assert paths[customer(p, "cid")] == [("entry", "entered"), ("hello", "planned")]
    entered = {c["customer_id"]: c["entered_at"] for c in run.customers}
    # Each enters at the end of the hour of their sign-up (the tick that sees it).
    assert entered[customer(p, "ann")] == at + DAY + HOUR
    for table in ("automation_instances", "automation_steps", "automation_sends"):
        assert p.store.engine.scalar(f"SELECT count(*) FROM {table}") == 0, table


def test_a_dry_run_of_an_unpublished_definition_with_a_random_split(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """A definition not published: 40 sign-ups on day 2 split by a seeded draw into A and B,
    A planned an email, B an SMS; the arms add up to 40 and match the sends per step."""
    definition = parse_automation(
        {
            "name": "ab-test",
            "trigger": {"event": {"name": "Signed Up"}},
            "steps": [
                {
                    "id": "draw",
                    "random": {
                        "branches": [
                            {"name": "A", "weight": 1, "next": "mail"},
                            {"name": "B", "weight": 1, "next": "text"},
                        ]
                    },
                },
                {
                    "id": "mail",
                    "send": {
                        "channel": "email",
                        "purpose": "marketing",
                        "subject": "A",
                        "body": "A",
                    },
                    "next": "end",
                },
                {"id": "text", "send": {"channel": "sms", "purpose": "marketing", "body": "B"}},
                {"id": "end", "exit": {}},
            ],
        }
    )
    send_messages(p, tmp_path, [message(f"u{i}", T0 + 2 * DAY, "Signed Up") for i in range(40)])
    run = dry_run(p.store, definition, start=T0, days=30)
    arms = run.branches["draw"]
    assert sum(arms.values()) == 40 and set(arms) == {"A", "B"}
    assert run.planned == {"mail": arms["A"], "text": arms["B"]}
    assert run.exits == {"exit step": 40}


def test_a_batched_replay_agrees_with_ticking_every_hour(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """80 customers with a random month (seeded): sign-ups, pages, orders, some withdrawing
    their email consent. A welcome with a holdout, a goal, an exit, a wait, a split on
    recent pages, a wait_for an order and sends: replaying a day per tick (each instance at
    its own hour) gives exactly what ticking every hour through the server's own tick gives
    — who entered when, every step each went through, every send, every end."""
    rng = random.Random(11)
    messages = []
    for i in range(80):
        user, at = f"u{i}", T0 + dt.timedelta(hours=rng.uniform(0, 20 * 24))
        messages.append(message(user, at, "Signed Up"))
        for _ in range(rng.randint(0, 4)):
            messages.append(
                message(user, at + dt.timedelta(hours=rng.uniform(0, 240)), "Page Viewed")
            )
        if rng.random() < 0.4:
            messages.append(
                message(
                    user, at + dt.timedelta(hours=rng.uniform(0, 240)), "Order Completed", "store"
                )
            )
        if rng.random() < 0.15:
            messages.append(
                message(
                    user,
                    at + dt.timedelta(hours=rng.uniform(0, 240)),
                    "Consent Withdrawn",
                    "other",
                    channel="email",
                )
            )
    send_messages(p, tmp_path, messages)
    definition = parse_automation(
        {
            "name": "welcome",
            "trigger": {"event": {"name": "Signed Up"}},
            "holdout": 20,
            "goal": {"event": {"name": "Order Completed"}, "within": "10d"},
            "exit": [{"event": {"name": "Consent Withdrawn", "properties": {"channel": "email"}}}],
            "steps": [
                {
                    "id": "hello",
                    "send": {
                        "channel": "email",
                        "purpose": "marketing",
                        "subject": "Hi",
                        "body": "Hello",
                    },
                },
                {"id": "pause", "wait": "2d"},
                {
                    "id": "which",
                    "split": {
                        "branches": [
                            {
                                "when": {"events": {"name": "Page Viewed", "within": "3d"}},
                                "next": "browse",
                            }
                        ],
                        "else": "quiet",
                    },
                },
                {
                    "id": "browse",
                    "wait_for": {
                        "event": {"name": "Page Viewed"},
                        "timeout": "1d",
                        "on_event": "nudge",
                    },
                },
                {
                    "id": "quiet",
                    "send": {"channel": "sms", "purpose": "marketing", "body": "."},
                    "next": "end",
                },
                {
                    "id": "nudge",
                    "send": {
                        "channel": "email",
                        "purpose": "marketing",
                        "subject": "Back?",
                        "body": ".",
                    },
                },
                {"id": "end", "exit": {"reason": "done"}},
            ],
        }
    )
    batched = dry_run(p.store, definition, start=T0, days=30)
    hourly = dry_run(p.store, definition, start=T0, days=30, batch=None)
    assert batched.ticks < hourly.ticks
    assert batched.entered == 80 and batched.held_out > 0
    for field in (
        "entered",
        "held_out",
        "steps",
        "branches",
        "planned",
        "exits",
        "converted",
        "running",
        "customers",
    ):
        assert getattr(batched, field) == getattr(hourly, field), field
