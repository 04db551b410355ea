"""The demo world the end-to-end tests share: `parcours demo` run once, as a user runs it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CUSTOMERS = 400


def run_demo(out: Path) -> dict[str, Any]:
    """`parcours demo` as a user runs it; its JSON report."""
    command = ["demo", "--customers", str(CUSTOMERS), "--out", str(out), "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-m", "parcours", *command], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def truth_rows(out: Path, name: str) -> list[dict[str, str]]:
    """A truth file the generator wrote (truth/<name>), as rows of text."""
    with (out / "truth" / name).open() as handle:
        return list(csv.DictReader(handle))
