"""`parcours scores tiers|rfm|personas` as a user runs them: each writes its score and says
what the Python API says on the same store; a bad ladder is refused with how to fix it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cli_process import run
from purchase_log import behaviours, generated, import_rows

import parcours
from parcours.segments.personas import personas
from parcours.segments.rfm import rfm
from parcours.segments.tiers import tiers

AS_OF = "2026-08-20"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    with parcours.connect(path) as p:
        import_rows(p, tmp_path, generated(customers=120) + behaviours(per_group=15)[0])
    return path


def scores(store: Path, score: str) -> dict[str, tuple[float, str]]:
    with parcours.connect(store, read_only=True) as p:
        rows = p.sql(
            f"SELECT customer_id, value, label FROM customer_scores WHERE score = '{score}'"
        ).to_pylist()
    return {r["customer_id"]: (r["value"], r["label"]) for r in rows}


def test_tiers_command_writes_tiers_and_says_what_python_says(store: Path) -> None:
    done = run(
        "scores",
        "tiers",
        "--ladder",
        "spend",
        "--as-of",
        AS_OF,
        "-f",
        "json",
        "--store",
        str(store),
        cwd=store.parent,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    written = scores(store, "tier")
    assert answer["written"]["scored"] == len(written) == answer["customers"]
    counts = [sum(1 for v, _ in written.values() if v == level) for level in range(4)]
    assert [d["customers"] for d in answer["distribution"]] == counts
    with parcours.connect(store) as p:
        again = tiers(p.store, ladder="spend", as_of=dt.date.fromisoformat(AS_OF), write=False)
    assert {**answer, "written": None} == again.to_dict()
    table = run(
        "scores",
        "tiers",
        "--ladder",
        "spend",
        "--as-of",
        AS_OF,
        "--dry-run",
        "--store",
        str(store),
        cwd=store.parent,
        columns=80,
    )
    assert table.returncode == 0, table.stderr
    assert "Tiers on spend as of" in table.stdout and "Moves per month" in table.stdout
    assert "Not written (--dry-run)." in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_rfm_command_writes_rfm_and_says_what_python_says(store: Path) -> None:
    done = run(
        "scores", "rfm", "--as-of", AS_OF, "-f", "json", "--store", str(store), cwd=store.parent
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    written = scores(store, "rfm")
    assert answer["customers"] == len(written)
    for cell in answer["cells"]:
        assert cell["customers"] == sum(1 for _, label in written.values() if label == cell["name"])
    with parcours.connect(store) as p:
        again = rfm(p.store, as_of=dt.date.fromisoformat(AS_OF), write=False)
    assert {**answer, "written": None} == again.to_dict()
    table = run(
        "scores", "rfm", "--as-of", AS_OF, "--store", str(store), cwd=store.parent, columns=80
    )
    assert table.returncode == 0, table.stderr
    assert "champions" in table.stdout and "Customers by R (rows) and F" in table.stdout


def test_personas_command_writes_personas_and_says_what_python_says(store: Path) -> None:
    done = run(
        "scores",
        "personas",
        "--k-min",
        "2",
        "--k-max",
        "5",
        "-f",
        "json",
        "--store",
        str(store),
        cwd=store.parent,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    written = scores(store, "persona")
    assert answer["written"]["scored"] == len(written) == answer["customers"]
    names = {c["number"]: c["name"] for c in answer["personas"]}
    assert {label for _, label in written.values()} == set(names.values())
    with parcours.connect(store) as p:
        again = personas(p.store, ks=range(2, 6), write=False)
    assert {**answer, "written": None} == again.to_dict()
    table = run(
        "scores",
        "personas",
        "--k-min",
        "2",
        "--k-max",
        "5",
        "--dry-run",
        "--store",
        str(store),
        cwd=store.parent,
        columns=120,
    )
    assert table.returncode == 0, table.stderr
    assert f"{answer['k']} personas of" in table.stdout


def test_a_bad_ladder_is_refused_with_how_to_fix_it(store: Path, tmp_path: Path) -> None:
    ladder = tmp_path / "mine.yaml"
    ladder.write_text("name: mine\nmeasure: orders\nwindow: 36h\nlevels: [{name: A, min: 1}]\n")
    done = run("scores", "tiers", "--ladder", str(ladder), "--store", str(store), cwd=tmp_path)
    assert done.returncode == 2
    assert "window: the duration '36h' is not a whole number of days" in done.stderr
    assert str(ladder) in done.stderr and "Traceback" not in done.stderr
    missing = run("scores", "tiers", "--ladder", "gold", "--store", str(store), cwd=tmp_path)
    assert missing.returncode == 2 and "orders, spend" in missing.stderr
