"""`parcours demo` against the demo world's recorded truth (the generator's truth files)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import parcours

CUSTOMERS = 400


def run_demo(out: Path) -> dict[str, Any]:
    """`parcours demo` as a user runs it; its JSON report."""
    command = ["demo", "--customers", str(CUSTOMERS), "--out", str(out), "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-m", "parcours", *command], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    out = tmp_path_factory.mktemp("demo")
    yield out, run_demo(out)


def _truth(out: Path, name: str) -> list[dict[str, str]]:
    with (out / "truth" / name).open() as handle:
        return list(csv.DictReader(handle))


def test_demo_reports_a_store_that_matches_the_truth(demo: tuple[Path, dict[str, Any]]) -> None:
    _, report = demo
    assert report["matches_truth"] is True
    assert report["customers"] == CUSTOMERS


def test_counts_per_channel_and_source_equal_the_truth(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = demo
    expected = json.loads((out / "truth" / "expected.json").read_text())
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        rows = p.sql("SELECT channel, count(*) AS n FROM events GROUP BY ALL").to_pylist()
        by_channel = {r["channel"]: r["n"] for r in rows}
        rows = p.sql("SELECT source, count(*) AS n FROM events GROUP BY ALL").to_pylist()
        by_source = {r["source"]: r["n"] for r in rows}
        quarantined = p.sql(
            "SELECT source, reason_code, count(*) AS n FROM quarantine GROUP BY ALL"
        ).to_pylist()
    assert by_channel == expected["events_by_channel"]
    assert by_source == expected["events_by_source"]
    assert {(q["source"], q["reason_code"]): q["n"] for q in quarantined} == {
        (source, code): n
        for source, codes in expected["planted_bad"].items()
        for code, n in codes.items()
    }


def test_every_identifier_of_every_customer_is_in_the_store(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = demo
    truth = {(r["type"], r["value"]) for r in _truth(out, "identifiers.csv")}
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        stored = p.sql(
            "SELECT DISTINCT type, value FROM ("
            "SELECT 'anonymous_id' AS type, anonymous_id AS value FROM events "
            "UNION ALL SELECT 'user_id', user_id FROM events "
            "UNION ALL SELECT i.type, i.value FROM (SELECT unnest(identifiers) AS i FROM events)"
            ") WHERE value IS NOT NULL"
        ).to_pylist()
    assert {(r["type"], r["value"]) for r in stored} == truth


def test_identifiers_per_customer_match_their_events(demo: tuple[Path, dict[str, Any]]) -> None:
    """Each customer's truth identifiers appear together on that customer's contacts: a call's
    phone belongs to the customer the truth says made the call."""
    out, _ = demo
    phones: dict[str, set[str]] = {}
    for row in _truth(out, "identifiers.csv"):
        if row["type"] == "phone":
            phones.setdefault(row["customer_id"], set()).add(row["value"])
    calls = [c for c in _truth(out, "contacts.csv") if c["channel"] == "call"]
    assert calls
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        stored = {
            r["event_id"]: r["phone"]
            for r in p.sql(
                "SELECT event_id, list_filter(identifiers, lambda i: i.type = 'phone')[1].value "
                "AS phone FROM events WHERE source = 'call_centre'"
            ).to_pylist()
        }
    for call in calls:
        assert stored[call["event_id"]] in phones[call["customer_id"]]


def test_contacts_and_conversions_are_stored_as_the_truth_says(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = demo
    contacts = [c for c in _truth(out, "contacts.csv") if c["source"] != "social"]
    conversions = _truth(out, "conversions.csv")
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        events = {
            (r["source"], r["event_id"]): r
            for r in p.sql(
                "SELECT source, event_id, channel, intent, outcome, amount FROM events "
                "WHERE intent IS NOT NULL OR amount IS NOT NULL"
            ).to_pylist()
        }
    for contact in contacts:
        stored = events[(contact["source"], contact["event_id"])]
        assert (stored["channel"], stored["intent"], stored["outcome"]) == (
            contact["channel"],
            contact["intent"],
            contact["outcome"],
        )
    for conversion in conversions:
        stored = events[(conversion["source"], conversion["event_id"])]
        assert float(stored["amount"]) == pytest.approx(float(conversion["amount"]))


def test_running_the_demo_again_gives_the_same_store(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, report = demo
    repeated = run_demo(tmp_path)
    assert (repeated["events"], repeated["by_channel"], repeated["identifiers"]) == (
        report["events"],
        report["by_channel"],
        report["identifiers"],
    )


def test_resolved_customers_are_pure_against_the_truth(demo: tuple[Path, dict[str, Any]]) -> None:
    """Pairwise precision against the generator's identifiers.csv: no two real customers are
    ever merged (the issue's bar is 0.99). Recall is reported by the demo: receipts without a
    loyalty card and callers the CRM does not know stay apart until probabilistic matching."""
    _, report = demo
    identity = report["identity"]
    assert identity["precision"] >= 0.99
    assert identity["true_customers"] == CUSTOMERS
    assert identity["resolved_customers"] >= CUSTOMERS
