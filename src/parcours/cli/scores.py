"""`parcours scores ...`: thin commands over `p.scores`, one per score."""

from datetime import datetime
from typing import Annotated

import typer

from parcours.cli.output import FormatOption, OutputFormat, StoreOption, print_json, print_rows

scores_app = typer.Typer(
    help="Who the customers are and what they are worth: tiers, RFM, personas, health, "
    "milestones, churn risk and lifetime value."
)


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
