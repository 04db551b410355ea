"""The uplift of an automation and its per-step funnel, on rows written straight into the v9
tables (the schema is the contract between the runtime, delivery and this measure); every
expected value is counted by hand from the rows below, or published in Newcombe (1998)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

import parcours
from parcours.automations.events import EMAIL_CLICKED, EMAIL_DELIVERED, EMAIL_OPENED
from parcours.automations.report import automation_sections
from parcours.automations.uplift import newcombe_interval, uplift, wilson_interval
from parcours.errors import NotFoundError

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

WELCOME = {
    "name": "welcome",
    "trigger": {"event": {"name": "Signed Up"}},
    "holdout": 10,
    "goal": {"event": {"name": "Order Completed"}, "within": "30d"},
    "steps": [
        {"id": "hello", "send": {"channel": "email", "purpose": "marketing", "subject": "Hi",
                                 "body": "Hello {{ traits.first_name }}"}},
        {"id": "pause", "wait": "3d"},
        {"id": "nudge", "send": {"channel": "email", "purpose": "marketing", "subject": "Still",
                                 "body": "there?"}},
        {"id": "done", "exit": {"reason": "finished"}},
    ],
}  # fmt: skip

# Newcombe (1998), Table II, method 10 (the score interval without continuity correction),
# cases (a) to (h): successes and trials of each proportion, and the 95 % interval of p1 - p2
# to four decimals, as published.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


def publish(p: parcours.Parcours, definition: dict[str, Any], version: int = 1) -> None:
    p.store.engine.execute(
        "INSERT INTO automations (name, version, definition, status, on_publish, published_at) "
        "VALUES (?, ?, ?, 'live', 'finish', ?)",
        [definition["name"], version, json.dumps(definition), T0],
    )


def instance(
    p: parcours.Parcours,
    instance_id: int,
    arm: str,
    *,
    automation: str = "welcome",
    entered: dt.datetime = T0,
    converted: dt.datetime | None = None,
    exited: tuple[dt.datetime, str] | None = None,
) -> None:
    p.store.engine.execute(
        "INSERT INTO automation_instances (instance_id, automation, version, customer_id, arm, "
        "step, state, entered_at, updated_at, converted_at, exited_at, exit_reason) "
        "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            instance_id, automation, f"c{instance_id}", arm, None if exited else "pause",
            "done" if exited else "waiting", entered, entered, converted,
            exited[0] if exited else None, exited[1] if exited else None,
        ],
    )  # fmt: skip


def history(p: parcours.Parcours, instance_id: int, *rows: tuple[str, str, dt.datetime]) -> None:
    for step, outcome, at in rows:
        detail = "goal" if outcome == "exited" and step == "pause" else None
        p.store.engine.execute(
            "INSERT INTO automation_steps VALUES (?, 'welcome', 1, ?, ?, ?, ?, ?)",
            [instance_id, f"c{instance_id}", step, outcome, detail, at],
        )


def send(
    p: parcours.Parcours,
    instance_id: int,
    step: str,
    state: str,
    *back: str,
    automation: str = "welcome",
) -> None:
    key = f"{automation}-{instance_id}-{step}"
    p.store.engine.execute(
        "INSERT INTO automation_sends (send_key, instance_id, automation, version, step, "
        "customer_id, channel, purpose, priority, state, attempts, planned_at, updated_at) "
        "VALUES (?, ?, ?, 1, ?, ?, 'email', 'marketing', 'marketing', ?, 1, ?, ?)",
        [key, instance_id, automation, step, f"c{instance_id}", state, T0, T0],
    )
    for n, name in enumerate(back):
        p.store.engine.execute(
            "INSERT INTO events (event_id, source, type, name, channel, occurred_at, "
            "received_at, properties) VALUES (?, 'parcours', 'track', ?, 'email', ?, ?, ?)",
            [f"{key}:{n}", name, T0, T0, json.dumps({"send_key": key})],
        )


@pytest.fixture
def welcome(p: parcours.Parcours) -> parcours.Parcours:
    """Six entries into welcome (four treated, two held out), and noise of another automation.

    1 treated: hello sent (delivered, opened twice, clicked); orders at +2d during the pause:
      the goal ends it there (its history says so).
    2 treated: hello sent (delivered, opened), nudge sent (delivered); ends at done, finished.
    3 treated: both sends held (no first name); ends at done, finished.
    4 treated, entered at +5d: hello sent (accepted by the SMTP server, so delivered:
      email has no receipt); still in the pause.
    5 held out: hello held out; orders at +10d during the pause: the goal (no history row of
      its exit: it ended at the last step it reached).
    6 held out: both sends held out; ends at done, finished.
    """
    publish(p, WELCOME)
    publish(p, {**WELCOME, "name": "other"})
    instance(p, 1, "treated", converted=T0 + 2 * DAY, exited=(T0 + 2 * DAY, "goal"))
    history(p, 1, ("entry", "entered", T0), ("hello", "planned", T0), ("pause", "waited", T0),
            ("pause", "exited", T0 + 2 * DAY))  # fmt: skip
    send(p, 1, "hello", "sent", EMAIL_DELIVERED, EMAIL_OPENED, EMAIL_OPENED, EMAIL_CLICKED)
    instance(p, 2, "treated", exited=(T0 + 3 * DAY, "finished"))
    history(p, 2, ("entry", "entered", T0), ("hello", "planned", T0), ("pause", "waited", T0),
            ("nudge", "planned", T0 + 3 * DAY), ("done", "exited", T0 + 3 * DAY))  # fmt: skip
    send(p, 2, "hello", "sent", EMAIL_DELIVERED, EMAIL_OPENED)
    send(p, 2, "nudge", "sent", EMAIL_DELIVERED)
    instance(p, 3, "treated", exited=(T0 + 3 * DAY, "finished"))
    history(p, 3, ("entry", "entered", T0), ("hello", "planned", T0), ("pause", "waited", T0),
            ("nudge", "planned", T0 + 3 * DAY), ("done", "exited", T0 + 3 * DAY))  # fmt: skip
    send(p, 3, "hello", "held")
    send(p, 3, "nudge", "held")
    instance(p, 4, "treated", entered=T0 + 5 * DAY)
    history(p, 4, ("entry", "entered", T0 + 5 * DAY), ("hello", "planned", T0 + 5 * DAY),
            ("pause", "waited", T0 + 5 * DAY))  # fmt: skip
    send(p, 4, "hello", "sent")  # no receipt: the SMTP server's acceptance delivers it
    instance(p, 5, "holdout", converted=T0 + 10 * DAY, exited=(T0 + 10 * DAY, "goal"))
    history(p, 5, ("entry", "entered", T0), ("hello", "held_out", T0), ("pause", "waited", T0))
    instance(p, 6, "holdout", exited=(T0 + 3 * DAY, "finished"))
    history(p, 6, ("entry", "entered", T0), ("hello", "held_out", T0), ("pause", "waited", T0),
            ("nudge", "held_out", T0 + 3 * DAY), ("done", "exited", T0 + 3 * DAY))  # fmt: skip
    # Another automation's instance and sends, and an open of its send: counted nowhere here.
    instance(p, 7, "treated", automation="other", converted=T0 + DAY)
    send(p, 7, "hello", "sent", EMAIL_OPENED, automation="other")
    return p


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_TABLE_II)
def test_the_interval_is_newcombes_method_10_as_published_in_table_ii(
    counts: tuple[int, int, int, int], published: tuple[float, float]
) -> None:
    low, high = newcombe_interval(*counts)
    assert (round(low, 4), round(high, 4)) == published


def test_wilson_interval_of_none_in_ten_is_the_rule_of_three_like_bound() -> None:
    # Newcombe (1998) Table II (e)/(f) rest on it: Wilson's upper bound for 0/10 is 0.2775.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=5e-5))


def test_uplift_from_the_store_reproduces_the_published_example(p: parcours.Parcours) -> None:
    """Newcombe's case (a) as entries: 56 of 70 treated and 48 of 80 held-out customers
    converted within the window."""
    publish(p, WELCOME)
    rows = [(1, "treated", 56, 70), (1000, "holdout", 48, 80)]
    for base, arm, converted, entries in rows:
        for n in range(entries):
            won = T0 + DAY if n < converted else None
            instance(p, base + n, arm, converted=won)
    result = uplift(p.store, "welcome")
    assert (result.treated.entries, result.treated.converted) == (70, 56)
    assert (result.holdout.entries, result.holdout.converted) == (80, 48)
    assert result.difference == pytest.approx(0.2)  # 56/70 - 48/80 = 0.8 - 0.6
    assert (round(result.low or 0, 4), round(result.high or 0, 4)) == (0.0524, 0.3339)
    assert result.relative == pytest.approx(0.2 / 0.6)


def test_conversion_by_arm_counts_each_entry_once_within_the_goal_window(
    welcome: parcours.Parcours,
) -> None:
    result = uplift(welcome.store, "welcome")
    assert result.goal == "Order Completed" and result.within == "30d"
    assert result.entered == 6
    assert (result.treated.entries, result.treated.converted) == (4, 1)  # entry 1
    assert (result.holdout.entries, result.holdout.converted) == (2, 1)  # entry 5
    assert result.difference == pytest.approx(1 / 4 - 1 / 2)
    assert (result.low, result.high) == pytest.approx(newcombe_interval(1, 4, 1, 2))
    assert result.relative == pytest.approx(-0.5)  # -0.25 / 0.5
    assert result.exits == {"finished": 3, "goal": 2}


def test_the_funnel_of_each_step(welcome: parcours.Parcours) -> None:
    steps = {s.step: s for s in uplift(welcome.store, "welcome").steps}
    assert list(steps) == ["entry", "hello", "pause", "nudge", "done"]
    entry, hello, pause, nudge, done = steps.values()
    # Converted after a step: the treated only (5, held out, converted too: the baseline).
    assert (entry.action, entry.entered, entry.converted) == ("entry", 6, 1)
    assert (hello.entered, hello.held_out, hello.sent, hello.held) == (6, 2, 3, 1)
    # Delivered: 1, 2, 4; opened: 1 (twice, once counted) and 2; clicked: 1.
    assert (hello.delivered, hello.opened, hello.clicked) == (3, 2, 1)
    assert hello.converted == 1  # 1 at +2d (5 at +10d, held out)
    assert (pause.entered, pause.converted, pause.exited) == (6, 1, {"goal": 2})
    assert (nudge.entered, nudge.held_out, nudge.sent, nudge.held) == (3, 1, 1, 1)
    assert (nudge.delivered, nudge.opened, nudge.converted) == (1, 0, 0)
    assert (done.action, done.entered, done.exited) == ("exit", 3, {"finished": 3})
    assert hello.exited == {} and entry.exited == {}


def test_as_of_keeps_only_entries_whose_window_has_closed(welcome: parcours.Parcours) -> None:
    """At T0 + 30d, entry 4 (entered at +5d) has five days of its window left."""
    result = uplift(welcome.store, "welcome", as_of=T0 + 30 * DAY)
    assert (result.treated.entries, result.holdout.entries) == (3, 2)
    assert next(s for s in result.steps if s.step == "hello").sent == 2  # entries 1 and 2


def test_no_holdout_means_no_difference(p: parcours.Parcours) -> None:
    publish(p, WELCOME)
    instance(p, 1, "treated", converted=T0 + DAY)
    result = uplift(p.store, "welcome")
    assert not result.measurable and result.low is None
    assert result.to_dict()["treated"] == {"entries": 1, "converted": 1, "rate": 1.0}


def test_an_unknown_automation_is_named_with_those_published(welcome: parcours.Parcours) -> None:
    with pytest.raises(NotFoundError, match=r"'welcom'.*other, welcome"):
        uplift(welcome.store, "welcom")


def test_the_report_says_the_uplift_in_a_marketers_words(p: parcours.Parcours) -> None:
    """Newcombe's case (a) again: 48/80 held out is 60.0 %, 56/70 treated 80.0 %, and the
    published interval 0.0524 to 0.3339 is +5.2 to +33.4 points."""
    publish(p, WELCOME)
    for base, arm, converted, entries in [(1, "treated", 56, 70), (1000, "holdout", 48, 80)]:
        for n in range(entries):
            instance(p, base + n, arm, converted=T0 + DAY if n < converted else None)
    built = automation_sections(p.store)
    assert [s.key for s in built.sections] == ["automation-welcome"]
    expected = (
        "The welcome automation lifted Order Completed within 30 days from 60.0 % to 80.0 % "
        "(+20.0 points, 95 % CI +5.2 to +33.4; 56 of 70 treated, 48 of 80 held out)."
    )
    assert built.findings == [expected]
    assert built.sections[0].sentence.startswith(expected)


def test_the_report_sections_show_each_step_and_how_instances_ended(
    welcome: parcours.Parcours,
) -> None:
    built = automation_sections(welcome.store)
    assert [s.key for s in built.sections] == ["automation-other", "automation-welcome"]
    section = built.sections[1]
    # Held out 1 of 2 (50.0 %), treated 1 of 4 (25.0 %): the interval spans zero.
    assert "from 50.0 % (held out) to 25.0 % (treated)" in section.sentence
    assert "the interval includes zero" in section.sentence
    assert "hello: 3 sent, 3 delivered, 2 opened, 1 clicked, 1 held" in section.sentence
    assert "5 ended: 3 finished, 2 goal." in section.sentence
    funnel = section.figures[0]
    assert [t.name for t in funnel.data] == ["hello", "nudge"]
    assert list(funnel.data[0].x) == [6, 3, 3, 2, 1, 1]  # entered ... converted, by hand above
    rows = {r[0]: r for r in section.table.cells()} if section.table else {}
    assert rows["pause"][-1] == "2 goal" and rows["done"][-1] == "3 finished"


def test_no_section_when_no_automation_ran(p: parcours.Parcours) -> None:
    publish(p, WELCOME)
    assert automation_sections(p.store).sections == []
