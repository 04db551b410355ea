"""The import's guards as a user meets them: a real process, real files, exit codes, and the
files the user named left as they were."""

from __future__ import annotations

import json
from pathlib import Path

from cli_process import run

import parcours

GOOD = "id,at,who\n1,2026-03-01T10:00:00Z,a\n2,2026-03-01T11:00:00Z,b\n"
MAPPING = "name: m\nevent_id: id\nevent: {value: Visit}\nchannel: {value: web}\n"


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


def test_strict_refuses_a_misspelt_field_and_without_strict_the_summary_names_it(
    tmp_path: Path,
) -> None:
    """`outcome: statut` where the records say `status`."""
    records = [
        {"id": "1", "at": "2026-03-01T10:00:00Z", "who": "a", "status": "resolved"},
        {"id": "2", "at": "2026-03-01T11:00:00Z", "who": "b", "status": "open"},
    ]
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "m.yaml").write_text(
        MAPPING + "occurred_at: at\nanonymous_id: who\noutcome: statut\n"
    )
    args = ("import", "calls.jsonl", "--source", "s", "--mapping", "m.yaml")

    refused = run(*args, "--strict", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "'statut' the mapping reads for outcome (did you mean 'status'?)" in said
    assert "Traceback" not in said
    with parcours.connect(tmp_path / "parcours.duckdb", read_only=True) as p:
        assert p.sql("SELECT count(*) AS n FROM events").column("n").to_pylist() == [0]

    table = run(*args, cwd=tmp_path)
    assert table.returncode == 0
    assert "No record has the mapped field 'statut' (outcome)" in " ".join(table.stdout.split())
    as_json = run(*args, "--source", "s2", "-f", "json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["fields_not_found"] == {"outcome": ["statut"]}
