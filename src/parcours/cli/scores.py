"""`parcours scores ...`: thin commands over `p.scores`, one per score."""

from typing import Any

import typer

scores_app = typer.Typer(
    help="Who the customers are and what they are worth: tiers, RFM, personas, health, "
    "milestones, churn risk and lifetime value."
)


def standing_rows(scores: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A customer's scores as table rows: the label, the number and, where the model gives
    them, its reasons in words (`details.reasons`)."""
    rows = []
    for name, score in scores.items():
        details = score.get("details")
        reasons = details.get("reasons") if isinstance(details, dict) else None
        rows.append(
            {
                "score": name,
                "label": score.get("label") or "",
                "value": score.get("value"),
                "why": "; ".join(str(r) for r in reasons) if reasons else "",
            }
        )
    return rows
