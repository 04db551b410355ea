"""Probabilistic matching on a small hand-made store: records that share no key.

Each test imports forty distinct people (a CRM export: what the model learns "different
people" from) and the few records it is about; the expected outcome is written from those
records, and the test says why. FEBRL, scored against its truth, is tests/e2e/test_febrl.py;
generated people with typos of every kind (tests/person_records.py), scored against the
generator's truth, are the last test here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from person_records import MAPPING as PEOPLE_MAPPING
from person_records import RECORDS_PER_PERSON, TRUTH, person_records, write_records

import parcours
from parcours.identity.accuracy import pairwise_scores
from parcours.identity.customers import customer_of
from parcours.identity.probabilistic import match_people
from parcours.identity.resolve import resolve_full
from parcours.identity.rules import identity_rules

MAPPING = """
name: people
type: {value: identify}
channel: {field: channel}
occurred_at: {field: at}
user_id: user
identifiers:
  crm_id: crm
  loyalty_id: card
properties: [first_name, last_name, birth_date, postcode, city, street]
"""
HEADER = "at,channel,user,crm,card,first_name,last_name,birth_date,postcode,city,street"

FIRST = ["Camille", "Louis", "Emma", "Jules", "Chloé", "Hugo", "Léa", "Arthur", "Manon", "Inès"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy"]
TOWNS = [("69003", "Lyon"), ("13001", "Marseille"), ("31000", "Toulouse"), ("33000", "Bordeaux")]
STREETS = ["rue de la Paix", "avenue Jean Jaurès", "boulevard Gambetta", "rue du Moulin"]

JEANNE_CRM = (
    "2026-02-01 10:00:00,other,,C9001,,Jeanne,Fontaine,1984-03-12,75011,Paris,12 rue Oberkampf"
)
# The same woman at a till: her loyalty card only, and everything typed otherwise.
JEANNE_TILL = (
    '2026-03-01 10:00:00,store,,,L777,jeanne,FONTAINE,12/03/1984,75011,PARIS,"12, rue Oberkampf"'
)
# Her husband: same surname, same address, another first name and birth date.
MARC_CRM = "2026-02-01 10:00:00,other,,C9002,,Marc,Fontaine,1981-07-30,75011,Paris,12 rue Oberkampf"


def _background() -> list[str]:
    """Forty distinct people, each with a CRM id, no two alike on name, birth date and town."""
    rows = []
    for i in range(40):
        postcode, city = TOWNS[i % len(TOWNS)]
        rows.append(
            f"2026-01-01 10:00:00,other,,C{i:04d},,{FIRST[i % len(FIRST)]},"
            f"{LAST[(i * 7) % len(LAST)]},{1950 + i}-{1 + i % 12:02d}-{1 + i % 28:02d},"
            f"{postcode},{city},{1 + i} {STREETS[(i // 4) % len(STREETS)]}"
        )
    return rows


def _store(p: parcours.Parcours, tmp_path: Path, rows: list[str]) -> None:
    (tmp_path / "m.yaml").write_text(MAPPING)
    data = tmp_path / "people.csv"
    data.write_text(HEADER + "\n" + "\n".join(_background() + rows) + "\n")
    p.import_file(data, source="s", mapping=tmp_path / "m.yaml")


def _match(
    p: parcours.Parcours, left: tuple[str, str], right: tuple[str, str]
) -> dict[str, Any] | None:
    rows = p.store.engine.query(
        "SELECT * FROM identity_matches WHERE left_type = ? AND left_value = ? "
        "AND right_type = ? AND right_value = ?",
        [*left, *right],
    ).to_pylist()
    return rows[0] if rows else None


def test_two_records_of_one_person_with_no_shared_key_become_one_customer(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    _store(p, tmp_path, [JEANNE_CRM, JEANNE_TILL])
    run = match_people(p.store)
    assert run.records == 42 and run.matches_written >= 1
    # The CRM id is the more trusted identifier: it is the left of the pair.
    match = _match(p, ("crm_id", "C9001"), ("loyalty_id", "L777"))
    assert match is not None and match["probability"] >= identity_rules(p.settings).match_threshold
    evidence = json.loads(match["evidence"])
    names = "(Exact match on first_name) AND (Exact match on last_name)"
    assert evidence["first_name_last_name"]["level"] == names
    assert evidence["birth_date"]["level"] == "Exact match on date of birth"
    assert {r["source"] for r in evidence["records"]} == {"s"}

    resolve_full(p.store)
    assert customer_of(p.store, "crm_id", "C9001") == customer_of(p.store, "loyalty_id", "L777")
    decision = p.sql(
        "SELECT decision, match_weight FROM identity_links WHERE right_value = 'L777'"
    ).to_pylist()
    assert decision == [{"decision": "matched", "match_weight": match["match_weight"]}]


def test_a_match_run_is_applied_by_the_next_resolve_of_new_events(tmp_path: Path) -> None:
    """Live events are resolved for what they touch (`resolve_new`); a match found since the
    last resolve joins customers they may not touch, and must be applied all the same."""
    from parcours.identity.resolve import resolve_new

    with parcours.connect(tmp_path / "s.duckdb", identity={"resolve_on_arrival": False}) as p:
        _store(p, tmp_path, [JEANNE_CRM, JEANNE_TILL])
        resolve_full(p.store)
        jeanne = (("crm_id", "C9001"), ("loyalty_id", "L777"))
        assert customer_of(p.store, *jeanne[0]) != customer_of(p.store, *jeanne[1])
        match_people(p.store)
        # Then a visit of somebody else, resolved on its own.
        visit = tmp_path / "visit.csv"
        visit.write_text(HEADER + "\n2026-04-01 10:00:00,web,u1,C0001,,,,,,,\n")
        summary = p.import_file(visit, source="s", mapping=tmp_path / "m.yaml")
        resolve_new(p.store, "import_id = ?", [summary.import_id])
        assert customer_of(p.store, *jeanne[0]) == customer_of(p.store, *jeanne[1])


def test_two_people_at_one_address_are_not_matched(p: parcours.Parcours, tmp_path: Path) -> None:
    # Jeanne and Marc share a surname and an address; first name and birth date differ.
    _store(p, tmp_path, [JEANNE_CRM, MARC_CRM])
    match_people(p.store)
    match = _match(p, ("crm_id", "C9001"), ("crm_id", "C9002"))
    assert match is None or match["probability"] < identity_rules(p.settings).match_threshold
    resolve_full(p.store)
    assert customer_of(p.store, "crm_id", "C9001") != customer_of(p.store, "crm_id", "C9002")


def test_a_deterministic_limit_refuses_a_probabilistic_merge(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    # One description under two user ids (twin accounts, or a shared CRM row): the records
    # match, but one user id per customer refuses the merge.
    _store(
        p,
        tmp_path,
        [
            "2026-02-01 10:00:00,other,u1,,,Bertrand,Girard,1972-11-05,69003,Lyon,4 rue Garibaldi",
            "2026-02-02 10:00:00,app,u2,,,Bertrand,Girard,1972-11-05,69003,Lyon,4 rue Garibaldi",
        ],
    )
    match_people(p.store)
    match = _match(p, ("user_id", "u1"), ("user_id", "u2"))
    assert match is not None and match["probability"] >= identity_rules(p.settings).match_threshold

    result = resolve_full(p.store)
    assert result.refused == {"limit:user_id": 1}
    assert customer_of(p.store, "user_id", "u1") != customer_of(p.store, "user_id", "u2")


def test_no_person_records_is_no_match_and_no_error(p: parcours.Parcours, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "name: t\nevent: {value: Seen}\nchannel: {value: web}\noccurred_at: at\n"
        "anonymous_id: cookie\nproperties: [page]\n"
    )
    (tmp_path / "e.csv").write_text("at,cookie,page\n2026-01-01 10:00:00,ck1,/home\n")
    p.import_file(tmp_path / "e.csv", source="web", mapping=tmp_path / "m.yaml")
    p.store.engine.execute(
        "INSERT INTO identity_matches VALUES ('crm_id', 'A', 'crm_id', 'B', 9, 0.999, NULL, 'old')"
    )
    run = match_people(p.store)
    assert (run.records, run.candidate_pairs, run.matches_written) == (0, 0, 0)
    # A run replaces what the previous one found.
    assert p.sql("SELECT count(*) AS n FROM identity_matches").to_pylist() == [{"n": 0}]


def test_a_run_is_repeatable_and_leaves_no_work_table(p: parcours.Parcours, tmp_path: Path) -> None:
    _store(p, tmp_path, [JEANNE_CRM, JEANNE_TILL, MARC_CRM])
    query = "SELECT * EXCLUDE (run_id) FROM identity_matches ORDER BY ALL"
    match_people(p.store)
    first = p.sql(query).to_pylist()
    match_people(p.store)
    assert p.sql(query).to_pylist() == first
    # Splink ran on the store's own session; its tables were temporary and are gone.
    left = p.sql(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%splink%' "
        "OR table_name LIKE '_person%'"
    ).to_pylist()
    assert left == []


def test_records_with_only_names_are_refused_with_what_to_add(tmp_path: Path) -> None:
    # First and last names are one comparison: nothing tells two namesakes apart. Splink
    # itself fails on it with invalid SQL; the command says what is missing and exits 2.
    (tmp_path / "m.yaml").write_text(
        "name: t\ntype: {value: identify}\nchannel: {value: other}\noccurred_at: at\n"
        "identifiers:\n  crm_id: crm\nproperties: [first_name, last_name]\n"
    )
    (tmp_path / "e.csv").write_text(
        "at,crm,first_name,last_name\n2026-01-01 10:00:00,C1,Jeanne,Fontaine\n"
        "2026-01-01 10:00:00,C2,jeanne,FONTAINE\n2026-01-01 10:00:00,C3,Marc,Durand\n"
    )
    store = tmp_path / "names.duckdb"
    with parcours.connect(store) as p:
        p.import_file(tmp_path / "e.csv", source="s", mapping=tmp_path / "m.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "parcours", "identity", "match", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    message = " ".join(done.stdout.split() + done.stderr.split())
    assert done.returncode == 2, message
    assert "share only first_name and last_name" in message  # the fields present
    assert "birth_date, postcode, city, street, street_number" in message  # the fields needed
    assert "identity.person_fields" in message  # the fix
    assert "bug in parcours" not in message


GOAL = 0.99
"""Precision and recall of the customers, pairwise (the issue's goal on data of this kind)."""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("persons", "seed", "measured"),
    [
        # Measured when written (precision, recall); the model before birth dates that do
        # not parse counted, swapped names with typos, house-number blocks and the floor
        # under m: (1.0, 0.7210) on the few people, where training failed, and (0.9988,
        # 0.9841) on the thousand.
        (200, 21, (1.0, 0.9919)),
        (1000, 12, (1.0, 0.9974)),
    ],
)
def test_people_with_one_to_nine_records_and_typos_of_every_kind_are_found(
    tmp_path: Path, persons: int, seed: int, measured: tuple[float, float]
) -> None:
    # People written 1 to 9 times each, with up to four mistakes a record of every kind (see
    # tests/person_records.py); data no other test uses, a few people (little to train on)
    # and a thousand. The truth is the generator's person id, which each record's id carries
    # and which matching never sees.
    records = person_records(persons, seed=seed)
    per_person = Counter(r.rec_id.split("-")[0] for r in records)
    assert set(per_person.values()) == set(RECORDS_PER_PERSON)  # 1 to 9, each occurs
    (tmp_path / "people.yaml").write_text(PEOPLE_MAPPING)
    # Up to nine record ids in one customer: past the default limit of five of a type.
    with parcours.connect(tmp_path / "people.duckdb", identity={"limits": {"record_id": 9}}) as p:
        summary = p.import_file(
            write_records(records, tmp_path / "people.csv"),
            source="forms",
            mapping=tmp_path / "people.yaml",
        )
        assert summary.accepted == len(records) and not summary.quarantined
        match_people(p.store)
        resolve_full(p.store)
        scores = pairwise_scores(p.store.engine, TRUTH)
    assert scores.true_customers == persons
    assert scores.precision >= GOAL and scores.recall >= GOAL, (scores, measured)
