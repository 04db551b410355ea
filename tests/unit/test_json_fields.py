"""Reading a mapping's fields from JSON records in one parse gives what reading each field by its
own path gives: DuckDB's `json_extract_string` / `json_extract`, one call per field, is the
reference (the way imports read them before, five parses per record). The one difference is
deliberate: an object field holding JSON `null` reads as NULL, like an absent one."""

from __future__ import annotations

import duckdb
import pytest

from parcours.collect.json_fields import JsonFields, json_path

RECORDS = [
    '{"id": "a1", "n": 12.50, "ctx": {"sid": "s1", "traits": {"email": "x@y.fr"}, "ip": "1.2.3.4"},'
    ' "props": {"price": 3, "tags": ["a", "b"]}, "nested": {"deep": {"v": true}}}',
    '{"id": "a2", "ctx": "not an object", "props": null}',
    '{"id": "é\\u00e9", "ctx": {"sid": null}, "extra": 1}',
    '{"ID": "upper", "id": "lower"}',
    '{"id": {"obj": [1, 2]}}',
    "{}",
]


def _read(fields: JsonFields, texts: list[str], objects: list[str]) -> list[tuple[object, ...]]:
    selected = [fields.text(p) for p in texts] + [fields.json(p) for p in objects]
    query = (
        f"SELECT {', '.join(selected)} FROM (SELECT *, {fields.is_object()} AS _parsed "
        f"FROM (SELECT _raw, {fields.columns()} FROM records)) ORDER BY _raw"
    )
    return _run(query)


def _by_path(texts: list[str], objects: list[str]) -> list[tuple[object, ...]]:
    selected = [f"json_extract_string(_raw, '{json_path(p)}')" for p in texts]
    # One difference, deliberate: an object field that is JSON `null` reads as NULL.
    selected += [f"nullif(json_extract(_raw, '{json_path(p)}'), 'null')" for p in objects]
    return _run(f"SELECT {', '.join(selected)} FROM records ORDER BY _raw")


def _run(query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    con.execute("CREATE TABLE records (_raw VARCHAR)")
    con.executemany("INSERT INTO records VALUES (?)", [[r] for r in RECORDS])
    return [
        tuple(str(v) if v is not None else None for v in row)
        for row in con.execute(query).fetchall()
    ]


@pytest.mark.parametrize(
    ("texts", "objects"),
    [
        # plain leaves and a nested leaf
        (["id", "n", "ctx.traits.email", "nested.deep.v"], []),
        # an object read whole and, inside it, its parts (the web mapping's context)
        (["id", "ctx.sid", "ctx.traits.email"], ["ctx", "props"]),
        # a field read as text that is also the parent of another (kept whole, read inside)
        (["ctx", "ctx.sid"], []),
        # an object read inside an object kept whole
        (["ctx.sid"], ["ctx", "ctx.traits"]),
        # keys equal but for case: cannot be two struct fields, read by path
        (["id", "ID", "ctx.sid"], ["props"]),
    ],
)
def test_one_parse_reads_what_a_parse_per_field_reads(texts: list[str], objects: list[str]) -> None:
    fields = JsonFields(texts, objects)
    assert _read(fields, texts, objects) == _by_path(texts, objects)


@pytest.mark.parametrize("texts", [["id"], []])
def test_only_objects_count_as_records(texts: list[str]) -> None:
    """With fields to read or none (a mapping of constants), a record is a JSON object."""
    fields = JsonFields(texts, [])
    con = duckdb.connect()
    values = ['{"id": 1}', "[1, 2]", '"text"', "null", "{broken", "  {}"]
    rows = con.execute(
        f"SELECT {fields.is_object()} FROM (SELECT _raw, {fields.columns()} "
        "FROM (SELECT unnest(?) AS _raw))",
        [values],
    ).fetchall()
    assert [r[0] for r in rows] == [True, False, False, False, False, True]
