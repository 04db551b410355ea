"""A dry run replays a month of the store's events against an automation in simulated time
and answers who would enter and where each would go, leaving the store untouched."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from automation_log import T0, customer, message, publish, send_messages

import parcours
from parcours.automations.definition import parse_automation
from parcours.automations.dryrun import dry_run

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

WELCOME: dict[str, Any] = {
    "name": "welcome",
    "trigger": {"event": {"name": "Signed Up"}},
    "entry": {"re_entry": "never"},
    "goal": {"event": {"name": "Order Completed"}, "within": "30d"},
    "steps": [
        {
            "id": "hello",
            "send": {"channel": "email", "purpose": "marketing", "subject": "Hi", "body": "Hello"},
        },
        {"id": "pause", "wait": "7d"},
        {
            "id": "nudge",
            "send": {
                "channel": "email",
                "purpose": "marketing",
                "subject": "Still there?",
                "body": "...",
            },
        },
    ],
}


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
