"""Bad files: every unreadable record goes to quarantine with its reason and number, every
readable one is stored, and a problem with the whole file is refused with the fix.

The files are written here, so each expected count is read off how the file was made."""

from __future__ import annotations

import gzip
import json
import random
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import parcours
from parcours import ParcoursError

MAPPING = """
name: contacts
event_id: id
event: {value: Contact}
channel: {value: call}
occurred_at: at
identifiers:
  email: mail
"""
AT = "2026-01-15T10:00:00Z"

# What no quarantined text may hold: raw control characters (a terminal would act on them).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.yaml"
    path.write_text(MAPPING)
    return path


def _row(i: int) -> bytes:
    return f"r{i},{AT},u{i}@example.com\n".encode()


def _csv(path: Path, rows: list[bytes]) -> Path:
    path.write_bytes(b"id,at,mail\n" + b"".join(rows))
    return path


def _count(p: parcours.Parcours, table: str) -> int:
    return int(p.sql(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py())


def test_a_latin1_byte_quarantines_its_record_and_every_other_is_stored(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    """Row 250,001 of 300,000 holds 'café' in Latin-1 (é is the byte 0xE9, not UTF-8)."""
    rows = [_row(i) for i in range(1, 300_001)]
    rows[250_000] = f"r250001,{AT},caf".encode() + b"\xe9@example.com\n"
    data = _csv(tmp_path / "contacts.csv", rows)

    summary = p.import_file(data, source="crm", mapping=mapping)

    assert (summary.records, summary.accepted, summary.quarantined) == (
        300_000,
        299_999,
        {"unparseable": 1},
    )
    bad = p.quarantine.list().to_pylist()
    assert [r["origin"] for r in bad] == [f"{data}, record 250001"]
    assert "byte 0xE9" in bad[0]["reason"] and "csv: {encoding: latin-1}" in bad[0]["reason"]
    raw = p.sql("SELECT record_number, raw FROM quarantine").to_pylist()[0]
    # The bytes that are not UTF-8 are shown as escapes: the record is readable, and safe.
    assert raw == {"record_number": 250_001, "raw": f"r250001,{AT},caf\\xe9@example.com"}
    neighbours = p.sql("SELECT event_id FROM events WHERE event_id IN ('r250000', 'r250002')")
    assert neighbours.num_rows == 2


def test_the_advised_latin1_encoding_reads_the_record(p: parcours.Parcours, tmp_path: Path) -> None:
    data = _csv(tmp_path / "contacts.csv", [f"r1,{AT},caf".encode() + b"\xe9@example.com\n"])
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_text(MAPPING + "csv: {encoding: latin-1}\n")
    assert p.import_file(data, source="crm", mapping=latin1).accepted == 1
    stored = p.sql("SELECT identifiers FROM events").to_pylist()[0]["identifiers"]
    assert stored == [{"type": "email", "value": "café@example.com"}]


def test_a_mapped_column_the_file_lacks_is_refused_before_reading(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    data = tmp_path / "contacts.csv"
    data.write_text(f"id,at,email\nr1,{AT},a@example.com\n")
    with pytest.raises(ParcoursError) as refused:
        p.import_file(data, source="crm", mapping=mapping)
    assert "Column mail is not in contacts.csv; its columns are: id, at, email" in str(
        refused.value
    )
    assert "check the mapping's field names" in str(refused.value)
    # Refused before anything was read: no event, and no import run in the ledger.
    assert (_count(p, "events"), _count(p, "imports")) == (0, 0)


def test_a_wrong_delimiter_is_named_in_the_refusal(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    data = tmp_path / "contacts.csv"
    data.write_text(f"id;at;mail\nr1;{AT};a@example.com\n")
    with pytest.raises(ParcoursError) as refused:
        p.import_file(data, source="crm", mapping=mapping)
    message = str(refused.value)
    assert "Columns at, id, mail are not in contacts.csv; its columns are: id;at;mail" in message
    assert "the header read as one column" in message
    assert "set `csv: {delimiter: ';'}` in the mapping" in message


def test_a_binary_file_is_refused_for_what_it_is(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    garbage = tmp_path / "export.csv"
    garbage.write_bytes(random.Random(1).randbytes(5000))
    with pytest.raises(ParcoursError, match="is not a text file: it looks like binary data"):
        p.import_file(garbage, source="crm", mapping=mapping)
    workbook = tmp_path / "export.jsonl"
    workbook.write_bytes(b"PK\x03\x04" + random.Random(2).randbytes(5000))
    with pytest.raises(
        ParcoursError, match=r"like a ZIP archive \(an Excel .xlsx workbook is one\)"
    ):
        p.import_file(workbook, source="crm", mapping=mapping)


def test_a_damaged_stretch_inside_a_file_quarantines_only_its_records(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    """3,000 random bytes (a damaged disk block) between row 5,000 and row 5,001 of 10,000,
    past the first 64 KB that decide whether a file is text at all."""
    damaged = random.Random(3).randbytes(3000).replace(b"\r", b"")
    garbage_lines = damaged.count(b"\n") + 1
    rows = [_row(i) for i in range(1, 10_001)]
    data = _csv(tmp_path / "contacts.csv", [*rows[:5000], damaged + b"\n", *rows[5000:]])

    summary = p.import_file(data, source="crm", mapping=mapping)

    assert summary.accepted == 10_000
    assert summary.records == 10_000 + garbage_lines
    numbers = p.sql("SELECT record_number, raw FROM quarantine ORDER BY 1").to_pylist()
    assert [r["record_number"] for r in numbers] == list(range(5001, 5001 + garbage_lines))
    assert not any(CONTROL.search(r["raw"]) for r in numbers)


@pytest.mark.parametrize(
    ("name", "size", "record"),
    [
        ("posts.jsonl", 17 << 20, lambda pad: json.dumps({"id": "r2", "at": AT, "pad": pad})),
        ("posts.csv", 50 << 20, lambda pad: f"r2,{AT},{pad}"),
    ],
)
def test_a_record_of_many_megabytes_is_quarantined_as_its_first_kilobyte(
    p: parcours.Parcours, tmp_path: Path, mapping: Path, name: str, size: int, record: object
) -> None:
    """A 17 MB JSON line and a 50 MB CSV line (Arrow reads blocks of 8 MB) between two good
    records."""
    assert callable(record)
    data = tmp_path / name
    line = record("x" * size)
    if name.endswith(".jsonl"):
        good = [json.dumps({"id": f"r{i}", "at": AT, "mail": "a@example.com"}) for i in (1, 3)]
    else:
        good = ["id,at,mail", f"r1,{AT},a@example.com", f"r3,{AT},a@example.com"]
    data.write_text("\n".join([*good[:-1], line, good[-1]]) + "\n")

    summary = p.import_file(data, source="crm", mapping=mapping)

    assert (summary.accepted, summary.quarantined) == (2, {"unparseable": 1})
    bad = p.sql("SELECT record_number, raw, reason FROM quarantine").to_pylist()[0]
    assert bad["record_number"] == 2
    assert bad["raw"] == line[:1024]
    assert f"record 2 is a line of {len(line):,} bytes" in bad["reason"]
    assert "max_record_bytes" in bad["reason"]


def test_a_long_line_inside_a_quoted_value_leaves_the_records_after_it_whole(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """Record 2's note is quoted and spans three lines, the middle one 1 MB; record 3's opens
    its quote on a 1 MB line and closes it on the next. Cutting those lines must not change how
    records 4 and 5 are read."""
    mapping = tmp_path / "notes.yaml"
    mapping.write_text(MAPPING)
    long = "y" * (1 << 20)
    data = tmp_path / "notes.csv"
    data.write_text(
        "id,at,mail,note\n"
        f"r1,{AT},a@example.com,short\n"
        f'r2,{AT},a@example.com,"first\n{long}\nlast"\n'
        f'r3,{AT},a@example.com,"{long}\nlast"\n'
        f'r4,{AT},a@example.com,"two\nlines, one comma"\n'
        f"r5,{AT},a@example.com,plain\n"
    )
    summary = p.import_file(data, source="crm", mapping=mapping)
    assert (summary.accepted, summary.quarantined) == (3, {"unparseable": 2})
    assert p.sql("SELECT record_number FROM quarantine ORDER BY 1").column(0).to_pylist() == [2, 3]
    notes = p.sql("SELECT event_id, properties FROM events ORDER BY event_id").to_pylist()
    assert [(r["event_id"], json.loads(r["properties"])["note"]) for r in notes] == [
        ("r1", "short"),
        ("r4", "two\nlines, one comma"),
        ("r5", "plain"),
    ]


@pytest.mark.parametrize("filler", [",", '",'], ids=["delimiters", "quoted-delimiters"])
def test_a_line_of_millions_of_fields_is_quarantined_like_any_long_line(
    p: parcours.Parcours, tmp_path: Path, mapping: Path, filler: str
) -> None:
    """A 20 MB line of nothing but delimiters (and quotes): its stand-in must stay small, or it
    is the whole file that fails (Arrow reads blocks of 8 MB)."""
    data = tmp_path / "contacts.csv"
    line = "r2" + filler * (20_000_000 // len(filler))
    data.write_text(f"id,at,mail\nr1,{AT},a@example.com\n{line}\nr3,{AT},b@example.com\n")
    summary = p.import_file(data, source="crm", mapping=mapping)
    assert (summary.accepted, summary.quarantined) == (2, {"unparseable": 1})
    bad = p.sql("SELECT record_number, reason FROM quarantine").to_pylist()[0]
    assert bad["record_number"] == 2 and f"a line of {len(line):,} bytes" in bad["reason"]


def _truncated_gzip(tmp_path: Path) -> tuple[Path, int]:
    """A gzip CSV of 200,000 rows cut at half its bytes, and how many whole rows precede the
    cut (counted by Python's zlib on the same bytes)."""
    content = b"id,at,mail\n" + b"".join(_row(i) for i in range(1, 200_001))
    packed = gzip.compress(content)
    path = tmp_path / "contacts.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    readable = zlib.decompressobj(wbits=31).decompress(packed[: len(packed) // 2])
    return path, readable.count(b"\n") - 1


def test_a_truncated_gzip_keeps_what_was_read_and_says_the_file_is_cut(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    data, whole_rows = _truncated_gzip(tmp_path)
    with pytest.raises(ParcoursError) as refused:
        p.import_file(data, source="crm", mapping=mapping)
    assert "the file is truncated" in str(refused.value)
    assert "copy or export the file again" in str(refused.value)
    assert _count(p, "events") == whole_rows
    # The incomplete row after the last whole one is quarantined, with its number.
    cut = p.sql("SELECT record_number, reason FROM quarantine").to_pylist()
    assert [r["record_number"] for r in cut] == [whole_rows + 1]
    assert "the file ends inside it" in cut[0]["reason"]
    assert p.sql("SELECT status FROM imports").column(0).to_pylist() == ["failed"]


def test_the_command_line_reports_bad_files_without_a_bug_or_raw_bytes(
    tmp_path: Path, mapping: Path
) -> None:
    """Exit 3 when records went to quarantine, 2 when the file itself is refused."""
    latin1 = _csv(tmp_path / "latin1.csv", [_row(1), f"r2,{AT},caf".encode() + b"\xe9@x.fr\n"])
    binary = tmp_path / "binary.csv"
    binary.write_bytes(random.Random(4).randbytes(5000))
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text(f"id;at;mail\nr1;{AT};a@example.com\n")
    truncated, _ = _truncated_gzip(tmp_path)
    expected = {latin1: 3, binary: 2, semicolons: 2, truncated: 2}
    for data, status in expected.items():
        store = tmp_path / "store.duckdb"
        command = ["import", str(data), "--source", "crm", "--mapping", str(mapping)]
        run = subprocess.run(
            [sys.executable, "-m", "parcours", *command, "--store", str(store)],
            capture_output=True,
        )
        said = run.stdout + run.stderr
        assert run.returncode == status, said
        assert b"bug in parcours" not in said and b"Traceback" not in said
        assert not CONTROL.search(said.decode("utf-8")), said


def test_a_parquet_file_without_a_mapped_column_is_refused_before_reading(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    data = tmp_path / "contacts.parquet"
    pq.write_table(pa.table({"id": ["r1"], "at": [AT], "email": ["a@example.com"]}), data)
    with pytest.raises(ParcoursError, match=r"Column mail is not in contacts\.parquet"):
        p.import_file(data, source="crm", mapping=mapping)


def test_a_gzip_file_of_several_members_is_read_whole(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    """`cat a.csv.gz b.gz > c.csv.gz` is a valid gzip file of two members (RFC 1952)."""
    data = tmp_path / "contacts.csv.gz"
    first = b"id,at,mail\n" + b"".join(_row(i) for i in range(1, 1001))
    second = b"".join(_row(i) for i in range(1001, 2001))
    data.write_bytes(gzip.compress(first) + gzip.compress(second))
    assert p.import_file(data, source="crm", mapping=mapping).accepted == 2000


def test_a_damaged_parquet_row_group_costs_only_its_records(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    """Four row groups of 1,000 records; the third one's first page header is overwritten."""
    data = tmp_path / "contacts.parquet"
    ids = [f"r{i}" for i in range(1, 4001)]
    table = pa.table({"id": ids, "at": [AT] * 4000, "mail": [f"{i}@example.com" for i in ids]})
    pq.write_table(table, data, row_group_size=1000)
    page = pq.ParquetFile(data).metadata.row_group(2).column(0).data_page_offset
    damaged = bytearray(data.read_bytes())
    damaged[page : page + 64] = bytes(64)
    data.write_bytes(bytes(damaged))

    with pytest.raises(ParcoursError, match=r"records 2,001 to 3,000 .* cannot be read"):
        p.import_file(data, source="crm", mapping=mapping)
    assert _count(p, "events") == 3000
    assert p.sql("SELECT count(*) FROM events WHERE event_id = 'r2500'").column(0)[0].as_py() == 0


def test_a_file_whose_lines_end_in_cr_alone_is_read(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    """Classic Mac line ends: lines are found by CR, so the file's 200 KB (more than 4 ×
    max_record_bytes) are not taken for one long line."""
    data = tmp_path / "contacts.csv"
    rows = b"".join(_row(i).replace(b"\n", b"\r") for i in range(1, 5001))
    data.write_bytes(b"id,at,mail\r" + rows)
    assert len(rows) > 4 * 32 * 1024
    assert p.import_file(data, source="crm", mapping=mapping).accepted == 5000


def test_a_byte_the_declared_encoding_does_not_have_is_a_file_error(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """0x81 means nothing in Windows-1252: the file is not in the encoding the mapping says."""
    mapping = tmp_path / "cp1252.yaml"
    mapping.write_text(MAPPING + "csv: {encoding: cp1252}\n")
    data = _csv(tmp_path / "contacts.csv", [_row(1), f"r2,{AT},".encode() + b"\x81@x.fr\n"])
    with pytest.raises(ParcoursError, match="is not cp1252 text: byte 0x81 has no meaning there"):
        p.import_file(data, source="crm", mapping=mapping)


def test_a_first_line_too_long_for_a_header_is_refused(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    data = tmp_path / "contacts.csv"
    data.write_text("a" * 100_000 + "\n")
    with pytest.raises(ParcoursError, match="too long to read the file's columns from"):
        p.import_file(data, source="crm", mapping=mapping)


@pytest.mark.parametrize("name", ["contacts.jsonl", "contacts.jsonl.gz"])
def test_an_empty_json_lines_file_imports_nothing_without_error(
    p: parcours.Parcours, tmp_path: Path, mapping: Path, name: str
) -> None:
    """An export of a day with no contacts is an empty file: no records, no error."""
    data = tmp_path / name
    data.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
    summary = p.import_file(data, source="crm", mapping=mapping)
    assert (summary.records, summary.accepted, summary.quarantined_total) == (0, 0, 0)


def test_a_json_record_is_numbered_by_its_line_blank_lines_included(
    p: parcours.Parcours, tmp_path: Path, mapping: Path
) -> None:
    """Quarantine says where a record is: after blank lines, "record 6" must still be the file's
    line 6 (what an editor shows), and blank lines are no records."""
    good = [json.dumps({"id": f"r{i}", "at": AT, "mail": f"u{i}@example.com"}) for i in range(3)]
    lines = [good[0], "", good[1], "", "", '{"id": "r9", "at": ', good[2], ""]
    data = tmp_path / "contacts.jsonl"
    data.write_text("\n".join(lines) + "\n")
    summary = p.import_file(data, source="crm", mapping=mapping)
    assert (summary.records, summary.accepted, summary.quarantined_total) == (4, 3, 1)
    bad = p.sql("SELECT record_number, origin, reason FROM quarantine").to_pylist()
    # Its reason is that alone: a record that is no JSON object has no fields to find wanting.
    reason = "the record is not a JSON object"
    assert bad == [{"record_number": 6, "origin": f"{data}, record 6", "reason": reason}]
