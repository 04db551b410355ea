"""The demo world generator: deterministic, in the shipped mappings' formats, true to its truth.

Files are read back here with pyarrow, json and the shipped mapping YAML — not with parcours's
importer — so a format drift shows up as a failure of the generator, not of the import. Phones
are checked against libphonenumber, an independent reference.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import phonenumbers
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

import parcours
from parcours.collect.mapping import load_mapping
from parcours.demo import DemoWorld, generate_world

CUSTOMERS = 300
FIRST = datetime.fromisoformat("2026-01-05T00:00:00+00:00")
END = datetime.fromisoformat("2026-10-31T00:00:00+00:00")
MAPPINGS = Path(parcours.__file__).parent / "collect" / "mappings"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return generate_world(tmp_path_factory.mktemp("world"), customers=CUSTOMERS, seed=7)


def _mapping(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MAPPINGS / f"{name}.yaml").read_text())
    return loaded


def _export(world: DemoWorld, source: str) -> Path:
    return next(e.path for e in world.exports if e.source == source)


def _csv(world: DemoWorld, source: str) -> list[dict[str, str]]:
    delimiter = _mapping(source).get("csv", {}).get("delimiter", ",")
    path = _export(world, source)
    with path.open(encoding="utf-8") as handle:
        header = next(csv.reader(handle, delimiter=delimiter))
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())),
    )
    rows: list[dict[str, str]] = table.to_pylist()
    return rows


def _json_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        yield from (line.rstrip("\n") for line in handle)


def _parsed(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSON-lines file, and how many lines were not JSON."""
    records, broken = [], 0
    for line in _json_lines(path):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            broken += 1
    return records, broken


def _truth(world: DemoWorld, name: str) -> list[dict[str, str]]:
    with (world.truth_dir / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _expected(world: DemoWorld) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((world.truth_dir / "expected.json").read_text())
    return loaded


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        generate_world(tmp_path / name, customers=120, seed=seed)
    first, again, other = (_files(tmp_path / n) for n in ("a", "b", "c"))
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first if name.startswith("exports/"))


def test_progress_reports_every_customer_once(tmp_path: Path) -> None:
    reported: list[int] = []
    generate_world(tmp_path, customers=1234, seed=1, progress=reported.append)
    assert sum(reported) == 1234


def test_record_counts_in_expected_match_the_files(world: DemoWorld) -> None:
    expected = _expected(world)
    assert expected["customers"] == CUSTOMERS and expected["seed"] == 7
    counted = {
        "app": pq.ParquetFile(_export(world, "app")).metadata.num_rows,
        **{s: len(_csv(world, s)) for s in ("pos", "call_centre", "crm", "email", "sms")},
        **{s: sum(1 for _ in _json_lines(_export(world, s))) for s in ("web", "chat", "social")},
    }
    for export in world.exports:
        planted = sum(export.planted_bad.values())
        assert export.records == counted[export.source], export.source
        assert expected["events_by_source"][export.source] == export.records - planted
    assert sum(expected["events_by_channel"].values()) == sum(expected["events_by_source"].values())


def test_every_file_has_the_fields_its_mapping_reads(world: DemoWorld) -> None:
    for export in world.exports:
        wanted = load_mapping(export.mapping)[0].used_source_fields()
        if export.source == "app":
            present = set(pq.ParquetFile(export.path).schema_arrow.names)
        elif export.path.name.endswith((".jsonl", ".jsonl.gz")):
            records, _ = _parsed(export.path)
            present = {f for f in wanted if any(_dig(r, f) is not None for r in records)}
        else:
            present = set(_csv(world, export.source)[0])
        assert wanted <= present, (export.source, wanted - present)


def _dig(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def test_web_messages_are_segment_messages(world: DemoWorld) -> None:
    records, broken = _parsed(_export(world, "web"))
    assert broken == _planted(world, "web", "unparseable")
    allowed = {"Product Viewed", "Product Added", "Checkout Started", "Order Completed"}
    allowed |= {"Signed Up", "Consent Given"}  # the sign-up drive (demo/marketing.py)
    for r in records:
        assert r["type"] in ("page", "track", "identify")
        if r["type"] == "identify":  # a sign-up: traits, the email always
            assert r["traits"]["email"] == r["context"]["traits"]["email"]
        else:
            assert (r["event"] in allowed) if r["type"] == "track" else bool(r["name"])
        assert r["timestamp"].endswith("Z") and r["anonymousId"] and r["context"]["sessionId"]
        assert FIRST <= datetime.fromisoformat(r["timestamp"]) < END
        if r.get("event") == "Order Completed":
            assert isinstance(r["properties"]["revenue"], float)
            assert r["properties"]["currency"] == "EUR"
    assert len({r["messageId"] for r in records}) == len(records)


def test_app_parquet_has_the_exported_schema(world: DemoWorld) -> None:
    table = pq.read_table(_export(world, "app"))
    assert table.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("order_total").type == pa.float64()
    rows = table.to_pylist()
    assert {r["event_type"] for r in rows} == {"screen_view", "action"}
    for r in rows:
        is_order = r["event_name"] == "Order Completed"
        assert (r["order_total"] is not None) == is_order == (r["currency"] == "EUR")
        assert FIRST <= r["ts"] < END


def test_csv_exports_use_their_mappings_formats(world: DemoWorld) -> None:
    for r in _csv(world, "pos"):
        datetime.strptime(r["sold_at"], "%d/%m/%Y %H:%M")
        if r["total"] != "n/a":
            float(r["total"].replace(".", "").replace(",", "."))
    call = _mapping("call_centre")
    calls = {c["event_id"] for c in _truth(world, "contacts.csv") if c["source"] == "call_centre"}
    for r in _csv(world, "call_centre"):
        if r["started_at"] != "2026-02-31 25:61:00":
            datetime.strptime(r["started_at"], "%Y-%m-%d %H:%M:%S")
        assert r["reason_code"] in call["intent"]["map"]
        assert r["outcome_code"] in call["outcome"]["map"]
        hours, minutes, seconds = (int(x) for x in r["talk_time"].split(":"))
        assert minutes < 60 and seconds < 60 and hours < 24
        # An agent checks who is calling; an abandoned call reaches none (planted bad records
        # are no one's calls).
        if r["call_id"] in calls:
            assert bool(r["first_name"] and r["last_name"]) == bool(r["agent_id"])
        if r["date_of_birth"]:
            datetime.strptime(r["date_of_birth"], "%d/%m/%Y")
    for r in _csv(world, "crm"):
        datetime.fromisoformat(r["updated_at"])
    rows = _csv(world, "email")
    assert len({tuple(r.values()) for r in rows}) == len(rows)  # no id: rows must differ
    assert {r["activity"] for r in rows} <= set(_mapping("email")["event"]["map"])
    assert all(r["timestamp"].isdigit() for r in rows)


def test_chat_and_social_use_their_mappings_formats(world: DemoWorld) -> None:
    chat = _mapping("chat")
    records, _ = _parsed(_export(world, "chat"))
    for r in records:
        assert r["topic"] in chat["intent"]["map"] and r["status"] in chat["outcome"]["map"]
        started = datetime.fromisoformat(r["started_at"])
        assert r["started_at"][-6:] in ("+01:00", "+02:00") and FIRST <= started < END
    social_format = _mapping("social")["occurred_at"]["format"]
    posts, broken = _parsed(_export(world, "social"))
    assert broken == 0
    for post in posts:
        assert post["handle"].startswith("@")
        assert FIRST <= datetime.strptime(post["created_at"], social_format) < END


def _identifiers(world: DemoWorld) -> dict[tuple[str, str], str]:
    return {(r["type"], r["value"]): r["customer_id"] for r in _truth(world, "identifiers.csv")}


def test_call_centre_phones_normalise_to_the_callers_truth_phone(world: DemoWorld) -> None:
    owners = _identifiers(world)
    caller = {
        r["event_id"]: r["customer_id"]
        for r in _truth(world, "contacts.csv")
        if r["source"] == "call_centre"
    }
    calls = [r for r in _csv(world, "call_centre") if r["call_id"] in caller]
    assert len(calls) == len(caller) > 0
    forms = set()
    for r in calls:
        number = phonenumbers.parse(r["caller_number"], "FR")
        assert phonenumbers.is_valid_number(number), r["caller_number"]
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert owners[("phone", e164)] == caller[r["call_id"]]
        forms.add(r["caller_number"][:3])
    assert len(forms) >= 4  # "06 ", "+33", "003", "06." ...: written in varied ways


def test_identifiers_belong_to_one_customer_and_match_their_counts(world: DemoWorld) -> None:
    rows = _truth(world, "identifiers.csv")
    assert len({(r["type"], r["value"]) for r in rows}) == len(rows)
    # Values several customers' records carry are listed apart, as no one's.
    shared = {(r["type"], r["value"]) for r in _truth(world, "shared.csv")}
    assert shared and not shared & {(r["type"], r["value"]) for r in rows}
    counts = Counter(r["type"] for r in rows)
    assert _expected(world)["identifiers_by_type"] == {
        kind: counts.get(kind, 0) for kind in _expected(world)["identifiers_by_type"]
    }
    for r in rows:
        if r["type"] == "email":
            assert r["value"] == r["value"].strip().lower()
        if r["type"] == "social_handle":
            assert not r["value"].startswith("@") and r["value"] == r["value"].lower()


def test_evidence_groups_follow_what_receipts_and_calls_say(world: DemoWorld) -> None:
    """identifiers.csv's evidence groups (demo/evidence.py), checked against the till and the
    call log: a receipt with neither a card nor the buyer's name is alone in its group, as
    nothing links it; one with a card shares the card's group; one with the buyer's name and
    street, like a call with the caller's name and birth date, shares the group of the
    customer's CRM row, if any — and every kind occurs."""
    truth = _truth(world, "identifiers.csv")
    group = {(r["type"], r["value"]): (r["customer_id"], r["evidence_group"]) for r in truth}
    crm_group = {
        r["customer_id"]: group[("crm_id", r["value"])] for r in truth if r["type"] == "crm_id"
    }
    seen: Counter[str] = Counter()
    for r in _csv(world, "pos"):
        if r["total"] == "n/a":
            continue  # planted: quarantined, so no evidence
        receipt = group[("anonymous_id", r["receipt_id"])]
        customer = receipt[0]
        card = r["loyalty_card"] if r["loyalty_card"].strip("0") else ""
        if card:
            assert group[("loyalty_id", card)] == receipt
            seen["card"] += 1
        elif r["street"] and customer in crm_group:
            assert crm_group[customer] == receipt
            seen["named"] += 1
        elif not r["first_name"]:
            assert sum(1 for g in group.values() if g == receipt) == 1
            seen["anonymous"] += 1
    for r in _csv(world, "call_centre"):
        if not r["caller_number"] or r["started_at"].startswith("2026-02-31"):
            continue  # planted
        number = phonenumbers.parse(r["caller_number"], "FR")
        phone = group[
            ("phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        ]
        if r["date_of_birth"] and phone[0] in crm_group:
            assert crm_group[phone[0]] == phone
            seen["verified"] += 1
    assert set(seen) == {"card", "named", "anonymous", "verified"}, seen


def test_crm_emails_normalise_to_the_web_email(world: DemoWorld) -> None:
    owners = _identifiers(world)
    crm = {r["customer_number"]: r for r in _csv(world, "crm")}
    messy = 0
    for (kind, value), customer in owners.items():
        if kind == "crm_id":
            typed = crm[value]["email"]
            messy += typed != typed.strip().lower()
            assert owners[("email", typed.strip().lower())] == customer
    assert messy > 0


def test_visit_four_converts_much_better_than_visit_one(world: DemoWorld) -> None:
    visits = Counter(int(r["visit_number"]) for r in _truth(world, "visits.csv"))
    conversions = Counter(int(r["visit_number"]) for r in _truth(world, "conversions.csv"))
    assert conversions[4] / visits[4] > 2 * conversions[1] / visits[1]
    expected = _expected(world)
    assert expected["visits_by_number"] == {str(k): v for k, v in sorted(visits.items())}


def test_truth_event_ids_are_records_of_the_exports(world: DemoWorld) -> None:
    web, _ = _parsed(_export(world, "web"))
    ids = {
        "web": {r["messageId"] for r in web},
        "app": set(pq.read_table(_export(world, "app")).column("event_uuid").to_pylist()),
        "pos": {r["receipt_id"] for r in _csv(world, "pos")},
        "call_centre": {r["call_id"] for r in _csv(world, "call_centre")},
        "chat": {r["chat_id"] for r in _parsed(_export(world, "chat"))[0]},
        "social": {r["post_id"] for r in _parsed(_export(world, "social"))[0]},
    }
    for name in ("contacts.csv", "conversions.csv"):
        for r in _truth(world, name):
            assert r["event_id"] in ids[r["source"]], (name, r)


def test_repeat_contacts_follow_an_unresolved_attempt_on_the_same_case(world: DemoWorld) -> None:
    by_case: dict[str, list[dict[str, str]]] = {}
    for r in _truth(world, "contacts.csv"):
        by_case.setdefault(r["case_id"], []).append(r)
    switches = 0
    for attempts in by_case.values():
        for before, after in itertools.pairwise(attempts):
            assert int(after["attempt"]) == int(before["attempt"]) + 1
            assert before["outcome"] != "resolved" and after["intent"] == before["intent"]
            assert after["previous_channel"] == before["channel"]
            gap = datetime.fromisoformat(after["occurred_at"]) - datetime.fromisoformat(
                before["occurred_at"]
            )
            assert 1 <= gap.total_seconds() / 86400 <= 6
            switches += after["channel"] != before["channel"]
    assert switches > 0


def _planted(world: DemoWorld, source: str, reason: str) -> int:
    return next(e for e in world.exports if e.source == source).planted_bad.get(reason, 0)


def test_planted_bad_records_are_in_the_files_as_reported(world: DemoWorld) -> None:
    per_kind = max(1, CUSTOMERS // 1000)
    reported = {e.source: e.planted_bad for e in world.exports if e.planted_bad}
    assert reported == {
        "web": {"unparseable": per_kind},
        "call_centre": {"bad_timestamp": per_kind, "missing_identity": per_kind},
        "pos": {"wrong_type": per_kind},
        "chat": {"unknown_channel": per_kind},
        "crm": {"bad_identifier": per_kind},
    }
    assert _expected(world)["planted_bad"] == reported
    calls = _csv(world, "call_centre")
    assert sum(r["started_at"] == "2026-02-31 25:61:00" for r in calls) == per_kind
    assert sum(r["caller_number"] == "" for r in calls) == per_kind
    assert sum(r["total"] == "n/a" for r in _csv(world, "pos")) == per_kind
    chats, _ = _parsed(_export(world, "chat"))
    assert sum(r["medium"] not in _mapping("chat")["channel"]["map"] for r in chats) == per_kind
    assert sum("@" not in r["email"] for r in _csv(world, "crm")) == per_kind


CUTOFF = datetime.fromisoformat("2026-08-01T00:00:00+00:00")
WEEK = 7 * 86400


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _activity(world: DemoWorld) -> dict[str, list[datetime]]:
    """Each customer's own activity, read from the truth and the exports: visits (their start
    and end), contacts, posts, email opens and clicks, SMS replies."""
    owners = _identifiers(world)
    times: dict[str, list[datetime]] = {}
    for r in _truth(world, "visits.csv"):
        times.setdefault(r["customer_id"], []).extend((_at(r["started_at"]), _at(r["ended_at"])))
    for name in ("contacts.csv", "social_posts.csv"):
        for r in _truth(world, name):
            times.setdefault(r["customer_id"], []).append(_at(r["occurred_at"]))
    for r in _csv(world, "email"):
        if r["activity"] != "sent":
            customer = owners[("email", r["email"].strip().lower())]
            times.setdefault(customer, []).append(
                datetime.fromtimestamp(int(r["timestamp"]), FIRST.tzinfo)
            )
    for r in _csv(world, "sms"):
        if r["direction"] == "inbound":
            times.setdefault(owners[("phone", r["msisdn"])], []).append(_at(r["date_created"]))
    return times


def test_churned_customers_did_nothing_after_their_churn_date(world: DemoWorld) -> None:
    """customers.csv's churn against the activity the files hold: churned when the last
    activity comes before expected.json's `quiet_from` (nothing after it to the world's end),
    on that day; active before the cut-off with an activity in the window before it."""
    churn = _expected(world)["churn"]
    cutoff, quiet = _at(churn["cutoff"]), _at(churn["quiet_from"])
    since = cutoff.timestamp() - churn["active_window_days"] * 86400
    activity = _activity(world)
    customers = _truth(world, "customers.csv")
    for r in customers:
        seen = activity.get(r["customer_id"], [])
        before = any(since <= t.timestamp() < cutoff.timestamp() for t in seen)
        left = bool(seen) and max(seen) < quiet
        assert r["active_before_cutoff"] == str(int(before)), r["customer_id"]
        assert r["churned"] == str(int(left)), r["customer_id"]
        assert r["churn_date"] == (max(seen).date().isoformat() if left else "")
    assert churn["churned"] == sum(r["churned"] == "1" for r in customers) > 0
    assert churn["active_before_cutoff"] == sum(r["active_before_cutoff"] == "1" for r in customers)
    by_cutoff = [r for r in _churned_by_cutoff(world).values() if r]
    assert churn["churned_before_cutoff"] == len(by_cutoff) > 0


def _churned_by_cutoff(world: DemoWorld) -> dict[str, bool]:
    """The customers active before the cut-off, and whether they churned before it."""
    return {
        r["customer_id"]: r["churned"] == "1" and r["churn_date"] < CUTOFF.date().isoformat()
        for r in _truth(world, "customers.csv")
        if r["active_before_cutoff"] == "1"
    }


@pytest.fixture(scope="module")
def larger_world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    """2,000 customers: enough churners for shares of signals to mean something."""
    return generate_world(tmp_path_factory.mktemp("larger"), customers=2000, seed=7)


def test_churn_is_preceded_by_its_signals_but_no_signal_gives_it_away(
    larger_world: DemoWorld,
) -> None:
    """In the 8 weeks before the cut-off churners visit less and less, and more of them have
    unresolved contacts and negative posts, than customers who stay — yet a third or more of
    the customers with an unresolved contact stay (a signal, not a flag)."""
    world = larger_world
    active = _churned_by_cutoff(world)

    def weeks_before(text: str) -> float:
        return (CUTOFF - _at(text)).total_seconds() / WEEK

    late, early = Counter[str](), Counter[str]()
    for r in _truth(world, "visits.csv"):
        weeks = weeks_before(r["started_at"])
        if 0 < weeks <= 4:
            late[r["customer_id"]] += 1
        elif 4 < weeks <= 8:
            early[r["customer_id"]] += 1
    unresolved = {
        r["customer_id"]
        for r in _truth(world, "contacts.csv")
        if r["outcome"] != "resolved" and 0 < weeks_before(r["occurred_at"]) <= 8
    }
    negative = {
        r["customer_id"]
        for r in _truth(world, "social_posts.csv")
        if r["sentiment"] == "negative" and 0 < weeks_before(r["occurred_at"]) <= 8
    }

    def share(group: bool, customers: set[str]) -> float:
        members = [c for c, churned in active.items() if churned == group]
        return sum(c in customers for c in members) / len(members)

    def visit_ratio(group: bool) -> float:
        members = [c for c, churned in active.items() if churned == group]
        return sum(late[c] for c in members) / max(1, sum(early[c] for c in members))

    assert visit_ratio(True) < 0.8 * visit_ratio(False)
    assert share(True, unresolved) > 1.5 * share(False, unresolved)
    assert share(True, negative) > 1.5 * share(False, negative)
    signalled = [c for c in unresolved if c in active]
    assert sum(not active[c] for c in signalled) > 0.3 * len(signalled)


def test_milestones_are_what_the_app_sessions_and_purchases_make_them(
    larger_world: DemoWorld,
) -> None:
    """milestones.csv recomputed from the app export (each customer's devices: `Loyalty
    Enrolled`, `App Opened`) and conversions.csv: 3 app sessions and a purchase within 30 days
    of enrolling; missed when the 30 days ended before the world did, else in progress."""
    world = larger_world
    owners = _identifiers(world)
    enrolled: dict[str, datetime] = {}
    opened: dict[str, list[datetime]] = {}
    for r in pq.read_table(_export(world, "app")).to_pylist():
        customer = owners[("device_id", r["device_id"])]
        if r["event_name"] == "Loyalty Enrolled":
            assert customer not in enrolled  # one enrolment each
            enrolled[customer] = r["ts"]
        elif r["event_name"] == "App Opened":
            opened.setdefault(customer, []).append(r["ts"])
    bought: dict[str, list[datetime]] = {}
    for r in _truth(world, "conversions.csv"):
        bought.setdefault(r["customer_id"], []).append(_at(r["occurred_at"]))
    rows = {r["customer_id"]: r for r in _truth(world, "milestones.csv")}
    assert rows.keys() == enrolled.keys()
    for customer, start in enrolled.items():
        row = rows[customer]
        deadline = start.timestamp() + 30 * 86400
        logins = sorted(t for t in opened[customer] if start <= t and t.timestamp() < deadline)
        orders = sorted(t for t in bought.get(customer, []) if start <= t)
        orders = [t for t in orders if t.timestamp() < deadline]
        assert _at(row["enrolled_at"]) == start
        assert (int(row["app_logins"]), int(row["purchases"])) == (len(logins), len(orders))
        if len(logins) >= 3 and orders:
            assert row["status"] == "achieved"
            assert _at(row["achieved_at"]) == max(logins[2], orders[0])
        else:
            assert row["status"] == ("missed" if deadline <= END.timestamp() else "in progress")
            assert row["achieved_at"] == ""
    statuses = Counter(r["status"] for r in rows.values())
    assert set(statuses) == {"achieved", "missed", "in progress"}
    assert _expected(world)["milestones"]["onboarding"] == dict(statuses)


def test_frequent_buyers_order_often_enough_for_every_tier(world: DemoWorld) -> None:
    """customers.csv's most orders in any 7 days, recomputed from conversions.csv; some
    customers reach each of the seed's tiers (2, 4 and more than 4 orders a week)."""
    orders: dict[str, list[float]] = {}
    for r in _truth(world, "conversions.csv"):
        orders.setdefault(r["customer_id"], []).append(_at(r["occurred_at"]).timestamp())
    peaks = Counter[int]()
    for r in _truth(world, "customers.csv"):
        times = sorted(orders.get(r["customer_id"], []))
        peak = max((sum(t <= u < t + WEEK for u in times) for t in times), default=0)
        assert (int(r["orders"]), int(r["max_orders_7d"])) == (len(times), peak)
        peaks[peak] += 1
    assert peaks[2] + peaks[3] > 0 and peaks[4] > 0 and sum(peaks[n] for n in (5, 6, 7)) > 0
    assert _expected(world)["customers_by_max_orders_7d"] == {
        str(k): v for k, v in sorted(peaks.items())
    }


def test_sms_numbers_are_the_customers_phones_in_e164(world: DemoWorld) -> None:
    """The gateway writes numbers in E.164 (checked with libphonenumber): each is a customer's
    phone in the identity truth; notifications go out, replies come in."""
    owners = _identifiers(world)
    rows = _csv(world, "sms")
    for r in rows:
        number = phonenumbers.parse(r["msisdn"], None)
        assert phonenumbers.is_valid_number(number)
        assert (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == (r["msisdn"])
        )
        assert ("phone", r["msisdn"]) in owners
        assert FIRST <= _at(r["date_created"]) < END
    assert {r["direction"] for r in rows} == {"outbound-api", "inbound"}
    assert {r["direction"] for r in rows} <= set(_mapping("sms")["event"]["map"])
    assert _expected(world)["events_by_channel"]["sms"] == len(rows)
