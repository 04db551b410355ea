"""The automations catalogue on a real store: publish checked against the store and linted
(each rule caught at its line), versions, what a publish does to running instances (finish,
move, exit), pause, resume, retire, and every shipped automation clean.

The store holds the hand-made log of tests/automation_log.py (three customers; what each did
is written there). Instances are written as rows, as the runtime writes them, so that a
publish's effect on them is read off the rows by hand.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from automation_catalog_log import import_log

import parcours
from parcours.automations.catalog import AutomationConflict
from parcours.automations.definition import AutomationError, parse_automation_yaml
from parcours.automations.lint import lint
from parcours.automations.service import TEMPLATES, Automations
from parcours.errors import NotFoundError

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)

HELLO = """\
name: hello
description: A welcome of three steps
trigger:
  event: {name: Signed Up}
steps:
  - id: greet
    send: {channel: email, purpose: marketing, subject: Hello, body: Hello}
  - id: pause
    wait: 3d
  - id: nudge
    send: {channel: email, purpose: marketing, subject: Still there, body: Come back}
"""


@pytest.fixture
def automations(p: parcours.Parcours, tmp_path: Path) -> Automations:
    import_log(p, tmp_path)
    return Automations(p.store)


def _instance(a: Automations, n: int, version: int, step: str | None, state: str) -> None:
    """An instance row as the runtime writes one (customer c_n, entered at T0)."""
    a.store.engine.execute(
        "INSERT INTO automation_instances (instance_id, automation, version, customer_id, "
        "entry_key, entry, arm, step, state, wake_at, entered_at, updated_at) "
        "VALUES (?, 'hello', ?, ?, NULL, '{}', 'treated', ?, ?, ?, ?, ?)",
        [
            n,
            version,
            f"c_{n}",
            step,
            state,
            T0 + dt.timedelta(days=3) if state == "waiting" else None,
            T0,
            T0,
        ],
    )


def _planned_send(a: Automations, n: int) -> None:
    a.store.engine.execute(
        "INSERT INTO automation_sends (send_key, instance_id, automation, version, step, "
        "customer_id, channel, purpose, priority, state, attempts, next_attempt_at, planned_at, "
        "updated_at) VALUES (?, ?, 'hello', 1, 'greet', ?, 'email', 'marketing', 'marketing', "
        "'planned', 0, ?, ?, ?)",
        [f"k{n}", n, f"c_{n}", T0, T0, T0],
    )


def _rows(a: Automations) -> dict[int, dict[str, Any]]:
    rows = a.store.engine.query(
        "SELECT instance_id, version, step, state, wake_at, exit_reason FROM automation_instances"
    ).to_pylist()
    return {r.pop("instance_id"): r for r in rows}


# --- shipped automations -----------------------------------------------------------------------


def test_every_shipped_automation_is_clean_and_publishes_without_a_warning(
    automations: Automations,
) -> None:
    """Nine templates, one per case of the issue; the log names every event, trait and consent
    purpose they use, so that none draws a warning there."""
    shipped = {t["name"] for t in automations.templates()}
    assert shipped == {
        "welcome",
        "inactivity",
        "onboarding",
        "renewal",
        "negative-social-post",
        "quote-follow-up",
        "repeat-contact",
        "progressive-profiling",
        "satisfaction-survey",
    }
    for name in sorted(shipped):
        definition = parse_automation_yaml((TEMPLATES / f"{name}.yaml").read_text(), origin=name)
        assert lint(definition) == [], name
        published = automations.publish_template(name)
        assert (published.version, published.changed, published.warnings) == (1, True, []), name


def test_the_inactivity_template_anonymises_after_two_reminders_and_ends_on_any_visit() -> None:
    definition = parse_automation_yaml((TEMPLATES / "inactivity.yaml").read_text())
    assert [s.action for s in definition.steps] == ["send", "wait", "send", "wait", "anonymise"]
    assert [s.wait for s in definition.steps if s.wait] == ["30d", "30d"]
    channels = {e.event.channel for e in definition.exit if e.event is not None}
    assert {"web", "app", "store", "call", "chat", "social"} <= channels


# --- publish and versions ---------------------------------------------------------------------


def test_an_unchanged_definition_publishes_nothing_new_and_a_change_makes_version_two(
    automations: Automations,
) -> None:
    first = automations.publish(HELLO)
    again = automations.publish(HELLO)
    changed = automations.publish(HELLO.replace("wait: 3d", "wait: 4d"))
    assert (first.version, first.changed) == (1, True)
    assert (again.version, again.changed) == (1, False)
    assert (changed.version, changed.changed) == (2, True)
    assert [v["version"] for v in automations.versions("hello")] == [1, 2]
    assert automations.show("hello").definition["steps"][1]["wait"] == "4d"


def test_finish_leaves_running_instances_on_their_version(automations: Automations) -> None:
    automations.publish(HELLO)
    _instance(automations, 1, 1, "pause", "waiting")
    done = automations.publish(HELLO.replace("wait: 3d", "wait: 5d"))
    assert (done.version, done.moved, done.exited) == (2, 0, 0)
    assert _rows(automations)[1]["version"] == 1


def test_move_takes_instances_to_the_same_step_and_exits_those_whose_step_is_gone(
    automations: Automations,
) -> None:
    automations.publish(HELLO)
    _instance(automations, 1, 1, "pause", "waiting")  # pause stays a wait: timer kept
    _instance(automations, 2, 1, "nudge", "active")  # nudge is renamed below: gone
    _instance(automations, 3, 1, None, "done")  # already ended: untouched
    renamed = HELLO.replace("id: nudge", "id: remind")
    done = automations.publish(renamed, on_publish="move")
    assert (done.version, done.moved, done.exited) == (2, 1, 1)
    rows = _rows(automations)
    assert (rows[1]["version"], rows[1]["step"], rows[1]["state"]) == (2, "pause", "waiting")
    assert rows[1]["wake_at"] == T0 + dt.timedelta(days=3)
    assert (rows[2]["state"], rows[2]["exit_reason"]) == ("done", "moved: step gone")
    assert (rows[3]["version"], rows[3]["exit_reason"]) == (1, None)
    history = automations.history(2)
    assert (history[-1]["outcome"], history[-1]["detail"]) == ("exited", "moved: step gone")
    assert automations.history(1)[-1]["outcome"] == "moved"


def test_move_runs_at_once_a_waiting_step_that_is_no_longer_a_wait(
    automations: Automations,
) -> None:
    automations.publish(HELLO)
    _instance(automations, 1, 1, "pause", "waiting")
    no_wait = HELLO.replace("wait: 3d", "tag: paused-once")
    automations.publish(no_wait, on_publish="move")
    row = _rows(automations)[1]
    assert (row["version"], row["state"], row["wake_at"]) == (2, "active", None)


def test_exit_ends_running_instances_and_holds_their_unsent_messages(
    automations: Automations,
) -> None:
    automations.publish(HELLO)
    _instance(automations, 1, 1, "pause", "waiting")
    _instance(automations, 2, 1, "greet", "active")
    _planned_send(automations, 1)
    done = automations.publish(HELLO.replace("wait: 3d", "wait: 2d"), on_publish="exit")
    assert (done.moved, done.exited) == (0, 2)
    rows = _rows(automations)
    assert {rows[i]["exit_reason"] for i in (1, 2)} == {"new version"}
    assert {rows[i]["wake_at"] for i in (1, 2)} == {None}
    send = automations.sends(automation="hello")[0]
    assert (send["state"], send["reason"]) == ("held", "instance exited: new version")
    counts = {v["version"]: (v["waiting"], v["done"]) for v in automations.versions("hello")}
    assert counts == {1: (0, 2), 2: (0, 0)}


def test_pause_resume_retire_and_publish_again(automations: Automations) -> None:
    automations.publish(HELLO)
    _instance(automations, 1, 1, "pause", "waiting")
    assert automations.pause("hello").status == "paused"
    assert automations.list()[0].status == "paused"
    assert automations.resume("hello").status == "live"
    retired = automations.retire("hello")
    assert (retired["exited"], _rows(automations)[1]["exit_reason"]) == (1, "retired")
    assert automations.list() == []
    assert automations.list(retired=True)[0].status == "retired"
    with pytest.raises(AutomationConflict, match="retired"):
        automations.resume("hello")
    again = automations.publish(HELLO)
    assert (again.version, again.changed) == (2, True)
    assert automations.show("hello").status == "live"


def test_counts_of_instances_per_automation(automations: Automations) -> None:
    automations.publish(HELLO)
    _instance(automations, 1, 1, "greet", "active")
    _instance(automations, 2, 1, "pause", "waiting")
    _instance(automations, 3, 1, "pause", "waiting")
    _instance(automations, 4, 1, None, "done")
    automations.store.engine.execute(
        "UPDATE automation_instances SET converted_at = ? WHERE instance_id = 4", [T0]
    )
    info = automations.list()[0]
    assert (info.running, info.waiting, info.done, info.converted) == (1, 2, 1, 1)
    waiting = automations.instances("hello", state="waiting")
    assert sorted(r["customer_id"] for r in waiting) == ["c_2", "c_3"]


def test_a_misspelt_name_is_refused_with_the_closest(automations: Automations) -> None:
    automations.publish(HELLO)
    with pytest.raises(NotFoundError, match="closest: 'hello'"):
        automations.show("helo")


# --- names checked against the store ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "line", "unknown"),
    [
        (("{name: Signed Up}", "{name: Signed Upp}"), 4, "unknown event name 'Signed Upp'"),
        (
            ("trigger:\n  event: {name: Signed Up}", "trigger:\n  segment: {name: vips}"),
            4,
            "unknown segment 'vips'",
        ),
        (
            ("steps:", "audience: {trait: {name: frist_name}}\nsteps:"),
            5,
            "unknown trait 'frist_name' (closest: 'first_name'",
        ),
        (
            ("steps:", "audience: {score: {name: helth, below: 40}}\nsteps:"),
            5,
            "unknown score 'helth' (closest: 'health'",
        ),
        (
            ("steps:", "audience: {not: {segment: vips}}\nsteps:"),
            5,
            "unknown segment 'vips'",
        ),
        (
            ("event: {name: Signed Up}", "date: {trait: renewal_dte, offset: -30d}"),
            4,
            "unknown trait 'renewal_dte' (closest: 'renewal_date'",
        ),
    ],
)
def test_an_unknown_name_is_refused_at_its_line_with_the_closest(
    automations: Automations, change: tuple[str, str], line: int, unknown: str
) -> None:
    with pytest.raises(AutomationError) as refused:
        automations.publish(HELLO.replace(*change))
    assert f"line {line}" in refused.value.message
    assert unknown in refused.value.message
    assert automations.list(retired=True) == []  # nothing half-published


def test_a_trait_another_automation_sets_may_be_read(automations: Automations) -> None:
    """One automation sets `vip`; another may then split on it before any customer has it."""
    setter = HELLO.replace("wait: 3d", "set_trait: {vip: true}").replace("name: hello", "name: set")
    reader = HELLO.replace("steps:", "audience: {trait: {name: vip, equals: true}}\nsteps:")
    with pytest.raises(AutomationError, match="unknown trait 'vip'"):
        automations.publish(reader)
    automations.publish(setter)
    assert automations.publish(reader).version == 1


# --- lint rules -------------------------------------------------------------------------------

SPLIT = """\
name: split
trigger:
  event: {name: Signed Up}
steps:
  - id: which
    split:
      branches:
        - when: {trait: {name: city, equals: Lyon}}
          next: a
        - when: {trait: {name: city, %s}}
          next: b
      else: c
  - id: a
    exit: {}
  - id: b
    exit: {}
  - id: c
    exit: {}
"""


def _findings(automations: Automations, text: str) -> list[tuple[str, str, str]]:
    linted = automations.lint(text)
    return [(f.rule, f.severity, f.where) for f in linted.errors + linted.warnings]


def test_a_branch_that_can_never_be_taken_is_an_error_at_its_line(
    automations: Automations,
) -> None:
    # city equals Lyon twice (line 10): branch 1 selects no one branch 0 does not.
    found = _findings(automations, SPLIT % "equals: Lyon")
    assert found == [("overlap", "error", "line 10, steps[0].split.branches[1].when")]
    with pytest.raises(AutomationError, match=r"line 10.*can never be taken"):
        automations.publish(SPLIT % "equals: Lyon")


def test_branches_that_overlap_are_a_warning_and_disjoint_ones_nothing(
    automations: Automations,
) -> None:
    ranges = SPLIT.replace("equals: Lyon}", "at_least: 10}")
    overlapping = _findings(automations, ranges % "between: [5, 12]")
    assert overlapping == [("overlap", "warning", "line 10, steps[0].split.branches[1].when")]
    assert _findings(automations, ranges % "below: 10") == []
    assert _findings(automations, SPLIT % "equals: Paris") == []
    published = automations.publish(ranges % "between: [5, 12]")
    assert [w.rule for w in published.warnings] == ["overlap"]


def test_a_step_no_path_reaches_is_an_error(automations: Automations) -> None:
    text = HELLO.replace("    wait: 3d", "    wait: 3d\n    next: greet").replace(
        "  - id: greet", "  - id: start\n    wait: 1d\n  - id: greet"
    )
    # start → greet → pause → greet ...: nudge (line 13) is never reached, and the loop of
    # greet (line 8) and pause has no way out.
    found = _findings(automations, text)
    assert found == [
        ("unreachable", "error", "line 13, steps[3]"),
        ("no_way_out", "error", "line 8, steps[1]"),
    ]


def test_a_wait_for_both_of_whose_outcomes_loop_back_is_an_error(
    automations: Automations,
) -> None:
    text = """\
name: loop
trigger:
  event: {name: Signed Up}
steps:
  - id: greet
    send: {channel: email, purpose: marketing, subject: Hi, body: Hi}
  - id: bought
    wait_for: {event: {name: Order Completed}, timeout: 7d, on_event: greet, on_timeout: greet}
  - id: never
    exit: {}
"""
    # greet (line 5) → bought → greet whatever happens; `never` (line 9) is reached by nothing.
    found = automations.lint(text).errors
    assert [(f.rule, f.where) for f in found] == [
        ("unreachable", "line 9, steps[2]"),
        ("no_way_out", "line 5, steps[0]"),
    ]
    assert "both outcomes of wait_for 'bought' lead back" in found[1].message


def test_a_jump_back_into_a_loop_without_a_wait_is_an_error(automations: Automations) -> None:
    text = """\
name: spin
trigger:
  event: {name: Signed Up}
steps:
  - id: check
    split:
      branches:
        - when: {trait: {name: city, equals: Lyon}}
          next: done
      else: again
  - id: again
    tag: looked
    next: check
  - id: done
    exit: {}
"""
    found = _findings(automations, text)
    assert found == [("loop_without_wait", "error", "line 11, steps[1]")]


def test_a_purpose_no_consent_names_and_events_never_seen_are_warnings(
    automations: Automations,
) -> None:
    text = HELLO.replace(
        "purpose: marketing, subject: Hello", "purpose: newsletter, subject: Hello"
    )
    text = text.replace("steps:", "goal: {event: {name: Order Complete}}\nsteps:")
    warnings = automations.lint(text).warnings
    assert [(w.rule, w.where) for w in warnings] == [
        ("consent", "line 8, steps[0].send.purpose"),
        ("never_seen", "line 5, goal.event.name"),
    ]
    assert "closest: 'Order Completed'" in warnings[1].message


def test_only_an_automation_triggered_by_http_takes_entries(automations: Automations) -> None:
    automations.publish(HELLO)  # triggered by Signed Up
    with pytest.raises(AutomationError, match="starts on its event trigger, not by HTTP"):
        automations.enter("hello", identifier="email", value="ada@example.com")
    assert automations.instances("hello") == []


def test_every_message_template_a_shipped_automation_names_is_shipped() -> None:
    """A send naming `template: X` on a channel reads X.<channel>.j2 (SMS and push fall back
    to their own file only; docs in templates/messages/README.md)."""
    messages = TEMPLATES / "messages"
    named = []
    for path in sorted(TEMPLATES.glob("*.yaml")):
        for step in parse_automation_yaml(path.read_text()).steps:
            if step.send is not None and step.send.template is not None:
                named.append((path.stem, step.send.template, step.send.channel))
    assert len(named) == 9  # welcome, 2 inactivity, 2 onboarding, renewal, quote, repeat, survey
    missing = [n for n in named if not (messages / f"{n[1]}.{n[2]}.j2").is_file()]
    assert missing == []
