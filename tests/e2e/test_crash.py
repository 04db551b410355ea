"""An import killed (SIGKILL) mid-way keeps exactly the batches it committed, its ledger row
saying how far it got; run again, it stores every record exactly once.

The kill lands at a point of the import's own progress, never at a moment: `stopped_import.py`
runs `parcours import`, prints each batch it commits, and stops itself (SIGSTOP) once a batch
has committed or inside a batch's transaction with its rows written; the test kills it there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import parcours

ROWS = 70_000
NOTE = "caller asked about the delivery window " * 8
"""Each record's notes, for bytes: Arrow reads a CSV in 8 MB blocks, about 21,700 of these
records each, and with batches asked smaller than that (`ENV`) each block is a batch: four."""
ENV = {**os.environ, "PARCOURS_IMPORT_BATCH_ROWS": "10000"}
STOPPED_IMPORT = Path(__file__).with_name("stopped_import.py")


def _write_calls(path: Path) -> None:
    """ROWS calls C0, C1, ..., each a valid record: the mapping accepts every one."""
    header = (
        "call_id,started_at,caller_number,queue,wait_seconds,talk_time,"
        "agent_id,team,reason_code,outcome_code,notes\n"
    )
    with path.open("w") as out:
        out.write(header)
        for i in range(ROWS):
            out.write(
                f"C{i},2026-03-{1 + i % 28:02d} 10:{i % 60:02d}:00,06{i % 100_000_000:08d},"
                f"main,{i % 90},00:0{i % 9}:12,A{i % 40:02d},Tier1,DLV,RES,{NOTE}\n"
            )


def _import_args(store: Path, data: Path) -> list[str]:
    mapping = ["--source", "calls", "--mapping", "call_centre"]
    return ["import", str(data), *mapping, "--store", str(store)]


def _kill_import_at(store: Path, data: Path, where: str, nth: int) -> list[tuple[str, int]]:
    """Run the import until it stops itself at `where` for the `nth` time, SIGKILL it there;
    the progress it reported, as (`committed` or `written`, records)."""
    child = subprocess.Popen(
        [sys.executable, str(STOPPED_IMPORT), where, str(nth), *_import_args(store, data)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status = os.waitpid(child.pid, os.WUNTRACED)  # returns when it stops (or ends)
    if not os.WIFSTOPPED(status):
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = child.communicate()
        pytest.fail(f"the import ended before its stop point: {stdout}{stderr}")
    child.send_signal(signal.SIGKILL)
    stdout, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL
    return [(what, int(n)) for what, n in (line.split() for line in stdout.splitlines())]


def _stored(store: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The event ids in the store, and the ledger's runs in the order they started."""
    with parcours.connect(store, read_only=True) as p:
        ids = p.sql("SELECT event_id FROM events").column(0).to_pylist()
        runs = p.sql(
            "SELECT status, records, accepted, duplicates, quarantined FROM imports "
            "ORDER BY started_at"
        ).to_pylist()
    return ids, runs


def _calls(count: int) -> list[str]:
    """The ids of the file's first `count` records, sorted."""
    return sorted(f"C{i}" for i in range(count))


@pytest.mark.parametrize(
    ("where", "nth", "committed_batches"),
    [("committed", 1, 1), ("in-transaction", 3, 2)],
    ids=["after-batch-1-committed", "inside-batch-3s-transaction"],
)
def test_an_import_killed_mid_way_keeps_its_commits_and_a_rerun_stores_the_rest_once(
    tmp_path: Path, where: str, nth: int, committed_batches: int
) -> None:
    data, store = tmp_path / "calls.csv", tmp_path / "store.duckdb"
    _write_calls(data)

    progress = _kill_import_at(store, data, where, nth)
    committed = [n for what, n in progress if what == "committed"]
    assert len(committed) == committed_batches, progress
    kept = committed[-1]
    assert 0 < kept < ROWS, progress
    if where == "in-transaction":
        assert progress[-1][0] == "written" and progress[-1][1] > 0, "killed with rows unsaved"
    ids, runs = _stored(store)
    assert sorted(ids) == _calls(kept), "what was committed, in the file's order; nothing more"
    assert runs == [
        {"status": "running", "records": kept, "accepted": kept, "duplicates": 0, "quarantined": 0}
    ], "the ledger's row commits with each batch: the killed run says how far it got"

    rerun = subprocess.run(
        [sys.executable, "-m", "parcours", *_import_args(store, data)],
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    ids, runs = _stored(store)
    assert sorted(ids) == _calls(ROWS), "every record, once"
    assert [run["status"] for run in runs] == ["running", "completed"]
    assert runs[1] == {
        "status": "completed",
        "records": ROWS,
        "accepted": ROWS - kept,
        "duplicates": kept,
        "quarantined": 0,
    }
