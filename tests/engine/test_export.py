"""Data goes out with its customer: each exported event carries the customer the resolve gave
it, and the identifiers go out with theirs, in every format.

The expected grouping is written by hand from the rows below (the comment on each says why);
the customer ids themselves are the store's own answer (`customer_events`, `identity_map`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import parcours
from parcours.store.export import events_without_customer

MAPPING = """
name: t
event_id: id
event: {value: Seen}
channel: {field: channel}
occurred_at: {field: at}
anonymous_id: cookie
user_id: user
identifiers:
  email: email
  device_id: device
"""

ROWS = [
    "e1,2026-01-01 10:00:00,web,ck1,,,",  # an anonymous visit
    "e2,2026-01-02 10:00:00,web,ck1,u1,,",  # login: the cookie is u1's
    "e3,2026-01-03 10:00:00,email,,,jane@x.com,",  # an email open, alone
    "e4,2026-01-04 10:00:00,app,,u1,jane@x.com,d1",  # the app knows u1, her email and device
    "e5,2026-01-05 10:00:00,web,ck2,,,",  # someone else, never identified
    "e6,2026-01-06 10:00:00,web,unknown,,,",  # a blocked cookie value: nobody's
]
GROUPS = [{"e1", "e2", "e3", "e4"}, {"e5"}]
"""Events of one customer together: e1–e4 are linked through ck1, u1 and jane@x.com."""
IDENTIFIER_GROUPS = [
    {"anonymous_id:ck1", "device_id:d1", "email:jane@x.com", "user_id:u1"},
    {"anonymous_id:ck2"},
]


@pytest.fixture
def resolved(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    """The rows above, imported (customers resolved on arrival)."""
    (tmp_path / "m.yaml").write_text(MAPPING)
    data = tmp_path / "events.csv"
    data.write_text("id,at,channel,cookie,user,email,device\n" + "\n".join(ROWS) + "\n")
    p.import_file(data, source="s", mapping=tmp_path / "m.yaml")
    return p


def _read(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            return [{k: v or None for k, v in row.items()} for row in csv.DictReader(handle)]
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_each_exported_event_carries_its_resolved_customer(
    resolved: parcours.Parcours, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"out.{fmt}"
    assert resolved.export(path, fmt=fmt) == len(ROWS)  # type: ignore[arg-type]
    exported = {str(e["event_id"]): e["customer_id"] for e in _read(path)}
    stored = {
        r["event_id"]: r["customer_id"]
        for r in resolved.sql("SELECT event_id, customer_id FROM customer_events").to_pylist()
    }
    assert exported == {**stored, "e6": None}, "e6's only identifier is blocked: no customer"
    grouped: dict[object, set[str]] = {}
    for event, customer in exported.items():
        if customer is not None:
            grouped.setdefault(customer, set()).add(event)
    assert sorted(grouped.values(), key=min) == GROUPS
    assert events_without_customer(resolved.store) == 1


def test_events_imported_since_the_last_resolve_go_out_without_a_customer(
    tmp_path: Path,
) -> None:
    with parcours.connect(tmp_path / "s.duckdb", identity={"resolve_on_arrival": False}) as p:
        (tmp_path / "m.yaml").write_text(MAPPING)
        (tmp_path / "e.csv").write_text("id,at,channel,cookie,user,email,device\n" + ROWS[1])
        p.import_file(tmp_path / "e.csv", source="s", mapping=tmp_path / "m.yaml")
        p.export(tmp_path / "out.parquet")
        assert [e["customer_id"] for e in _read(tmp_path / "out.parquet")] == [None]
        assert events_without_customer(p.store, "s") == 1


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_identifiers_go_out_with_their_customer(
    resolved: parcours.Parcours, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"identifiers.{fmt}"
    assert resolved.export_identifiers(path, fmt=fmt) == 5  # type: ignore[arg-type]
    exported = _read(path)
    stored = resolved.sql("SELECT type, value, customer_id FROM identity_map").to_pylist()
    as_triples = {(str(r["type"]), str(r["value"]), str(r["customer_id"])) for r in exported}
    assert as_triples == {(r["type"], r["value"], r["customer_id"]) for r in stored}
    groups: dict[str, set[str]] = {}
    for kind, value, customer in as_triples:
        groups.setdefault(customer, set()).add(f"{kind}:{value}")
    assert sorted(groups.values(), key=len, reverse=True) == IDENTIFIER_GROUPS
    assert list(exported[0]) == [
        "type",
        "value",
        "customer_id",
        "first_seen",
        "last_seen",
        "events",
    ]
