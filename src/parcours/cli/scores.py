"""`parcours scores ...`: thin commands over `p.scores`, one per score."""

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from parcours.cli.output import (
    FormatOption,
    OutputFormat,
    StoreOption,
    console,
    percent,
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


# Tiers, RFM and personas (segments/tiers.py, rfm.py, personas.py) ---------------------------


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter(f"{text!r} is not a date: write it YYYY-MM-DD") from error


AsOfOption = Annotated[
    dt.date | None,
    typer.Option(
        "--as-of",
        parser=_date,
        help="Score as of the end of this day, UTC (default: the day of the last event).",
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Compute and show, without writing the scores.")
]


@scores_app.command("tiers")
def tiers_command(
    ladder: Annotated[
        str, typer.Option(help="A shipped ladder (orders, spend) or a YAML ladder file.")
    ] = "orders",
    as_of: AsOfOption = None,
    dry_run: DryRunOption = False,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Each customer's tier on a ladder (upgrade at once, downgrade after the grace period),
    written as the `tier` score with its history; shows the distribution and the moves."""
    from parcours.client import connect

    with connect(store) as p:
        result = p.scores.tiers(ladder=ladder, as_of=as_of, write=not dry_run)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    title = (
        f"Tiers on {result.ladder} as of {result.reviewed_at[:10]}: {result.customers:,} customers"
    )
    print_rows(result.distribution, fmt, title=title)
    if fmt is OutputFormat.table:
        print_rows(result.moves, fmt, title="Moves per month")
        _written(result.written)


@scores_app.command("rfm")
def rfm_command(
    as_of: AsOfOption = None,
    bins: Annotated[int, typer.Option(help="Scores per measure (5: quintiles).")] = 5,
    purchase: Annotated[str, typer.Option(help="The purchase event.")] = "Order Completed",
    dry_run: DryRunOption = False,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Recency, frequency and monetary scores of every buyer, the named cells and the R x F
    grid; written as the `rfm` score."""
    from parcours.client import connect

    with connect(store) as p:
        result = p.scores.rfm(as_of=as_of, bins=bins, purchase=purchase, write=not dry_run)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    cells = [
        {
            "cell": c["name"],
            "customers": c["customers"],
            "share": c["share"],
            "monetary": c["monetary"],
            "meaning": c["meaning"],
        }
        for c in result.cells
    ]
    print_rows(cells, fmt, title=f"RFM as of {result.as_of}: {result.customers:,} buyers")
    if fmt is OutputFormat.table:
        print_rows(_grid(result.grid, result.bins), fmt, title="Customers by R (rows) and F")
        _written(result.written)


def _grid(grid: list[dict[str, Any]], bins: int) -> list[dict[str, Any]]:
    rows = []
    for r in range(bins, 0, -1):
        row: dict[str, Any] = {"R": r}
        row.update({f"F{g['f']}": g["customers"] for g in grid if g["r"] == r})
        rows.append(row)
    return rows


@scores_app.command("personas")
def personas_command(
    k_min: Annotated[int, typer.Option(help="The fewest personas to try.")] = 3,
    k_max: Annotated[int, typer.Option(help="The most personas to try.")] = 8,
    seed: Annotated[int, typer.Option(help="Same seed, same personas.")] = 7,
    dry_run: DryRunOption = False,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Customers clustered on behaviour (k-means, k by silhouette), each persona described;
    written as the `persona` score, the model saved for customers scored later."""
    from parcours.client import connect

    with connect(store) as p:
        result = p.scores.personas(ks=range(k_min, k_max + 1), seed=seed, write=not dry_run)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    rows = [
        {
            "persona": f"{c.number}. {c.name}",
            "share": c.share,
            "mean_spend": c.mean_spend,
            "conversion": c.conversion,
            "channels": ", ".join(
                f"{ch['channel']} {percent(ch['share'])}" for ch in c.preferred_channels
            ),
            "distinctive": c.description,
        }
        for c in result.personas
    ]
    chosen = result.silhouettes.get(str(result.k))
    title = f"{result.k} personas of {result.customers:,} customers (silhouette {chosen})"
    print_rows(rows, fmt, title=title)
    if fmt is OutputFormat.table:
        _written(result.written)


def _written(written: dict[str, Any] | None) -> None:
    if written is None:
        console.print("Not written (--dry-run).")
    else:
        console.print(
            f"Written: {written['scored']:,} customers scored, {written['changed']:,} changed.",
            highlight=False,
        )
