"""`parcours demo` against the demo world's recorded truth (the generator's truth files)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from demo_world import CUSTOMERS, run_demo
from demo_world import truth_rows as _truth

import parcours


def test_the_demos_verdict_is_the_store_counted_against_the_truth(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    """The report's figures per source and channel are what the store holds (counted here), and
    its verdict is the test's own comparison of those counts with truth/expected.json: the
    report does not grade itself."""
    out, report = demo
    expected = json.loads((out / "truth" / "expected.json").read_text())
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        by_source = _counts(p, "SELECT source AS name, count(*) AS n FROM events GROUP BY ALL")
        by_channel = _counts(p, "SELECT channel AS name, count(*) AS n FROM events GROUP BY ALL")
        rows = p.sql("SELECT source, reason_code, count(*) AS n FROM quarantine GROUP BY ALL")
    quarantined: dict[str, dict[str, int]] = {}
    for row in rows.to_pylist():
        quarantined.setdefault(row["source"], {})[row["reason_code"]] = row["n"]
    assert report["customers"] == CUSTOMERS
    reported = {s["source"]: s for s in report["sources"]}
    assert {name: s["stored_events"] for name, s in reported.items()} == by_source
    assert {name: s["quarantined"] for name, s in reported.items() if s["quarantined"]} == (
        quarantined
    )
    assert {c["channel"]: c["stored"] for c in report["by_channel"]} == by_channel
    agrees = (
        by_source == expected["events_by_source"]
        and by_channel == expected["events_by_channel"]
        and quarantined == {k: v for k, v in expected["planted_bad"].items() if v}
    )
    assert agrees, "the store differs from the truth (see the test of the counts)"
    assert report["matches_truth"] is agrees


def _counts(p: parcours.Parcours, query: str) -> dict[str, int]:
    """A query's (name, n) rows as a dict."""
    return {r["name"]: r["n"] for r in p.sql(query).to_pylist()}


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


def test_every_identifier_of_every_customer_and_every_shared_one_is_in_the_store(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = demo
    truth = {(r["type"], r["value"]) for r in _truth(out, "identifiers.csv")}
    truth |= {(r["type"], r["value"]) for r in _truth(out, "shared.csv")}
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
    # Probabilistic matching is seeded too: the same matches, so the same customers.
    identity, again = report["identity"], repeated["identity"]
    for key in ("customers", "links", "precision", "recall", "attainable_recall"):
        assert again[key] == identity[key], key
    assert again["matching"]["matches_written"] == identity["matching"]["matches_written"]


def _pairs(sizes: Counter[Any]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes.values())


def _scores(truth: list[dict[str, str]], resolved: dict[tuple[str, str], str]) -> dict[str, float]:
    """Pairwise precision and recall of the resolved customers against the truth, counted here
    (not by parcours's scorer): a pair of the truth's identifiers in one resolved customer is a
    predicted link, a pair of one true customer a true link; an identifier missing from the
    store is a customer of its own. `attainable_recall` counts only the true pairs within one
    evidence group."""
    customer = [
        resolved.get((r["type"], r["value"]), f"missing {r['type']}:{r['value']}") for r in truth
    ]
    true = [r["customer_id"] for r in truth]
    group = [(r["customer_id"], r["evidence_group"]) for r in truth]
    right = _pairs(Counter(zip(customer, true, strict=True)))
    right_in_group = _pairs(Counter(zip(customer, group, strict=True)))
    return {
        "precision": right / _pairs(Counter(customer)),
        "recall": right / _pairs(Counter(true)),
        "attainable_recall": right_in_group / _pairs(Counter(group)),
    }


def test_resolved_customers_are_pure_and_complete_against_the_truth(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    """Pairwise precision and recall against the generator's recorded truth, identifiers.csv,
    counted by this test from the store's identity_map; the issue's bar is 0.99 for both.

    Precision is over every identifier of every customer: no two real customers are merged.
    Recall is over the pairs the exports give evidence for: two identifiers of one customer in
    one evidence group (demo/evidence.py — shown together on a record, or on two records that
    both name the customer and give their birth date or street address; named receipts and
    verified callers are linked by probabilistic matching). Pairs across groups have no
    evidence a system could use without guessing (a visitor who never signed in, a receipt
    without a card or a name); recall over all pairs is held against the share of true pairs
    that lie within groups. The demo's report must give the same figures."""
    out, report = demo
    truth = _truth(out, "identifiers.csv")
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        rows = p.sql("SELECT type, value, customer_id FROM identity_map").to_pylist()
    scores = _scores(truth, {(r["type"], r["value"]): r["customer_id"] for r in rows})
    ceiling = _pairs(Counter((r["customer_id"], r["evidence_group"]) for r in truth)) / _pairs(
        Counter(r["customer_id"] for r in truth)
    )
    assert scores["precision"] >= 0.99
    assert scores["attainable_recall"] >= 0.99
    assert scores["recall"] >= 0.99 * ceiling

    identity = report["identity"]
    assert identity["matching"]["matches_written"] > 0
    assert (identity["identifiers"], identity["true_customers"]) == (len(truth), CUSTOMERS)
    for figure, value in scores.items():
        assert identity[figure] == pytest.approx(value, abs=1e-4), figure
    assert identity["recall_ceiling"] == pytest.approx(ceiling, abs=1e-4)


def test_shared_devices_and_blocked_values_never_merge_two_true_customers(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    """truth/shared.csv lists the values the world puts on several customers' records: the
    web kiosk of a store that customers sign in on (a shared device) and the placeholder
    loyalty card cashiers key in (all zeros, a blocked value). No resolved customer holds the
    identifiers (identifiers.csv) of two of the true customers seen with one of them."""
    out, report = demo
    shared: dict[tuple[str, str, str], set[str]] = {}
    for row in _truth(out, "shared.csv"):
        shared.setdefault((row["kind"], row["type"], row["value"]), set()).add(row["customer_id"])
    # Not a vacuous pass: the world has both, each seen with several customers.
    assert {kind for (kind, _, _), seen in shared.items() if len(seen) >= 2} == {
        "shared_device",
        "blocked",
    }
    assert report["identity"]["shared_devices"] >= 1
    owner = {(r["type"], r["value"]): r["customer_id"] for r in _truth(out, "identifiers.csv")}
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        resolved = p.sql("SELECT type, value, customer_id FROM identity_map").to_pylist()
    true_customers: dict[str, set[str]] = {}
    for row in resolved:
        if (row["type"], row["value"]) in owner:
            true_customers.setdefault(row["customer_id"], set()).add(
                owner[(row["type"], row["value"])]
            )
    for (kind, _, value), seen in shared.items():
        for customer, holds in true_customers.items():
            assert len(holds & seen) <= 1, (kind, value, customer, holds & seen)
