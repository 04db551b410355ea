"""An erased person stays erased: an old export imported again, and live messages still in the
journal when the erasure ran, are withheld by the suppression list instead of bringing the
person back.

Expected records are written by hand from the rows below (each says whose it is).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import parcours
from parcours.collect.ledger import ImportSummary
from parcours.collect.live.journal import Journal, journal_dir
from parcours.collect.live.routes import journal_lines
from parcours.identity.privacy import erase

MAPPING = """
name: t
event: {value: Seen}
channel: {field: channel}
occurred_at: {field: at}
anonymous_id: cookie
user_id: user
identifiers:
  email: email
"""

ROWS = [
    "2026-01-01 10:00:00,web,ck-jane,u-jane,jane@x.com",  # Jane logs in
    "2026-01-02 10:00:00,chat,ck-jane,,",  # Jane's cookie alone
    "2026-01-03 10:00:00,email,,,Jane@X.com",  # Jane's email as her mail tool writes it
    "2026-01-04 10:00:00,web,ck-bob,u-bob,bob@y.com",  # Bob
    "2026-01-05 10:00:00,app,,u-bob,",  # Bob again
    "2026-01-06 10:00:00,fax,,,JANE@X.COM",  # Jane, refused: fax is no channel
]
JANE_ROWS = [1, 2, 3, 6]
"""Jane's records by their number in the file; the other two are Bob's."""
BOB_ROWS = 2
JANE = ("ck-jane", "u-jane", "jane@x.com")
"""Jane's identifiers as the store holds them (emails lower-cased): what erasure suppresses."""


def _reason(p: parcours.Parcours) -> str:
    """The reason a withheld record gets: the day of the erasure, as the store recorded it."""
    erased_at = p.sql("SELECT max(erased_at) AS at FROM erased_identifiers").column(0)[0]
    day = erased_at.as_py().astimezone(dt.UTC)
    return f"carries an identifier erased on {day:%Y-%m-%d} at the person's request"


def _import(p: parcours.Parcours, tmp_path: Path, source: str = "crm") -> ImportSummary:
    (tmp_path / "m.yaml").write_text(MAPPING)
    data = tmp_path / "export.csv"
    data.write_text("at,channel,cookie,user,email\n" + "\n".join(ROWS) + "\n")
    return p.import_file(data, source=source, mapping=tmp_path / "m.yaml")


def _everything(p: parcours.Parcours) -> str:
    """Every table of the store file as text, to look for a trace of the person."""
    tables = p.sql("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").column(0)
    return json.dumps(
        [p.sql(f"SELECT * FROM {t}").to_pylist() for t in tables.to_pylist()], default=str
    )


def test_the_suppression_list_holds_salted_hashes_never_the_identifiers(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    _import(p, tmp_path)
    entry = erase(p.store, "email", "jane@x.com", reason="ticket 42")
    hashes = p.sql("SELECT identifier_hash, request_id FROM erased_identifiers").to_pylist()
    assert entry["counts"]["erased_identifiers"] == len(JANE) == len(hashes)
    assert all(len(h["identifier_hash"]) == 64 for h in hashes)
    assert {h["request_id"] for h in hashes} == {entry["request_id"]}
    # Salted: not the bare SHA-256 of any of her identifiers, which anyone could recompute.
    bare = p.sql(
        "SELECT sha256(t || chr(0) || v) AS h FROM (VALUES ('anonymous_id', 'ck-jane'), "
        "('user_id', 'u-jane'), ('email', 'jane@x.com')) AS x(t, v)"
    ).column(0)
    assert not set(bare.to_pylist()) & {h["identifier_hash"] for h in hashes}
    for trace in JANE:
        assert trace not in _everything(p).lower()


def test_an_old_export_imported_again_does_not_bring_an_erased_person_back(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    first = _import(p, tmp_path)
    assert (first.accepted, first.quarantined) == (5, {"unknown_channel": 1})
    entry = erase(p.store, "user_id", "u-jane", reason="GDPR art. 17")
    assert entry["counts"]["quarantine"] == 1, "her refused record, found whatever its case"

    again = _import(p, tmp_path)
    assert again.quarantined == {"erased": len(JANE_ROWS)}
    assert again.duplicates == BOB_ROWS, "Bob's records are stored, once"
    withheld = p.sql(
        "SELECT reason_code, reason, record_number FROM quarantine ORDER BY record_number"
    ).to_pylist()
    assert [r["record_number"] for r in withheld] == JANE_ROWS
    assert {(r["reason_code"], r["reason"]) for r in withheld} == {("erased", _reason(p))}
    events = p.sql("SELECT user_id FROM events ORDER BY occurred_at").column(0).to_pylist()
    assert events == ["u-bob", "u-bob"]
    for trace in JANE:
        assert trace not in _everything(p).lower(), f"{trace} came back"

    # However often the file comes, each withheld record is quarantined once; into another
    # source, Bob's records are new and stored while Jane's are withheld there too.
    assert _import(p, tmp_path).already_quarantined == len(JANE_ROWS)
    other = _import(p, tmp_path, source="restore")
    assert (other.accepted, other.quarantined) == (BOB_ROWS, {"erased": len(JANE_ROWS)})
    assert p.sql("SELECT count(*) AS n FROM quarantine").to_pylist() == [{"n": 8}]
    assert p.quarantine.replay().considered == 0, "a withheld record has nothing to replay"
    assert "u-jane" not in _everything(p).lower()


def _journal_messages(user: str, email: str, count: int) -> bytes:
    """Messages as the tracking routes journal them: Segment-shaped, completed, JSON lines."""
    messages = [
        {
            "type": "track",
            "event": "Viewed",
            "messageId": f"{user}-{n}",
            "userId": user,
            "context": {"traits": {"email": email}},
            "timestamp": "2026-02-01T09:00:00.000Z",
        }
        for n in range(count)
    ]
    return journal_lines(messages, "2026-02-01T09:00:00.000Z")


def test_erasure_reaches_live_messages_still_in_the_journal(tmp_path: Path) -> None:
    """A server acknowledged (journaled, fsync'd) messages from Jane and Bob and stopped before
    loading them; Jane is erased before the loader runs. Loading the journal stores Bob's and
    withholds Jane's."""
    path = tmp_path / "store.duckdb"
    with parcours.connect(path) as p:
        _import(p, tmp_path)
        journal = Journal(journal_dir(path))
        journal.append("website", "web", _journal_messages("u-jane", "jane@x.com", 3))
        journal.append("website", "web", _journal_messages("u-bob", "bob@y.com", 2))
        journal.sync()
        journal.rotate()
        erase(p.store, "email", "jane@x.com", reason="ticket 7")
        assert list(journal_dir(path).glob("*/*.jsonl")), "the messages wait in the journal"

    # A writable open loads what the journal holds, as a restarted server's loader does.
    with parcours.connect(path) as p:
        assert not list(journal_dir(path).glob("*/*.jsonl")), "the journal was loaded"
        live = p.sql("SELECT user_id FROM events WHERE source = 'website'").column(0).to_pylist()
        assert live == ["u-bob", "u-bob"]
        withheld = p.sql(
            "SELECT reason_code, reason FROM quarantine WHERE source = 'website'"
        ).to_pylist()
        assert withheld == [{"reason_code": "erased", "reason": _reason(p)}] * 3
        for trace in JANE:
            assert trace not in _everything(p).lower(), f"{trace} came back from the journal"


def test_records_no_reader_could_parse_are_withheld_too(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """Lines the reader cannot parse are quarantined as they are, which would keep an erased
    person's identifiers in clear: a line with one field too many and a line with a byte that
    is not UTF-8, both Jane's, are withheld; Bob's unparseable line is kept to be fixed."""
    _import(p, tmp_path)
    erase(p.store, "email", "jane@x.com", reason="ticket 9")
    data = tmp_path / "old.csv"
    data.write_bytes(
        b"at,channel,cookie,user,email\n"
        b"2026-01-07 10:00:00,web,ck-jane,u-jane,jane@x.com,extra\n"  # Jane, a field too many
        b"2026-01-08 10:00:00,web,ck-caf\xe9,,Jane@X.com\n"  # Jane, a Latin-1 byte
        b"2026-01-09 10:00:00,web,ck-bob,u-bob,bob@y.com,extra\n"  # Bob, a field too many
    )
    summary = p.import_file(data, source="crm", mapping=tmp_path / "m.yaml")
    assert summary.quarantined == {"erased": 2, "unparseable": 1}
    rows = p.sql(
        "SELECT record_number, reason_code FROM quarantine WHERE import_id = ? "
        "ORDER BY record_number".replace("?", f"'{summary.import_id}'")
    ).to_pylist()
    assert rows == [
        {"record_number": 1, "reason_code": "erased"},
        {"record_number": 2, "reason_code": "erased"},
        {"record_number": 3, "reason_code": "unparseable"},
    ]
    for trace in JANE:
        assert trace not in _everything(p).lower(), f"{trace} came back unparsed"
    assert "bob@y.com" in _everything(p)
