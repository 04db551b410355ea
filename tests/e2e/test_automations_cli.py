"""`parcours automations ...` run as a user runs them, on the hand-made log of
tests/automation_catalog_log.py (three customers; what each did is written there): the
catalogue, an entry by HTTP trigger followed through its instance, sends and tasks, a batch
round, and each mistake with its own message and exit status 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from automation_catalog_log import import_log
from cli_process import run

import parcours
from parcours.identity.customers import customer_of

QUOTE = """\
name: quote
description: A quote entered by HTTP, followed up by email and by the store
trigger: {http: {}}
entry: {re_entry: every_time, key: quote_id}
steps:
  - id: hello
    send:
      channel: email
      purpose: marketing
      subject: Your quote
      body: "Quote {{ entry.quote_id }}"
  - id: call
    task: {title: Call about the quote, priority: high, due_in: 1h, queue: store}
  - id: pause
    wait: 3d
"""
UNKNOWN_TRAIT = QUOTE.replace("steps:", "audience: {trait: {name: frist_name}}\nsteps:")
UNREACHABLE = QUOTE + "  - id: done\n    exit: {}\n  - id: orphan\n    wait: 1d\n"


def _store(folder: Path) -> tuple[Path, str]:
    with parcours.connect(folder / "store.duckdb") as p:
        import_log(p, folder)
        ada = customer_of(p.store, "email", "ada@example.com")
    for name, text in (
        ("quote", QUOTE),
        ("unknown-trait", UNKNOWN_TRAIT),
        ("unreachable", UNREACHABLE),
    ):
        (folder / f"{name}.yaml").write_text(text)
    (folder / "broken.yaml").write_text("name: broken\ntrigger: {event: {name: Signed Up}\n")
    # The commands run in this folder, so they read this file: a run's sends go out whatever
    # the hour (quiet hours, which TOML turns off with false, would defer them at night).
    (folder / "parcours.toml").write_text("[parcours.automations]\nquiet_hours = false\n")
    return folder / "store.duckdb", ada


def _cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run("automations", *args, "--store", str(store), cwd=store.parent)


def _json(store: Path, *args: str) -> Any:
    done = _cli(store, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _refused(store: Path, *args: str) -> str:
    done = _cli(store, *args)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def test_the_catalogue_commands(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    shipped = _json(store, "templates")
    assert len(shipped) == 9 and {t["name"] for t in shipped} >= {"welcome", "inactivity"}
    welcome = _json(store, "publish", "--template", "welcome")
    assert (welcome["name"], welcome["version"], welcome["changed"]) == ("welcome", 1, True)

    first = _json(store, "publish", str(tmp_path / "quote.yaml"))
    assert (first["version"], first["changed"], first["warnings"]) == (1, True, [])
    again = _cli(store, "publish", str(tmp_path / "quote.yaml"))
    assert again.returncode == 0 and "quote unchanged at version 1" in again.stdout
    (tmp_path / "quote.yaml").write_text(QUOTE.replace("wait: 3d", "wait: 4d"))
    second = _json(store, "publish", str(tmp_path / "quote.yaml"), "--on-publish", "move")
    assert (second["version"], second["on_publish"], second["moved"]) == (2, "move", 0)

    listed = _json(store, "list")
    assert [(a["name"], a["version"], a["trigger"]) for a in listed] == [
        ("quote", 2, "http"),
        ("welcome", 1, "event"),
    ]
    shown = _json(store, "show", "quote")
    assert shown["definition"]["steps"][2] == {"id": "pause", "wait": "4d"}
    assert [v["version"] for v in _json(store, "versions", "quote")] == [1, 2]
    table = _cli(store, "show", "quote")
    assert table.returncode == 0 and "wait: 4d" in table.stdout

    assert _json(store, "pause", "welcome")["status"] == "paused"
    assert _json(store, "resume", "welcome")["status"] == "live"
    retired = _json(store, "retire", "welcome")
    assert (retired["retired"], retired["exited"]) == (True, 0)
    assert [a["name"] for a in _json(store, "list")] == ["quote"]
    assert _json(store, "list", "--retired")[1]["status"] == "retired"


def test_lint_exits_2_on_an_error_and_0_on_a_clean_definition(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    clean = _cli(store, "lint", str(tmp_path / "quote.yaml"))
    assert clean.returncode == 0 and "quote can be published (0 warnings)" in clean.stdout
    # orphan (line 18: QUOTE has 15 lines, done 16-17) follows an exit step: no path reaches it.
    found = _cli(store, "lint", str(tmp_path / "unreachable.yaml"))
    assert found.returncode == 2
    assert "unreachable at line 18, steps[4]: step 'orphan' is reached by no path" in found.stderr
    as_json = _cli(store, "lint", str(tmp_path / "unreachable.yaml"), "--format", "json")
    assert as_json.returncode == 2
    assert [e["rule"] for e in json.loads(as_json.stdout)["errors"]] == ["unreachable"]


def test_each_mistake_has_its_own_message(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    message = _refused(store, "publish", str(tmp_path / "unknown-trait.yaml"))
    assert "line 5, audience.trait.name: unknown trait 'frist_name'" in message
    assert "closest: 'first_name'" in message and "Fix:" in message
    assert "line 18, steps[4]" in _refused(store, "publish", str(tmp_path / "unreachable.yaml"))
    assert "not valid YAML" in _refused(store, "publish", str(tmp_path / "broken.yaml"))
    assert "Cannot read" in _refused(store, "publish", str(tmp_path / "missing.yaml"))
    assert "either a definition file or --template" in _refused(store, "publish")
    assert "closest: 'welcome'" in _refused(store, "publish", "--template", "welcom")
    assert "choose finish, move or exit" in _refused(
        store, "publish", str(tmp_path / "quote.yaml"), "--on-publish", "later"
    )
    _json(store, "publish", str(tmp_path / "quote.yaml"))
    assert "No automation 'qoute'" in _refused(store, "show", "qoute")
    assert "closest: 'quote'" in _refused(store, "instances", "qoute")
    assert "not one of planned" in _refused(store, "sends", "--state", "lost")
    assert "--properties is not JSON" in _refused(
        store, "enter", "quote", "--identifier", "email", "--value", "a@b.c", "--properties", "{"
    )
    assert "No customer has the email" in _refused(
        store, "enter", "quote", "--identifier", "email", "--value", "nobody@example.com"
    )
    assert "No automation instance 42" in _refused(store, "history", "42")


def test_an_entry_followed_through_instances_history_sends_tasks_and_a_run(
    tmp_path: Path,
) -> None:
    store, ada = _store(tmp_path)
    _json(store, "publish", str(tmp_path / "quote.yaml"))
    entered = _json(
        store,
        "enter",
        "quote",
        "--identifier",
        "email",
        "--value",
        "ada@example.com",
        "--properties",
        '{"quote_id": "q1"}',
    )
    assert entered == {"automation": "quote", "customer_id": ada, "entered": 1}
    # hello plans an email, call creates a task, then the instance waits at pause.
    instances = _json(store, "instances", "quote")
    assert [(i["customer_id"], i["step"], i["state"]) for i in instances] == [
        (ada, "pause", "waiting")
    ]
    history = _json(store, "history", str(instances[0]["instance_id"]))
    assert [(h["step"], h["outcome"]) for h in history] == [
        ("entry", "entered"),
        ("hello", "planned"),
        ("call", "task"),
    ]
    sends = _json(store, "sends", "--automation", "quote")
    assert [(s["customer_id"], s["step"], s["channel"], s["state"]) for s in sends] == [
        (ada, "hello", "email", "planned")
    ]
    tasks = _json(store, "tasks", "--automation", "quote")
    assert [(t["customer_id"], t["priority"], t["queue"]) for t in tasks] == [
        (ada, "high", "store")
    ]
    done = _json(store, "run")
    assert set(done) == {"tick", "delivery"}
    # No SMTP server listens: the round hands the email to no provider; it is planned again
    # for after a backoff, with its attempt counted and the reason (a provider that is down
    # delays a send, it never loses it).
    assert done["delivery"]["sent"] == 0
    [retried] = _json(store, "sends", "--state", "planned")
    assert retried["attempts"] == 1 and retried["reason"], retried


def test_a_dry_run_of_the_welcome_says_who_would_go_where(tmp_path: Path) -> None:
    """u1 signed up 30 days ago and ordered 10 days later (tests/automation_catalog_log.py):
    replaying 60 days, the welcome's wait for a first order (7 days) times out, the nudge is
    planned, the instance ends at `done`, and the order converts it (goal: within 30 days).
    Nothing is written."""
    store, _ = _store(tmp_path)
    template = Path(parcours.__file__).parent / "automations" / "templates" / "welcome.yaml"
    from_file = _json(store, "dry-run", str(template), "--days", "60")
    _json(store, "publish", "--template", "welcome")
    by_name = _json(store, "dry-run", "welcome", "--days", "60")
    for seen in (from_file, by_name):
        assert (seen["entered"], seen["converted"], seen["running"]) == (1, 1, 0)
        assert seen["steps"]["first-order"] == {"timed_out": 1}
        assert seen["steps"]["nudge"] == {"planned": 1}
        assert seen["exits"] == {"welcomed": 1}
    assert _json(store, "instances", "welcome") == []
    assert "closest: 'welcome'" in _refused(store, "dry-run", "welcom")
    assert "--start 'soon' is not a date" in _refused(
        store, "dry-run", "welcome", "--start", "soon"
    )
