"""How well resolved customers match a known truth: pairwise precision, recall and F1.

Every pair of identifiers put in one customer is a predicted link; every pair belonging to one
true person is a true link (the measure record-linkage papers use on FEBRL, and the demo's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from parcours.engine import Engine


@dataclass(frozen=True)
class PairwiseScores:
    identifiers: int
    true_customers: int
    resolved_customers: int
    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairwise_query(truth: str) -> str:
    """Counts for the scores; `truth` is a relation of (type, value, true_id)."""
    return f"""
        WITH j AS (
            SELECT m.customer_id AS resolved, t.true_id
            FROM identity_map m JOIN ({truth}) t USING (type, value)
        ),
        pairs AS (
            SELECT (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM
                        (SELECT count(*) AS n FROM j GROUP BY resolved, true_id)) AS both_,
                   (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM
                        (SELECT count(*) AS n FROM j GROUP BY resolved)) AS resolved_pairs,
                   (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM
                        (SELECT count(*) AS n FROM j GROUP BY true_id)) AS true_pairs
        )
        SELECT (SELECT count(*) FROM j) AS identifiers,
               (SELECT count(DISTINCT true_id) FROM j) AS true_customers,
               (SELECT count(DISTINCT resolved) FROM j) AS resolved_customers,
               both_, resolved_pairs, true_pairs FROM pairs
    """


def pairwise_scores(engine: Engine, truth: str) -> PairwiseScores:
    row = engine.query(pairwise_query(truth)).to_pylist()[0]
    precision = row["both_"] / row["resolved_pairs"] if row["resolved_pairs"] else 1.0
    recall = row["both_"] / row["true_pairs"] if row["true_pairs"] else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(
        row["identifiers"],
        row["true_customers"],
        row["resolved_customers"],
        round(float(precision), 4),
        round(float(recall), 4),
        round(float(f1), 4),
    )
