"""`parcours scores ...`: thin commands over `p.scores`, one per score."""

import datetime as dt
from typing import Annotated, Any

import typer

from parcours.cli.output import FormatOption, OutputFormat, StoreOption, print_json, print_rows

scores_app = typer.Typer(
    help="Who the customers are and what they are worth: tiers, RFM, personas, health, "
    "milestones, churn risk and lifetime value."
)


# --- Lifetime value (segments/lifetime_value.py) ------------------------------------------------


@scores_app.command("clv")
def clv_command(
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Read purchases up to this day, included (default: the data's last day).",
        ),
    ] = None,
    horizon_days: Annotated[
        float, typer.Option(help="Days ahead that the expected purchases and CLV cover.")
    ] = 365,
    discount_rate: Annotated[
        float, typer.Option(help="Yearly discount rate of future purchases (0.1 = 10 %).")
    ] = 0.10,
    purchase_event: Annotated[
        str, typer.Option(help="The event that is a purchase (its amount is the spend).")
    ] = "Order Completed",
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
            as_of=as_of.date() if as_of else None,
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
    ]


# --- end of lifetime value ----------------------------------------------------------------------
