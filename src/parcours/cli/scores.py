"""`parcours scores ...`: thin commands over `p.scores`, one per score."""

import typer

scores_app = typer.Typer(
    help="Who the customers are and what they are worth: tiers, RFM, personas, health, "
    "milestones, churn risk and lifetime value."
)
