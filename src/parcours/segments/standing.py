"""A customer's standing: every current score (tier, health with its reasons, lifetime value,
churn risk, persona, milestones...) and the segments the customer is in — what the customer
view, the console and the automations read about one customer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from parcours.segments.scored import scores_of
from parcours.store.store import Store


@dataclass(frozen=True)
class Standing:
    customer_id: str
    scores: dict[str, dict[str, Any]]
    """{score: {value, label, details, version, computed_at}}, as the last recompute wrote."""
    segments: list[dict[str, Any]]
    """[{segment, version, entered_at}], the segments the customer is in now."""

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, dt.datetime) else value

        return {
            "customer_id": self.customer_id,
            "scores": {
                name: {key: plain(v) for key, v in score.items()}
                for name, score in self.scores.items()
            },
            "segments": [{k: plain(v) for k, v in row.items()} for row in self.segments],
        }


def standing(store: Store, customer_id: str) -> Standing:
    """The customer's current scores and segments (empty when nothing was computed yet)."""
    engine = store.engine
    segments = engine.query(
        "SELECT segment, version, entered_at FROM segment_members WHERE customer_id = ? "
        "ORDER BY segment",
        [customer_id],
    ).to_pylist()
    return Standing(customer_id, scores_of(engine, customer_id), segments)
