"""`parcours scores ...`: thin commands over `p.scores`, one per score."""

import datetime as dt
from datetime import datetime
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
    steps_bar,
)

PURCHASE = "Order Completed"
"""The purchase event by default, as the scores take it (journeys.contacts.PURCHASE: not
imported here, so that `parcours --help` loads no engine)."""

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
                "why": "; ".join(_reason(r) for r in reasons) if reasons else "",
            }
        )
    return rows


def _reason(reason: Any) -> str:
    """A reason in words: as given, or its `reason` when the model gives it with its figures."""
    return str(reason.get("reason", reason)) if isinstance(reason, dict) else str(reason)


# Health (segments/health.py): `parcours scores health` and `parcours scores backtest`.


@scores_app.command("health")
def health_command(
    as_of: Annotated[
        str | None,
        typer.Option(help="Score as of this date (YYYY-MM-DD); default: the last activity."),
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
    purchase: Annotated[str, typer.Option(help="The purchase event.")] = PURCHASE,
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


# --- Lifetime value (segments/lifetime_value.py) ------------------------------------------------


@scores_app.command("clv")
def clv_command(
    as_of: AsOfOption = None,
    horizon_days: Annotated[
        float, typer.Option(help="Days ahead that the expected purchases and CLV cover.")
    ] = 365,
    discount_rate: Annotated[
        float, typer.Option(help="Yearly discount rate of future purchases (0.1 = 10 %).")
    ] = 0.10,
    purchase_event: Annotated[
        str, typer.Option(help="The event that is a purchase (its amount is the spend).")
    ] = PURCHASE,
    customers: Annotated[
        str | None,
        typer.Option(
            "--customers",
            help="Only these customers (SQL selecting customer_id), scored with the kept model.",
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="How many customers of highest CLV to show.")] = 10,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Lifetime value: fit BG/NBD and Gamma-Gamma on the purchases, write p_alive, churn_risk,
    expected_purchases and clv for every buyer."""
    from parcours.client import connect

    with connect(store) as p:
        result = p.scores.lifetime_value(
            as_of=as_of,
            horizon_days=horizon_days,
            discount_rate_yearly=discount_rate,
            purchase_event=purchase_event,
            customers=customers,
            top=top,
        )
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    if fmt is OutputFormat.csv:  # one table for programs: the customers of highest value
        print_rows(result.top, fmt)
        return
    model = result.model
    fitted = "fitted" if model["refitted"] else f"kept from {model['fitted_on']}"
    print_rows(
        _fit_rows(model),
        fmt,
        title=f"Lifetime value as of {result.as_of}: {result.scored:,} customers scored "
        f"with the model {fitted} (times in {model['unit']})",
    )
    print_rows(
        [{"score": name, **figures} for name, figures in result.distribution.items()],
        fmt,
        title=f"Scores over {result.customers:,} customers ({result.horizon_days:g} days ahead, "
        f"discounted at {result.discount_rate_yearly:.1%} a year)",
    )
    print_rows(result.top, fmt, title=f"Top {len(result.top)} customers by CLV")


def _fit_rows(model: dict[str, Any]) -> list[dict[str, Any]]:
    names = {
        "bg_nbd": ("BG/NBD", ("r", "alpha", "a", "b")),
        "gamma_gamma": ("Gamma-Gamma", ("p", "q", "v")),
    }
    return [
        {
            "model": label,
            **{"parameters": ", ".join(f"{k} {model[key][k]:.4g}" for k in keys)},
            "log_likelihood": model[key]["log_likelihood"],
            "customers": model[key]["customers"],
        }
        for key, (label, keys) in names.items()
    ] + (
        [
            {
                "model": "spend: customers' own (Gamma-Gamma refused)",
                "parameters": f"mean {model['empirical_spend']['mean']:.4g}; "
                + model["empirical_spend"]["because"],
            }
        ]
        if "empirical_spend" in model
        else []
    )


# --- end of lifetime value ----------------------------------------------------------------------


# Milestones -----------------------------------------------------------------------------------


@scores_app.command("milestones")
def milestones_command(
    definition: Annotated[
        str,
        typer.Argument(help="A milestone YAML file, or a shipped template's name."),
    ] = "onboarding",
    as_of: Annotated[
        datetime | None,
        typer.Option(help="Status as of this instant, UTC (default: the latest event stored)."),
    ] = None,
    customers: Annotated[
        bool, typer.Option("--customers", help="List every customer's status.")
    ] = False,
    show_template: Annotated[
        bool, typer.Option("--show-template", help="Print the definition and stop.")
    ] = False,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Each customer's status on a success milestone (achieved, on track, at risk, missed),
    kept as the score `milestone:<name>`, and the funnel of each start month. Default: the
    shipped onboarding template (3 app sessions and a purchase within 30 days of enrolling)."""
    from parcours.client import connect
    from parcours.segments.milestone_definition import load_milestone

    loaded = load_milestone(definition)
    if show_template:
        print_json(loaded.model_dump())
        return
    with connect(store) as p:
        result = p.scores.milestones(loaded, as_of=as_of)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    if customers:
        print_rows(
            [
                {
                    "customer": c["customer_id"],
                    "started": c["started_at"],
                    "status": c["status"],
                    "progress": c["progress"],
                    **c["counts"],
                    "achieved": c["achieved_at"] or "",
                    "projected": c["projected_at"] or "",
                }
                for c in result.customers
            ],
            fmt,
            title=f"Milestone {result.milestone} as of {result.as_of:%Y-%m-%d %H:%M} UTC",
        )
        return
    print_rows(
        [
            {
                "cohort": c["cohort"],
                "started": c["started"],
                **{f"met {name}": n for name, n in c["met"].items()},
                **{status: c[status] for status in ("achieved", "on_track", "at_risk", "missed")},
            }
            for c in result.cohorts
        ],
        fmt,
        title=f"Milestone {result.milestone} by start month, as of {result.as_of:%Y-%m-%d %H:%M} "
        "UTC",
    )


# The whole station (segments/recompute.py) ----------------------------------------------------


@scores_app.command("recompute")
def recompute_command(
    ladder: Annotated[str, typer.Option(help="The tier ladder: orders, spend or a file.")] = (
        "orders"
    ),
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Every score for every customer (refitting the models), then every saved segment."""
    from parcours.client import connect
    from parcours.segments.recompute import STEPS

    with connect(store) as p, steps_bar("Recomputing scores and segments", STEPS) as starting:
        run = p.scores.recompute(progress=starting, ladder=ladder)
    if fmt is OutputFormat.json:
        print_json(run.to_dict())
        return
    rows = [
        {"step": step, "seconds": seconds, "skipped because": run.skipped.get(step, "")}
        for step, seconds in run.seconds.items()
    ]
    print_rows(rows, fmt, title=f"Recomputed in {run.total_seconds:.1f}s")
