"""File import: every import rule on hand-made files, quarantine of every kind of bad record,
replay after a fix, and exactly-once on re-import. Expected values are written by hand from the
files below (the test says why each is what it is)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import parcours
from parcours.errors import MappingError

MAPPING = """
name: contacts
event_id: id
event: {value: Contact}
channel: {field: medium, map: {phone: call, livechat: chat}}
occurred_at: {field: at, format: "%d/%m/%Y %H:%M", timezone: Europe/Paris}
identifiers:
  email: mail
  phone: {field: tel, country: "33"}
intent: {field: reason, map: {DLV: delivery}}
outcome: outcome
amount: {field: amount, decimal: ","}
wait_seconds: wait
"""

HEADER = "id,medium,at,mail,tel,reason,outcome,amount,wait,note"
GOOD = [
    'g1,phone,15/01/2026 10:00,Jane@Example.com,06 12 34 56 78,DLV,Resolved,"12,50",30,first',
    "g2,livechat,15/07/2026 10:00,jane@example.com,,Billing issue,unresolved,,,second",
]
BAD = {
    "unparseable": "b1,phone,15/01/2026 10:00",
    "missing_identity": "b2,phone,15/01/2026 10:00,,,DLV,resolved,,,",
    "missing_timestamp": "b3,phone,,jane@example.com,,DLV,resolved,,,",
    "bad_timestamp": "b4,phone,31/02/2026 10:00,jane@example.com,,DLV,resolved,,,",
    "unknown_channel": "b5,fax,15/01/2026 10:00,jane@example.com,,DLV,resolved,,,",
    "wrong_type": "b6,phone,15/01/2026 10:00,jane@example.com,,DLV,resolved,12 EUR,,",
    "bad_identifier": "b7,phone,15/01/2026 10:00,jane-at-example,,DLV,resolved,,,",
    "oversize": "b8,phone,15/01/2026 10:00,jane@example.com,,DLV,resolved,,," + "x" * 40_000,
}
FUTURE = "b9,phone,15/01/2099 10:00,jane@example.com,,DLV,resolved,,,"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    mapping = tmp_path / "contacts.yaml"
    mapping.write_text(MAPPING)
    data = tmp_path / "contacts.csv"
    data.write_text("\n".join([HEADER, *GOOD, *BAD.values(), FUTURE]) + "\n")
    return data, mapping


def test_bad_records_are_quarantined_with_their_reason(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    data, mapping = _files(tmp_path)
    summary = p.import_file(data, source="crm", mapping=mapping)

    assert summary.records == 2 + len(BAD) + 1
    assert summary.accepted == 2
    # Every bad kind once; the 2099 timestamp is a second bad_timestamp (in the future).
    assert summary.quarantined == {**dict.fromkeys(BAD, 1), "bad_timestamp": 2}
    listed = p.quarantine.list().to_pylist()
    reasons = {r["reason_code"]: r["reason"] for r in listed}
    # Both bad timestamps, each with its own reason (sorted, "15/01/2099" before "31/02/2026").
    future, impossible = sorted(r["reason"] for r in listed if r["reason_code"] == "bad_timestamp")
    assert "'15/01/2099 10:00'" in future and "in the future" in future
    assert "'31/02/2026 10:00'" in impossible and "does not match the format" in impossible
    assert "'fax'" in reasons["unknown_channel"] and "channel map" in reasons["unknown_channel"]
    assert "'12 EUR'" in reasons["wrong_type"] and "amount" in reasons["wrong_type"]
    assert "jane-at-example" in reasons["bad_identifier"]
    assert "more than the 32768 allowed" in reasons["oversize"]
    assert "has 3 fields where the header has 10" in reasons["unparseable"]
    assert "every identifying field" in reasons["missing_identity"]


def test_import_rules_on_a_hand_made_file(p: parcours.Parcours, tmp_path: Path) -> None:
    data, mapping = _files(tmp_path)
    p.import_file(data, source="crm", mapping=mapping)
    rows = {r["event_id"]: r for r in p.sql("SELECT * FROM events").to_pylist()}
    g1, g2 = rows["g1"], rows["g2"]
    # 10:00 in Paris is 09:00 UTC in January and 08:00 UTC in July.
    assert g1["occurred_at"].isoformat() == "2026-01-15T09:00:00+00:00"
    assert g2["occurred_at"].isoformat() == "2026-07-15T08:00:00+00:00"
    assert (g1["channel"], g2["channel"]) == ("call", "chat")
    assert g1["identifiers"] == [
        {"type": "email", "value": "jane@example.com"},
        {"type": "phone", "value": "+33612345678"},
    ]
    assert g2["identifiers"] == [{"type": "email", "value": "jane@example.com"}]
    # Mapped codes come out as given; unmapped ones as lower-case words.
    assert (g1["intent"], g2["intent"]) == ("delivery", "billing_issue")
    assert (g1["outcome"], g2["outcome"]) == ("resolved", "unresolved")
    assert float(g1["amount"]) == 12.5 and g2["amount"] is None
    assert g1["wait_seconds"] == 30.0
    assert json.loads(g1["properties"]) == {"note": "first"}
    assert json.loads(g1["raw"])["mail"] == "Jane@Example.com"
    assert (g1["type"], g1["name"], g1["source"]) == ("track", "Contact", "crm")


def test_reimport_adds_nothing(p: parcours.Parcours, tmp_path: Path) -> None:
    data, mapping = _files(tmp_path)
    p.import_file(data, source="crm", mapping=mapping)
    again = p.import_file(data, source="crm", mapping=mapping)
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 2, {})
    assert again.already_quarantined == len(BAD) + 1
    assert p.sql("SELECT count(*) AS n FROM events").column("n")[0].as_py() == 2
    assert p.sql("SELECT count(*) AS n FROM quarantine").column("n")[0].as_py() == len(BAD) + 1


def test_replay_after_fixing_the_mapping_stores_the_fixed_records(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    data, mapping = _files(tmp_path)
    p.import_file(data, source="crm", mapping=mapping)
    # The fix: 'fax' is a call line, and amounts may carry a currency suffix (still refused).
    mapping.write_text(MAPPING.replace("livechat: chat}", "livechat: chat, fax: call}"))
    summary = p.quarantine.replay(source="crm")
    assert summary.stored == 1
    stored = p.sql("SELECT channel FROM events WHERE event_id = 'b5'").to_pylist()
    assert stored == [{"channel": "call"}]
    assert p.quarantine.list(reason="unknown_channel").num_rows == 0
    assert p.quarantine.list(status="replayed").column("reason_code").to_pylist() == [
        "unknown_channel"
    ]
    # Replaying again stores nothing twice; a re-import with the fixed mapping adds nothing.
    assert p.quarantine.replay(source="crm").stored == 0
    assert p.import_file(data, source="crm", mapping=mapping).accepted == 0


def test_same_id_from_another_source_is_another_event(p: parcours.Parcours, tmp_path: Path) -> None:
    data, mapping = _files(tmp_path)
    p.import_file(data, source="crm", mapping=mapping)
    assert p.import_file(data, source="crm-eu", mapping=mapping).accepted == 2


def test_rows_without_id_get_a_content_hash_and_duplicates_in_a_file_store_once(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    data = tmp_path / "email.csv"
    data.write_text(
        "email,campaign,activity,timestamp\n"
        "a@x.com,c1,sent,1767261600\na@x.com,c1,sent,1767261600\na@x.com,c1,open,1767265200\n"
    )
    summary = p.import_file(data, source="esp", mapping="email")
    assert (summary.accepted, summary.duplicates) == (2, 1)
    ids = p.sql("SELECT event_id FROM events ORDER BY occurred_at").column(0).to_pylist()
    assert all(len(i) == 32 for i in ids) and len(set(ids)) == 2


def test_jsonl_gzip_with_a_broken_line(p: parcours.Parcours, tmp_path: Path) -> None:
    lines = [
        {
            "messageId": "m1",
            "type": "track",
            "event": "Order Completed",
            "anonymousId": "c1",
            "timestamp": "2026-03-01T10:00:00Z",
            "properties": {"revenue": 45.9, "currency": "eur"},
            "context": {"sessionId": "s1", "traits": {"email": "A@B.fr"}},
        },
        {
            "messageId": "m2",
            "type": "page",
            "anonymousId": "c1",
            "timestamp": "2026-03-01T10:01:00Z",
        },
    ]
    path = tmp_path / "web.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write("\n".join(json.dumps(line) for line in lines) + '\n{"messageId": "m3", "ty\n\n')
    summary = p.import_file(path, source="web", mapping="web")
    assert (summary.accepted, summary.quarantined) == (2, {"unparseable": 1})
    m1 = p.sql("SELECT * FROM events WHERE event_id = 'm1'").to_pylist()[0]
    assert (m1["session_id"], float(m1["amount"]), m1["currency"]) == ("s1", 45.9, "EUR")
    assert m1["identifiers"] == [{"type": "email", "value": "a@b.fr"}]
    assert json.loads(m1["properties"]) == {"revenue": 45.9, "currency": "eur"}
    assert json.loads(m1["context"])["sessionId"] == "s1"


def test_json_records_keep_the_properties_a_mapping_lists(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """`properties: [a list]` on JSON lines: the listed fields, nested ones too, by their name;
    a field a record lacks is null, and nothing else is kept."""
    (tmp_path / "m.yaml").write_text(
        "name: t\nevent: {value: Seen}\nchannel: {value: web}\noccurred_at: at\n"
        "anonymous_id: who\nproperties: [plan, page.path]\n"
    )
    rows = [
        {"at": "2026-03-01T10:00:00Z", "who": "c1", "plan": "gold", "page": {"path": "/a"}, "x": 1},
        {"at": "2026-03-01T10:01:00Z", "who": "c2", "page": {"path": "/b"}},
    ]
    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert p.import_file(data, source="t", mapping=tmp_path / "m.yaml").accepted == 2
    stored = p.sql("SELECT properties FROM events ORDER BY anonymous_id").column(0).to_pylist()
    assert [json.loads(x) for x in stored] == [
        {"plan": "gold", "page.path": "/a"},
        {"plan": None, "page.path": "/b"},
    ]


def test_parquet_with_typed_columns(p: parcours.Parcours, tmp_path: Path) -> None:
    table = pa.table(
        {
            "event_uuid": ["u1", "u2"],
            "device_id": ["d1", "d1"],
            "user_id": [None, "42"],
            "event_type": ["screen_view", "action"],
            "event_name": ["Home", "Order Completed"],
            "ts": pa.array([1767261600000, 1767261660000], pa.timestamp("ms", tz="UTC")),
            "order_total": [None, 99.5],
            "currency": [None, "EUR"],
        }
    )
    path = tmp_path / "app.parquet"
    pq.write_table(table, path, compression="gzip")
    assert p.import_file(path, source="app", mapping="app").accepted == 2
    rows = p.sql(
        "SELECT type, user_id, amount, occurred_at FROM events ORDER BY event_id"
    ).to_pylist()
    assert [r["type"] for r in rows] == ["screen", "track"]
    assert rows[1]["user_id"] == "42" and float(rows[1]["amount"]) == 99.5
    assert rows[0]["occurred_at"].isoformat() == "2026-01-01T10:00:00+00:00"


def test_batches_commit_separately_and_count_right(tmp_path: Path) -> None:
    data, mapping = _files(tmp_path)
    with parcours.connect(tmp_path / "s.duckdb", import_batch_rows=2) as p:
        summary = p.import_file(data, source="crm", mapping=mapping)
        assert (summary.accepted, sum(summary.quarantined.values())) == (2, len(BAD) + 1)
        ledger = p.sql("SELECT status, records, accepted FROM imports").to_pylist()
        assert ledger == [{"status": "completed", "records": summary.records, "accepted": 2}]


def test_keep_raw_off_stores_no_raw_but_quarantine_still_does(tmp_path: Path) -> None:
    data, mapping = _files(tmp_path)
    with parcours.connect(tmp_path / "s.duckdb", keep_raw=False) as p:
        p.import_file(data, source="crm", mapping=mapping)
        raws = p.sql("SELECT raw FROM events").column(0).to_pylist()
        quarantined = p.sql("SELECT raw FROM quarantine").column(0).to_pylist()
    assert raws == [None, None]
    assert all(quarantined)


def test_segment_clock_skew_is_corrected_by_the_tracking_mapping(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """Segment's rule: timestamp = receivedAt - (sentAt - timestamp). A client whose clock is
    an hour fast sends 11:00 for an event at 10:00 (server time)."""
    lines = [
        {
            "messageId": "late-clock",
            "type": "track",
            "event": "E",
            "userId": "u",
            "timestamp": "2026-03-01T11:00:00Z",
            "sentAt": "2026-03-01T11:05:00Z",
            "receivedAt": "2026-03-01T10:05:00.000Z",
        },
        {
            "messageId": "no-sent-at",
            "type": "track",
            "event": "E",
            "userId": "u",
            "timestamp": "2026-03-01T11:00:00Z",
            "receivedAt": "2026-03-01T10:05:00.000Z",
        },
    ]
    path = tmp_path / "tracking.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    p.import_file(path, source="web", mapping="tracking")
    rows = {
        r["event_id"]: r["occurred_at"].isoformat()
        for r in p.sql("SELECT * FROM events").to_pylist()
    }
    assert rows == {
        "late-clock": "2026-03-01T10:00:00+00:00",
        "no-sent-at": "2026-03-01T11:00:00+00:00",
    }


KEYWORDS = """
name: posts
event_id: id
event: {value: Post}
channel: {value: social}
occurred_at: at
identifiers:
  social_handle: who
text: text
intent:
  field: text
  keywords:
    delivery: [colis, "pas livré"]
    technical_issue: [wifi, "écran noir"]
    account: [compte]
"""


def test_keyword_rules_give_a_value_from_text(p: parcours.Parcours, tmp_path: Path) -> None:
    """Whole words or phrases, any case (É is é), the first rule that matches; no match, no
    value. Each expectation is read off the texts below."""
    mapping = tmp_path / "posts.yaml"
    mapping.write_text(KEYWORDS)
    texts = {
        "p1": "Mon COLIS n'est jamais arrivé",  # delivery, whatever the case
        "p2": "ÉCRAN NOIR depuis hier, et le colis ?",  # delivery: the first rule wins
        "p3": "Le wifi saute",  # technical_issue
        "p4": "Commande pas livré, écran noir",  # delivery, a phrase
        "p5": "Les wifis du quartier",  # none: "wifis" is not the word "wifi"
        "p6": "Décompte des points",  # none: "compte" inside a word
        "p7": "Super produit, merci !",  # none
        "p8": "Mon compte: bloqué",  # account, before a colon
    }
    data = tmp_path / "posts.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": i, "at": "2026-01-15T10:00:00Z", "who": "@jane", "text": t}) + "\n"
            for i, t in texts.items()
        )
    )
    p.import_file(data, source="social", mapping=mapping)
    found = {r["event_id"]: r["intent"] for r in p.sql("SELECT * FROM events").to_pylist()}
    assert found == {
        "p1": "delivery",
        "p2": "delivery",
        "p3": "technical_issue",
        "p4": "delivery",
        "p5": None,
        "p6": None,
        "p7": None,
        "p8": "account",
    }


CONTACTS_JSONL = """
name: contacts
event_id: id
event: {field: [event, name]}
channel: {value: call}
occurred_at: {field: at, timezone: Europe/Paris}
anonymous_id: who
outcome: statut
intent: {field: reason, default: other}
"""


def _contacts_jsonl(tmp_path: Path, records: list[dict[str, str]]) -> tuple[Path, Path]:
    mapping = tmp_path / "contacts.yaml"
    mapping.write_text(CONTACTS_JSONL)
    data = tmp_path / "contacts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    return data, mapping


def _contact(number: int, **more: str) -> dict[str, str]:
    return {"id": f"c{number}", "at": "2026-03-01T10:00:00Z", "who": "a", "event": "Call", **more}


def test_a_mapped_field_no_record_has_is_named_in_the_summary(tmp_path: Path) -> None:
    """`outcome: statut` where the records say `status`: every record is stored without an
    outcome, and the summary says so. `reason` has a default (optional by declaration) and
    `name` is an alternative to `event`, which the records have: neither is named."""
    data, mapping = _contacts_jsonl(tmp_path, [_contact(i, status="resolved") for i in (1, 2, 3)])
    with parcours.connect(tmp_path / "s.duckdb", import_batch_rows=2) as p:
        summary = p.import_file(data, source="cc", mapping=mapping)
    assert summary.accepted == 3
    assert summary.fields_not_found == {"outcome": ["statut"]}
    assert summary.to_dict()["fields_not_found"] == {"outcome": ["statut"]}


def test_a_field_marked_optional_is_not_named_when_no_record_has_it(tmp_path: Path) -> None:
    """The same file, with `outcome` marked `optional: true` (as the shipped tracking mapping
    marks what only some integrations send): nothing is named, and strict imports it."""
    data, mapping = _contacts_jsonl(tmp_path, [_contact(i, status="resolved") for i in (1, 2, 3)])
    text = mapping.read_text()
    assert "outcome: statut" in text
    mapping.write_text(text.replace("outcome: statut", "outcome: {field: statut, optional: true}"))
    with parcours.connect(tmp_path / "s.duckdb") as p:
        summary = p.import_file(data, source="cc", mapping=mapping, strict=True)
    assert (summary.accepted, summary.fields_not_found) == (3, {})


def test_a_field_first_held_in_a_late_batch_is_found(tmp_path: Path) -> None:
    """Records 1-4 lack `statut`, record 5 has it: in batches of two it is in the third."""
    records = [_contact(i) for i in (1, 2, 3, 4)] + [_contact(5, statut="resolved")]
    data, mapping = _contacts_jsonl(tmp_path, records)
    with parcours.connect(tmp_path / "s.duckdb", import_batch_rows=2) as p:
        assert p.import_file(data, source="cc", mapping=mapping).fields_not_found == {}


def test_a_file_without_records_lacks_no_field(p: parcours.Parcours, tmp_path: Path) -> None:
    """Blank lines only: nothing is stored without a field, so nothing is named or refused."""
    data, mapping = _contacts_jsonl(tmp_path, [])
    data.write_text("\n\n")
    summary = p.import_file(data, source="cc", mapping=mapping, strict=True)
    assert (summary.records, summary.fields_not_found) == (0, {})


def test_strict_refuses_a_file_missing_a_mapped_field_before_storing_anything(
    tmp_path: Path,
) -> None:
    data, mapping = _contacts_jsonl(tmp_path, [_contact(1, status="resolved"), _contact(2)])
    with parcours.connect(tmp_path / "s.duckdb") as p:
        with pytest.raises(MappingError) as raised:
            p.import_file(data, source="cc", mapping=mapping, strict=True)
        counts = p.sql(
            "SELECT (SELECT count(*) FROM events) AS events, "
            "(SELECT count(*) FROM imports) AS imports"
        ).to_pylist()
    message = raised.value.message
    assert "has the field 'statut' the mapping reads for outcome (did you mean 'status'?)" in (
        message
    )
    assert "the records have the fields at, event, id, status, who" in message
    assert str(mapping) in message
    assert counts == [{"events": 0, "imports": 0}]


def test_strict_imports_a_file_whose_fields_appear_only_late(tmp_path: Path) -> None:
    records = [_contact(i) for i in range(1, 6)] + [_contact(6, statut="resolved")]
    data, mapping = _contacts_jsonl(tmp_path, records)
    with parcours.connect(tmp_path / "s.duckdb", import_batch_rows=2) as p:
        summary = p.import_file(data, source="cc", mapping=mapping, strict=True)
    assert (summary.accepted, summary.fields_not_found) == (6, {})


def test_zone_names_in_timestamps_are_honoured_or_quarantined(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """The mapping's zone is Paris; a zone named in the value wins. Expected instants come from
    Python's zoneinfo; an unknown zone is quarantined, never read as UTC."""
    at = {
        "winter-paris": "2026-03-01T10:00:00 Europe/Paris",
        "summer-paris": "2026-07-01T10:00:00 Europe/Paris",
        "new-york": "2026-03-01T12:00:00 America/New_York",
        "offset": "2026-07-01T10:00:00+02:00",
        "local": "2026-07-01T10:00:00",
        "typo": "2026-03-01T10:00:00 Europe/Pariss",
    }
    records = [_contact(0, id=k, at=v, statut="resolved") for k, v in at.items()]
    data, mapping = _contacts_jsonl(tmp_path, records)
    summary = p.import_file(data, source="cc", mapping=mapping)
    assert summary.quarantined == {"bad_timestamp": 1}
    stored = {r["event_id"]: r["occurred_at"] for r in p.sql("SELECT * FROM events").to_pylist()}

    def utc(wall: str, zone: str) -> dt.datetime:
        return dt.datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)

    assert stored == {
        "winter-paris": utc("2026-03-01T10:00", "Europe/Paris"),  # 09:00 UTC
        "summer-paris": utc("2026-07-01T10:00", "Europe/Paris"),  # 08:00 UTC
        "new-york": utc("2026-03-01T12:00", "America/New_York"),  # 17:00 UTC
        "offset": utc("2026-07-01T10:00", "Europe/Paris"),
        "local": utc("2026-07-01T10:00", "Europe/Paris"),
    }
    reason = p.quarantine.list().to_pylist()[0]["reason"]
    assert "Europe/Pariss" in reason and "or a known zone name" in reason
