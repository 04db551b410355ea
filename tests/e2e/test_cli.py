"""The command line as a user runs it: a real process, real files, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from cli_process import run

import parcours

CALLS = (
    "call_id,started_at,caller_number,queue,wait_seconds,talk_time,agent_id,team,reason_code,outcome_code,notes\n"
    "C1,2026-03-02 10:15:00,06 12 34 56 78,main,35,00:04:12,A01,Tier1,DLV,RES,ok\n"
    "C2,2026-03-02 11:15:00,+33 6 12 34 56 78,main,35,00:04:12,A01,Tier1,ORD,UNR,\n"
    "C3,2026-02-31 25:61:00,0033612345678,main,35,00:04:12,A01,Tier1,ORD,UNR,\n"
)


def test_import_json_summary_and_exit_status(tmp_path: Path) -> None:
    (tmp_path / "calls.csv").write_text(CALLS)
    done = run(
        "import", "calls.csv", "--source", "cc", "-m", "call_centre", "-f", "json", cwd=tmp_path
    )
    assert done.returncode == 3, "some records were quarantined: exit status 3"
    summary = json.loads(done.stdout)
    assert (summary["accepted"], summary["quarantined"]) == (2, {"bad_timestamp": 1})
    assert (tmp_path / "parcours.duckdb").exists(), "the default store is ./parcours.duckdb"

    again = run(
        "import", "calls.csv", "--source", "cc", "-m", "call_centre", "-f", "json", cwd=tmp_path
    )
    assert again.returncode == 0
    assert json.loads(again.stdout)["accepted"] == 0


def test_quarantine_list_show_and_replay(tmp_path: Path) -> None:
    (tmp_path / "calls.csv").write_text(CALLS)
    run("import", "calls.csv", "--source", "cc", "-m", "call_centre", cwd=tmp_path)
    listed = json.loads(run("quarantine", "list", "-f", "json", cwd=tmp_path).stdout)
    assert [r["reason_code"] for r in listed] == ["bad_timestamp"]
    shown = run("quarantine", "show", listed[0]["quarantine_id"][:10], cwd=tmp_path)
    assert shown.returncode == 0 and "25:61:00" in shown.stdout
    replayed = run("quarantine", "replay", "-f", "json", cwd=tmp_path)
    assert replayed.returncode == 3, "the date is still impossible, so it stays quarantined"
    assert json.loads(replayed.stdout)["still_quarantined"] == {"bad_timestamp": 1}


def test_stats_and_export_round_trip(tmp_path: Path) -> None:
    (tmp_path / "calls.csv").write_text(CALLS)
    run("import", "calls.csv", "--source", "cc", "-m", "call_centre", cwd=tmp_path)
    stats = json.loads(run("stats", "-f", "json", cwd=tmp_path).stdout)
    assert stats["totals"]["events"] == 2
    assert stats["by_channel"] == [{"channel": "call", "events": 2}]
    assert stats["identifiers"] == [{"type": "phone", "distinct_values": 1, "occurrences": 2}]
    assert stats["quarantine"] == [{"source": "cc", "reason_code": "bad_timestamp", "records": 1}]
    assert run("stats", cwd=tmp_path).returncode == 0

    for fmt in ("parquet", "csv", "jsonl"):
        done = run("export", "-f", fmt, "-o", f"out/events.{fmt}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "out/events.parquet").num_rows == 2
    assert len((tmp_path / "out/events.csv").read_text().splitlines()) == 3
    first = json.loads((tmp_path / "out/events.jsonl").read_text().splitlines()[0])
    assert first["event_id"] == "C1" and first["identifiers"][0]["value"] == "+33612345678"


def test_export_gives_each_event_its_customer_and_the_identifiers_theirs(tmp_path: Path) -> None:
    """C1 and C2 come from one phone number (written two ways), so they are one customer."""
    (tmp_path / "calls.csv").write_text(CALLS)
    run("import", "calls.csv", "--source", "cc", "-m", "call_centre", cwd=tmp_path)
    done = run("export", "-f", "csv", "-o", "events.csv", cwd=tmp_path)
    assert done.returncode == 0 and "2 events with their customer" in done.stdout
    lines = (tmp_path / "events.csv").read_text().splitlines()
    assert lines[0].endswith(",customer_id")
    customers = {line.rsplit(",", 1)[1] for line in lines[1:]}
    assert len(customers) == 1 and customers != {""}

    done = run("export", "--identifiers", cwd=tmp_path)
    assert done.returncode == 0 and "1 identifiers with their customer" in done.stdout
    rows = pq.read_table(tmp_path / "identifiers.parquet").to_pylist()
    assert [(r["type"], r["value"], r["customer_id"]) for r in rows] == [
        ("phone", "+33612345678", customers.pop())
    ]
    mixed = run("export", "--identifiers", "--source", "cc", cwd=tmp_path)
    assert mixed.returncode == 2 and "leave out --source" in mixed.stderr


def test_errors_are_one_clear_message_not_a_traceback(tmp_path: Path) -> None:
    missing = run("import", "nope.csv", "--source", "x", "-m", "call_centre", cwd=tmp_path)
    assert missing.returncode == 2
    assert "No file at nope.csv" in missing.stderr and "Traceback" not in missing.stderr

    (tmp_path / "bad.yaml").write_text(
        "name: x\nchannel: {value: fax}\noccurred_at: t\nuser_id: u\n"
    )
    (tmp_path / "calls.csv").write_text(CALLS)
    bad_mapping = run("import", "calls.csv", "--source", "x", "-m", "bad.yaml", cwd=tmp_path)
    assert bad_mapping.returncode == 2
    assert "'fax' is not one of web" in bad_mapping.stderr and "Traceback" not in bad_mapping.stderr

    no_store = run("stats", "--store", "absent.duckdb", cwd=tmp_path)
    assert no_store.returncode == 2 and "There is no store" in no_store.stderr


def test_a_store_held_by_another_process_gets_a_clear_message(tmp_path: Path) -> None:
    store = tmp_path / "held.duckdb"
    with parcours.connect(store):
        done = run("stats", "--store", str(store), cwd=tmp_path)
    assert done.returncode == 2
    assert f"is in use by process {os.getpid()}" in done.stderr
    assert "Traceback" not in done.stderr and "IO Error" not in done.stderr


def test_mappings_are_listed_and_shown(tmp_path: Path) -> None:
    listed = json.loads(run("mappings", "list", "-f", "json", cwd=tmp_path).stdout)
    assert "call_centre" in {m["name"] for m in listed}
    assert "caller_number" in run("mappings", "show", "call_centre", cwd=tmp_path).stdout


def test_tables_for_people_fit_80_columns_in_plain_words(tmp_path: Path) -> None:
    """What people read: no markup printed as text, yes/no for a flag, times without
    microseconds, nothing wider than the terminal; JSON for programs as it was."""
    (tmp_path / "calls.csv").write_text(CALLS)
    run("import", "calls.csv", "--source", "cc", "-m", "call_centre", cwd=tmp_path)
    run("sources", "add", "site", "--channel", "web", cwd=tmp_path)
    quarantined = json.loads(run("quarantine", "list", "-f", "json", cwd=tmp_path).stdout)[0]

    shown = run("quarantine", "show", quarantined["quarantine_id"][:10], cwd=tmp_path, columns=80)
    assert "[bold]" not in shown.stdout and "reason_code  bad_timestamp" in shown.stdout
    sources = run("sources", "list", cwd=tmp_path, columns=80).stdout
    assert [line.split()[-1] for line in sources.splitlines() if "site" in line] == ["yes"]
    assert json.loads(run("sources", "list", "-f", "json", cwd=tmp_path).stdout)[0]["enabled"]
    stats = run("stats", cwd=tmp_path).stdout
    # The calls at 10:15 and 11:15, Paris time (the shipped mapping's zone), in UTC.
    assert "2026-03-02 09:15 → 2026-03-02 10:15 UTC" in stats
    for args in (["stats"], ["quarantine", "list"], ["sources", "list"], ["mappings", "list"]):
        printed = run(*args, cwd=tmp_path, columns=80)
        assert printed.returncode == 0, printed.stderr
        assert max(map(len, printed.stdout.splitlines())) <= 80, args


def test_help_loads_the_command_line_only(tmp_path: Path) -> None:
    """`parcours --help` (and every command's start-up) imports no engine, Arrow, numpy, SQL
    builder or settings library: each command imports what it needs when it runs. What this
    spares is start-up time (about a second); the test checks the imports, not the time."""
    heavy = ("duckdb", "pyarrow", "numpy", "pandas", "sqlglot", "pydantic_settings", "splink")
    printed, loaded = _loaded_by(["--help"], heavy, tmp_path)
    assert "Commands" in printed
    assert loaded == [], f"imported at start-up: {loaded}"


def test_a_funnel_loads_what_it_runs_only(tmp_path: Path) -> None:
    """A funnel command loads the engine, Arrow and numpy, and not what it does not run: the
    SQL translator, the settings library, urllib's HTTP client (OpenSSL), Arrow's compute
    functions, the other analyses' libraries, pandas, charts. Each would add to the start-up of
    every command (issue 12: at most 0.3 s over the work); the test checks imports, not time."""
    (tmp_path / "calls.csv").write_text(CALLS)
    run("import", "calls.csv", "--source", "cc", "-m", "call_centre", cwd=tmp_path)
    needed = ("duckdb", "pyarrow", "numpy")
    spared = (
        "sqlglot",
        "pydantic_settings",
        "ssl",
        "pyarrow.compute",
        "rapidfuzz",
        "scipy",
        "pandas",
        "splink",
        "plotly",
        "yaml",
    )
    printed, loaded = _loaded_by(["journeys", "funnel", "Call", "Call"], needed + spared, tmp_path)
    assert "1 customers at step 1" in printed
    assert loaded == list(needed), f"imported: {loaded}"


def _loaded_by(args: list[str], modules: tuple[str, ...], cwd: Path) -> tuple[str, list[str]]:
    """What `parcours ARGS` prints, run in a fresh interpreter, and which of `modules` it
    loaded meanwhile."""
    code = (
        "import sys\n"
        "from parcours.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print(' '.join(m for m in {modules!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.stderr.endswith("\n"), done.stderr  # the list, printed last
    return done.stdout, done.stderr.splitlines()[-1].split()
