"""HTTP: segments and scores, `/v1/segments/...` and `/v1/scores/...`, as JSON.

The answers name customers, so the routes need the admin token like the customer routes.
Reads run on a read session; what writes (saving a segment, recomputing scores) runs through
the store's one writer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from parcours.segments.health import HealthScores
from parcours.segments.ladder import LadderError, shipped_ladders
from parcours.segments.milestone_definition import (
    MilestoneDefinitionError,
    load_milestone,
    shipped_milestones,
)
from parcours.segments.service import Scores
from parcours.serving.deps import ReaderDep, WriterDep, require_admin

router = APIRouter(tags=["segments and scores"], dependencies=[Depends(require_admin)])


# --- Health (segments/health.py) ----------------------------------------------------------------


@router.get("/v1/scores/health", summary="Health: bands, the kept model, the riskiest customers")
def current_health(
    store: ReaderDep,
    top: Annotated[int, Query(ge=0, le=1000, description="Customers of lowest health.")] = 10,
    customer: Annotated[
        str | None, Query(description="A customer whose daily health history to add.")
    ] = None,
) -> dict[str, Any]:
    """The health scores as they stand (a read: 404 before a first computation)."""
    return Scores(store).current_health(top=top, customer=customer).to_dict()


@router.post("/v1/scores/health", summary="Recompute the health scores (rules and learned)")
async def compute_health(
    writer: WriterDep,
    as_of: str | None = None,
    horizon_days: Annotated[int, Query(ge=1, le=3650)] = 60,
    refit: bool = False,
) -> dict[str, Any]:
    """Score every customer: health_rules (the shipped scorecard) and health (refit)."""
    result: HealthScores = await writer.call(
        lambda s: Scores(s).health(as_of=as_of, horizon_days=horizon_days, refit=refit)
    )
    return result.to_dict()


@router.get("/v1/scores/backtest", summary="Out-of-time back-test: learned vs rules vs recency")
def health_backtest(
    store: ReaderDep,
    train_at: str | None = None,
    test_at: str | None = None,
    horizon_days: Annotated[int, Query(ge=1, le=3650)] = 60,
) -> dict[str, Any]:
    """Fit at train_at, score test_at, compare AUC, average precision, Brier, lift, curves."""
    return (
        Scores(store)
        .health_backtest(train_at=train_at, test_at=test_at, horizon_days=horizon_days)
        .to_dict()
    )


# --- end of health ------------------------------------------------------------------------------
# Tiers, RFM and personas (segments/tiers.py, rfm.py, personas.py): computed on the request's
# read session and answered, not written (the command line and Python write the scores).


def _scores(store: ReaderDep) -> Scores:
    return Scores(store)


ScoresDep = Annotated[Scores, Depends(_scores)]
AsOf = Annotated[
    dt.date | None, Query(description="As of the end of this day (default: the last event's).")
]


@router.get("/v1/scores/tiers", summary="Tiers on a ladder: distribution and monthly moves")
def tier_scores(
    scores: ScoresDep,
    ladder: Annotated[str, Query(description="A shipped ladder: orders or spend.")] = "orders",
    as_of: AsOf = None,
) -> dict[str, Any]:
    if ladder not in shipped_ladders():
        raise LadderError(
            f"No shipped tier ladder {ladder!r}",
            f"over HTTP give one of {', '.join(shipped_ladders())}; "
            "ladders of your own run from Python or the command line",
        )
    return scores.tiers(ladder=ladder, as_of=as_of, write=False).to_dict()


@router.get("/v1/scores/rfm", summary="RFM: the named cells and the R x F grid")
def rfm_scores(
    scores: ScoresDep,
    as_of: AsOf = None,
    bins: Annotated[int, Query(ge=2, le=10)] = 5,
    purchase: str = "Order Completed",
) -> dict[str, Any]:
    return scores.rfm(as_of=as_of, bins=bins, purchase=purchase, write=False).to_dict()


@router.get("/v1/scores/personas", summary="Personas: behaviour clusters, each described")
def persona_scores(
    scores: ScoresDep,
    k_min: Annotated[int, Query(ge=2, le=20)] = 3,
    k_max: Annotated[int, Query(ge=2, le=20)] = 8,
    seed: int = 7,
) -> dict[str, Any]:
    return scores.personas(ks=range(k_min, k_max + 1), seed=seed, write=False).to_dict()


# --- Lifetime value (segments/lifetime_value.py) ------------------------------------------------


@router.get("/v1/scores/clv", summary="Lifetime value: the kept model and the scores")
def lifetime_value(
    store: ReaderDep,
    top: Annotated[int, Query(ge=0, le=1000, description="Customers of highest CLV.")] = 10,
) -> dict[str, Any]:
    """The BG/NBD and Gamma-Gamma model the last `parcours scores clv` fitted, the
    distribution of p_alive, churn_risk, expected_purchases and clv, and the customers of
    highest CLV. A read: it neither fits nor writes (404 before a first computation)."""
    return Scores(store).current_lifetime_value(top=top).to_dict()


# --- end of lifetime value ----------------------------------------------------------------------
# Milestones -----------------------------------------------------------------------------------


@router.get("/v1/scores/milestones", summary="Each customer's status on a success milestone")
def milestones_route(
    store: ReaderDep,
    definition: Annotated[
        str, Query(description="A shipped milestone template's name.")
    ] = "onboarding",
    as_of: Annotated[
        dt.datetime | None, Query(description="Status as of this instant (default: latest event).")
    ] = None,
) -> dict[str, Any]:
    """Computed on a read session, not kept: `parcours scores milestones` keeps the scores."""
    loaded = load_milestone(_shipped(definition))
    return Scores(store).milestones(loaded, as_of=as_of, write=False).to_dict()


def _shipped(name: str) -> str:
    """Over HTTP a definition is a shipped template's name, never a path on the server."""
    if name not in shipped_milestones():
        raise MilestoneDefinitionError(
            f"No shipped milestone template {name!r}",
            f"use one of: {', '.join(shipped_milestones())}",
        )
    return name
