"""Command-line mistakes as people make them: each is a usage error, as Click reports one —
exit status 2 and a message naming the mistake — never "a bug in parcours", never a traceback.

The expected messages are Click's own wording for Click's checks, and ours for the checks
parcours makes (a date, a filter's columns).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_process import run
from event_log import import_events

import parcours

MISTAKES = {
    "unknown option": (["stats", "--nosuch"], "No such option: --nosuch"),
    "missing required option": (
        ["import", "calls.csv", "--mapping", "call_centre"],
        "Missing option '--source'",
    ),
    "bad choice": (["stats", "--format", "xml"], "'xml' is not one of 'table', 'json', 'csv'"),
    "unknown command": (["nosuchcmd"], "No such command 'nosuchcmd'"),
    "unknown subcommand": (["journeys", "funel", "A", "B"], "No such command 'funel'"),
    "bad date": (
        ["journeys", "funnel", "A", "B", "--since", "yesterday"],
        "'yesterday' is not a date or time",
    ),
    "bad --where": (
        ["journeys", "funnel", "A", "B", "--where", "nosuch=1"],
        "The filter 'nosuch=1' names nosuch, which events do not have",
    ),
    "misspelt column in --where": (
        ["journeys", "visits", "Order Completed", "--where", "amout > 100"],
        "did you mean amount?",
    ),
}


@pytest.mark.parametrize("args, says", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_command_line_mistake_is_a_usage_error(
    tmp_path: Path, args: list[str], says: str
) -> None:
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert "bug in parcours" not in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "parcours.duckdb").exists(), "a mistake creates no store"


def test_no_command_shows_the_help(tmp_path: Path) -> None:
    done = run(cwd=tmp_path)
    assert done.returncode == 2, "as Click does when a group is called without a command"
    assert "Commands" in done.stdout + done.stderr
    assert "bug in parcours" not in done.stderr


def test_a_filter_the_engine_refuses_is_a_usage_error(tmp_path: Path) -> None:
    """A filter that parses and names real columns, but that the engine cannot run (a time
    compared with text that is none, a function it does not have): said before the analysis
    runs, in the engine's words."""
    with parcours.connect(tmp_path / "s.duckdb") as p:
        import_events(p, tmp_path, [("u1", 1, "web", "A"), ("u1", 2, "web", "B")])
    for where, says in (
        ("occurred_at > 'yesterday'", 'invalid timestamp field format: "yesterday"'),
        ("nosuchfn(amount) > 1", "nosuchfn does not exist"),
    ):
        funnel = ["journeys", "funnel", "A", "B", "--where", where, "--store", "s.duckdb"]
        done = run(*funnel, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert f"The filter {where!r} cannot be used" in done.stderr and says in done.stderr
        assert "bug in parcours" not in done.stderr and "Traceback" not in done.stderr
