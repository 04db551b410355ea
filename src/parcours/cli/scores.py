"""`parcours scores ...`: thin commands over `p.scores`, one per score."""

from pathlib import Path
from typing import Annotated, Any

import typer

from parcours.cli.output import (
    FormatOption,
    OutputFormat,
    StoreOption,
    print_json,
    print_record,
    print_rows,
)

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


# Health (segments/health.py): `parcours scores health` and `parcours scores backtest`.


@scores_app.command("health")
def health_command(
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this date (YYYY-MM-DD); default: now.")
    ] = None,
    customers: Annotated[
        str | None,
        typer.Option(help="Only these customers: SQL selecting customer_id (incremental)."),
    ] = None,
    horizon: Annotated[int, typer.Option(help="Churn: no activity in this many days.")] = 60,
    rules: Annotated[
        Path | None, typer.Option(help="A health scorecard (YAML); default: the shipped one.")
    ] = None,
    refit: Annotated[
        bool, typer.Option(help="Refit the learned model even when scoring some.")
    ] = False,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Health scores: the rules scorecard (health_rules) and the learned model (health)."""
    from parcours.client import connect

    with connect(store) as p:
        result = p.scores.health(
            as_of=as_of, customers=customers, horizon_days=horizon, rules=rules, refit=refit
        )
    record = result.to_dict()
    if fmt is OutputFormat.json:
        print_json(record)
        return
    record["bands"] = ", ".join(f"{k} {v:,}" for k, v in result.bands.items())
    print_record(record, fmt, title="Health scores")


@scores_app.command("backtest")
def backtest_command(
    train_at: Annotated[str | None, typer.Option(help="Fit on this date (YYYY-MM-DD).")] = None,
    test_at: Annotated[
        str | None, typer.Option(help="Score this later date (≥ train + horizon).")
    ] = None,
    horizon: Annotated[int, typer.Option(help="Churn: no activity in this many days.")] = 60,
    rules: Annotated[
        Path | None, typer.Option(help="A health scorecard (YAML); default: the shipped one.")
    ] = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Out-of-time back-test of the health scores: learned vs rules vs recency alone."""
    from parcours.client import connect

    with connect(store, read_only=True) as p:
        result = p.scores.health_backtest(
            train_at=train_at, test_at=test_at, horizon_days=horizon, rules=rules
        )
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    rows = [
        {
            "score": name,
            "auc": metrics.auc,
            "average_precision": metrics.average_precision,
            "brier": metrics.brier,
            "lift_in_top_decile": metrics.top_decile_lift,
        }
        for name, metrics in (
            ("learned", result.learned),
            ("rules", result.rules),
            ("recency", result.recency),
        )
    ]
    print_rows(rows, fmt, title=result.headline)
