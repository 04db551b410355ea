"""The command line as a user runs it: a process of its own, in a folder, at a terminal width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, cwd: Path, columns: int = 200) -> subprocess.CompletedProcess[str]:
    """`parcours ARGS...` in `cwd`; the exit status is the caller's to check (never raises).
    200 columns keep messages on one line; tables for people are tested at 80 too."""
    return subprocess.run(
        [sys.executable, "-m", "parcours", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": str(columns)},
        check=False,
    )
