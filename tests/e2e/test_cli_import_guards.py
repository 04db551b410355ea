"""The import's guards as a user meets them: a real process, real files, exit codes, and the
files the user named left as they were."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GOOD = "id,at,who\n1,2026-03-01T10:00:00Z,a\n2,2026-03-01T11:00:00Z,b\n"
MAPPING = "name: m\nevent_id: id\nevent: {value: Visit}\nchannel: {value: web}\n"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parcours", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_store_path_that_is_not_a_store_is_refused_and_the_file_kept_byte_for_byte(
    tmp_path: Path,
) -> None:
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "m.yaml").write_text(MAPPING + "occurred_at: at\nanonymous_id: who\n")
    victim = tmp_path / "victim.csv"
    victim.write_bytes(b"name,total\nJane,12\n")
    done = run(
        "import", "good.csv", "--source", "s", "--mapping", "m.yaml", "--store", "victim.csv",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "not a parcours store" in said and "stored" not in said and "Traceback" not in said
    assert victim.read_bytes() == b"name,total\nJane,12\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.csv", "m.yaml", "victim.csv"]
