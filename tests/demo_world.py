"""The demo world the end-to-end tests share: `parcours demo` run once, as a user runs it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import parcours
from parcours.sql import lit

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


def exactly_resolved(p: parcours.Parcours, out: Path) -> dict[str, str]:
    """Resolved customer -> true customer, for the customers identity resolution got exactly
    right: every identifier of the true customer in one resolved customer, nothing else in it.
    Journey analyses are compared with the truth on these: a customer split in two (a cookie
    that never signed in) has two half-journeys no analysis could make whole."""
    truth = lit(str(out / "truth" / "identifiers.csv"))
    rows = p.sql(
        f"""
        WITH t AS (SELECT type, value, customer_id FROM read_csv({truth}, all_varchar = true)),
        resolved AS (
            SELECT m.customer_id AS resolved, count(DISTINCT t.customer_id) AS trues,
                   count(*) FILTER (WHERE t.customer_id IS NULL) AS strays,
                   any_value(t.customer_id) AS true_id
            FROM identity_map m LEFT JOIN t USING (type, value) GROUP BY ALL
        ),
        truth AS (
            SELECT t.customer_id AS true_id, count(DISTINCT m.customer_id) AS resolveds,
                   count(*) FILTER (WHERE m.customer_id IS NULL) AS missing
            FROM t LEFT JOIN identity_map m USING (type, value) GROUP BY ALL
        )
        SELECT resolved, true_id FROM resolved JOIN truth USING (true_id)
        WHERE trues = 1 AND strays = 0 AND resolveds = 1 AND missing = 0
        """
    ).to_pylist()
    return {r["resolved"]: r["true_id"] for r in rows}
