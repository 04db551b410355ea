"""`parcours segments ...` run as a user runs them, on the hand-made log of
tests/engine/test_segments.py (tests/segment_log.py; what each customer did is written there)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_process import run
from segment_log import LOG

import parcours
from parcours.identity.customers import customer_of

LYON = """\
name: lyon
description: Customers of Lyon
where:
  trait: {name: city, equals: Lyon}
"""
NOT_BUYERS = """\
name: lyon-not-buyers
where:
  all:
    - segment: lyon
    - not:
        events: {name: Order Completed, within: 30d, count: {at_least: 2}}
"""
BAD = """\
name: bad
where:
  all:
    - trait: {name: cty, equals: Lyon}
    - events: {name: Order Completed, within: 2mo}
"""


def _store(folder: Path) -> tuple[Path, dict[str, str]]:
    (folder / "log.jsonl").write_text("\n".join(LOG) + "\n")
    with parcours.connect(folder / "store.duckdb") as p:
        p.import_file(folder / "log.jsonl", source="log", mapping="tracking")
        users = {u: customer_of(p.store, "user_id", u) for u in ("u1", "u2", "u3", "u4")}
    for name, text in (("lyon", LYON), ("not-buyers", NOT_BUYERS), ("bad", BAD)):
        (folder / f"{name}.yaml").write_text(text)
    return folder / "store.duckdb", users


def _cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run("segments", *args, "--store", str(store), cwd=store.parent)


def _json(store: Path, *args: str) -> object:
    done = _cli(store, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_segments_command(tmp_path: Path) -> None:
    store, users = _store(tmp_path)
    lyon, not_buyers = tmp_path / "lyon.yaml", tmp_path / "not-buyers.yaml"

    preview = _json(store, "preview", str(lyon))
    assert isinstance(preview, dict) and (preview["customers"], preview["of"]) == (2, 4)
    assert sorted(preview["sample"]) == sorted([users["u1"], users["u3"]])  # u1, u3 of Lyon

    assert _json(store, "create", str(lyon)) == {
        "name": "lyon",
        "version": 1,
        "changed": True,
        "members": 2,
        "entered": 2,
        "left": 0,
    }
    created = _cli(store, "create", str(not_buyers))
    assert created.returncode == 0, created.stderr
    # u3 is of Lyon without two orders in 30 days; u1 has them.
    assert "saved as version 1: 1 members" in created.stdout

    listed = _cli(store, "list")
    assert "lyon-not-buyers" in listed.stdout and "Customers of Lyon" in listed.stdout
    shown = _cli(store, "show", "lyon")
    assert "city" in shown.stdout and "Versions" in shown.stdout
    members = _json(store, "members", "lyon-not-buyers")
    assert [m["customer_id"] for m in members] == [users["u3"]]  # type: ignore[union-attr]

    why = _cli(store, "explain", "lyon-not-buyers", users["u1"])
    assert why.returncode == 0, why.stderr
    assert f"Customer {users['u1']} is not in lyon-not-buyers" in why.stdout
    explained = _json(store, "explain", "lyon-not-buyers", users["u1"])
    conditions = explained["conditions"]  # type: ignore[index]
    assert [(c["value"], c["held"]) for c in conditions] == [(True, True), (2, True)]

    recomputed = _json(store, "recompute")
    assert recomputed["segments"] == 2 and sum(recomputed["entered"].values()) == 0  # type: ignore[index]

    # A saved segment as the journeys' segment filter; an unknown one refused with the closest.
    visits = run(
        "journeys",
        "visits",
        "Order Completed",
        "--segment",
        "lyon-not-buyers",
        "--store",
        str(store),
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert visits.returncode == 0, visits.stderr
    assert json.loads(visits.stdout)["customers"] == 1  # u3
    unknown = run(
        "journeys",
        "visits",
        "Order Completed",
        "--segment",
        "lyon-not-buyer",
        "--store",
        str(store),
        cwd=tmp_path,
    )
    assert unknown.returncode == 2 and "did you mean lyon-not-buyers" in unknown.stderr

    refused = _cli(store, "create", str(tmp_path / "bad.yaml"))
    assert refused.returncode == 2
    assert (
        "line 5, where.all[1].events.within" in refused.stderr and "Traceback" not in refused.stderr
    )
    assert _json(store, "list") and "bad" not in {s["name"] for s in _json(store, "list")}  # type: ignore[union-attr]

    deleted = _cli(store, "delete", "lyon-not-buyers")
    assert deleted.returncode == 0, deleted.stderr
    history = _json(store, "history", "lyon-not-buyers")
    assert [(h["customer_id"], h["change"]) for h in history] == [  # type: ignore[union-attr]
        (users["u3"], "entered"),
        (users["u3"], "left"),
    ]
    gone = _cli(store, "members", "lyon-not-buyers")
    assert gone.returncode == 2 and "No segment 'lyon-not-buyers'" in gone.stderr
