"""An import killed half-way (SIGKILL) and run again stores every record exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import parcours

ROWS = 300_000


def _write_calls(path: Path) -> None:
    header = (
        "call_id,started_at,caller_number,queue,wait_seconds,talk_time,"
        "agent_id,team,reason_code,outcome_code,notes\n"
    )
    with path.open("w") as out:
        out.write(header)
        for i in range(ROWS):
            out.write(
                f"C{i},2026-03-{1 + i % 28:02d} 10:{i % 60:02d}:00,06{i % 100_000_000:08d},"
                f"main,{i % 90},00:0{i % 9}:12,A{i % 40:02d},Tier1,DLV,RES,\n"
            )


def _import(store: Path, data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PARCOURS_IMPORT_BATCH_ROWS": "10000"}
    command = [
        sys.executable,
        "-m",
        "parcours",
        "import",
        str(data),
        "--source",
        "calls",
        "--mapping",
        "call_centre",
        "--store",
        str(store),
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _counts(store: Path) -> tuple[int, int, list[str]]:
    with parcours.connect(store) as p:
        stored = p.sql("SELECT count(*) AS n FROM events").column(0)[0].as_py()
        distinct = p.sql("SELECT count(DISTINCT event_id) FROM events").column(0)[0].as_py()
        statuses = p.sql("SELECT status FROM imports ORDER BY started_at").column(0).to_pylist()
    return stored, distinct, statuses


def test_import_killed_mid_way_then_rerun_stores_every_row_once(tmp_path: Path) -> None:
    data = tmp_path / "calls.csv"
    _write_calls(data)
    # How long a whole import takes here, so the kill lands mid-way on any machine.
    started = time.perf_counter()
    assert _import(tmp_path / "timing.duckdb", data).wait() == 0
    full = time.perf_counter() - started

    store = tmp_path / "store.duckdb"
    # Several tries, in case the machine's load moves the moment: each kills at another point.
    for fraction in (0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.45, 0.3):
        store.unlink(missing_ok=True)
        Path(f"{store}.wal").unlink(missing_ok=True)
        killed = _import(store, data)
        time.sleep(full * fraction)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        stored, _, statuses = _counts(store)
        if 0 < stored < ROWS:
            break
    else:
        raise AssertionError(
            "could not kill the import mid-way; the check below would prove nothing"
        )
    assert statuses == ["running"], "the killed run never finished, and the ledger says so"

    rerun = _import(store, data)
    assert rerun.wait() == 0, rerun.stderr.read() if rerun.stderr else ""
    stored, distinct, statuses = _counts(store)
    assert stored == distinct == ROWS
    assert statuses == ["running", "completed"]
