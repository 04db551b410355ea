"""HTTP: segments and scores, `/v1/segments/...` and `/v1/scores/...`, as JSON.

The answers name customers, so the routes need the admin token like the customer routes.
Reads run on a read session; what writes (saving a segment, recomputing scores) runs through
the store's one writer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from parcours.errors import BadRequest
from parcours.journeys.contacts import PURCHASE
from parcours.segments.health import HealthScores
from parcours.segments.ladder import LadderError, shipped_ladders
from parcours.segments.milestone_definition import (
    MilestoneDefinitionError,
    load_milestone,
    shipped_milestones,
)
from parcours.segments.service import Scores, Segments
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
    purchase: str = PURCHASE,
) -> dict[str, Any]:
    return scores.rfm(as_of=as_of, bins=bins, purchase=purchase, write=False).to_dict()


@router.get("/v1/scores/personas", summary="Personas: behaviour clusters, each described")
def persona_scores(
    scores: ScoresDep,
    k_min: Annotated[int, Query(ge=2, le=20)] = 3,
    k_max: Annotated[int, Query(ge=2, le=20)] = 8,
    seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 7,
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


# --- segments: /v1/segments/... (docs/segments.md) -------------------------------------------
# A definition is sent as JSON, the same structure as the YAML file: over HTTP a segment is
# data, checked against the store and quoted by the builders, never SQL.


def _segments(store: ReaderDep) -> Segments:
    return Segments(store)


SegmentsDep = Annotated[Segments, Depends(_segments)]
DefinitionBody = Annotated[
    dict[str, Any], Body(description="A segment definition: name, description, where.")
]


@router.put("/v1/segments/{name}", summary="Save a segment (a new version if it changed)")
async def save_segment(name: str, definition: DefinitionBody, writer: WriterDep) -> dict[str, Any]:
    """The body's `name` may be left out; given, it must be the path's (POST /v1/<type> is the
    tracking API's, so a segment is saved by PUT at its own address)."""
    if definition.setdefault("name", name) != name:
        raise BadRequest(
            f"The body names segment {definition['name']!r}, the path {name!r}",
            "send the definition to /v1/segments/<its name>",
        )
    saved: Any = await writer.call(lambda s: Segments(s).create(definition))
    return dict(saved.to_dict())


@router.get("/v1/segments", summary="Every segment")
def list_segments(segments: SegmentsDep) -> list[dict[str, Any]]:
    return [s.to_dict() for s in segments.list()]


@router.post("/v1/segments/preview", summary="How many and who, before saving")
def preview_segment(
    definition: DefinitionBody,
    segments: SegmentsDep,
    limit: Annotated[int, Query(ge=0, le=100_000)] = 20,
) -> dict[str, Any]:
    return segments.preview(definition, limit=limit).to_dict()


@router.post("/v1/segments/recompute", summary="Recompute every segment's members")
async def recompute_segments(
    writer: WriterDep,
    name: Annotated[
        list[str] | None, Query(description="Only these (and those naming them).")
    ] = None,
) -> dict[str, Any]:
    done: Any = await writer.call(lambda s: Segments(s).recompute(name or None))
    return dict(done.to_dict())


@router.get("/v1/segments/{name}", summary="A segment: definition, members, versions")
def show_segment(name: str, segments: SegmentsDep) -> dict[str, Any]:
    return segments.show(name).to_dict()


@router.delete("/v1/segments/{name}", summary="Retire a segment (its history is kept)")
async def delete_segment(name: str, writer: WriterDep) -> dict[str, Any]:
    done: dict[str, Any] = await writer.call(lambda s: Segments(s).delete(name))
    return done


@router.get("/v1/segments/{name}/members", summary="The segment's members now")
def segment_members(
    name: str, segments: SegmentsDep, limit: Annotated[int, Query(ge=0, le=100_000)] = 100
) -> list[dict[str, Any]]:
    return segments.members(name, limit=limit)


@router.get("/v1/segments/{name}/explain/{customer_id}", summary="Why a customer is in or out")
def explain_segment(name: str, customer_id: str, segments: SegmentsDep) -> dict[str, Any]:
    return segments.explain(name, customer_id).to_dict()


@router.get("/v1/segments/{name}/history", summary="Every entry and exit")
def segment_history(
    name: str,
    segments: SegmentsDep,
    customer: str | None = None,
    limit: Annotated[int, Query(ge=0, le=100_000)] = 1000,
) -> list[dict[str, Any]]:
    return segments.history(name, customer_id=customer, limit=limit)


# --- The whole station (segments/recompute.py) --------------------------------------------------


@router.post("/v1/scores/recompute", summary="Recompute every score, then every segment")
async def recompute_station(writer: WriterDep, ladder: str = "orders") -> dict[str, Any]:
    """Every score for every customer (refitting the models), then every saved segment,
    through the store's one writer. Only a shipped ladder is accepted over HTTP."""
    if ladder not in shipped_ladders():
        raise BadRequest(
            f"No shipped ladder is called {ladder!r}",
            f"choose one of: {', '.join(shipped_ladders())}",
        )
    run: Any = await writer.call(lambda s: Scores(s).recompute(ladder=ladder))
    return dict(run.to_dict())


@router.get("/v1/scores/customers/{customer_id}", summary="A customer's scores and segments")
def customer_standing(customer_id: str, store: ReaderDep) -> dict[str, Any]:
    """Every current score of the customer (value, label, details with the reasons) and the
    segments they are in (empty when nothing was computed)."""
    return dict(Scores(store).of(customer_id).to_dict())
