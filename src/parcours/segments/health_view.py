"""The health scores as they stand: bands, the kept model, the riskiest customers with their
reasons, and one customer's daily history (a read of `customer_scores`, `customer_score_changes`
and `score_models`: nothing fitted or written)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from parcours.errors import NotFoundError
from parcours.segments.scored import latest_model
from parcours.store.store import Store


@dataclass(frozen=True)
class HealthView:
    """The health scores as they stand: bands, the model, the riskiest customers, and (for one
    customer) the daily history of both scores."""

    customers: int
    bands: dict[str, int]
    """Customers per band of the rules score."""
    learned_bands: dict[str, int]
    model: dict[str, Any] | None
    """The kept model's version, fit date and training outcome (no parameters)."""
    riskiest: list[dict[str, Any]]
    """Lowest learned health first: customer, health, rules score, reasons."""
    history: list[dict[str, Any]]
    """For `customer`: per day and score, the day's last value and label, and the change."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def current_health(store: Store, *, top: int = 10, customer: str | None = None) -> HealthView:
    """The health scores now in the store (a read: nothing fitted or written). With `customer`,
    that customer's daily history of `health` and `health_rules` (from the score changes)."""
    engine = store.engine
    counts = engine.query(
        "SELECT score, label, count(*) AS n FROM customer_scores "
        "WHERE score IN ('health', 'health_rules') GROUP BY ALL"
    ).to_pylist()
    if not counts:
        raise NotFoundError(
            "No health scores yet", "compute them: parcours scores health (POST /v1/scores/health)"
        )
    bands = {r["label"]: r["n"] for r in counts if r["score"] == "health_rules"}
    learned = {r["label"]: r["n"] for r in counts if r["score"] == "health"}
    kept = latest_model(engine, "health")
    riskiest = engine.query(
        "SELECT h.customer_id, h.value AS health, r.value AS rules, "
        "h.details->>'$.reasons' AS reasons FROM customer_scores h "
        "LEFT JOIN customer_scores r ON r.customer_id = h.customer_id "
        "AND r.score = 'health_rules' WHERE h.score = 'health' "
        "ORDER BY h.value, h.customer_id LIMIT ?",
        [top],
    ).to_pylist()
    for row in riskiest:
        row["reasons"] = [r["reason"] for r in orjson.loads(row["reasons"] or "[]")]
    history = []
    if customer is not None:
        history = engine.query(
            "SELECT score, CAST(computed_at AS DATE) AS day, "
            "arg_max(value, computed_at) AS value, arg_max(label, computed_at) AS label, "
            "arg_min(previous_value, computed_at) AS previous_value "
            "FROM customer_score_changes WHERE customer_id = ? "
            "AND score IN ('health', 'health_rules') GROUP BY ALL ORDER BY day, score",
            [customer],
        ).to_pylist()
        for row in history:
            row["day"] = row["day"].isoformat()
    return HealthView(
        customers=sum(bands.values()),
        bands=bands,
        learned_bands=learned,
        model=None
        if kept is None
        else {
            "version": kept["version"],
            "fitted_at": str(kept["fitted_at"]),
            **(kept["evaluation"] or {}),
        },
        riskiest=riskiest,
        history=history,
    )
