"""HTTP: segments and scores, `/v1/segments/...` and `/v1/scores/...`, as JSON.

The answers name customers, so the routes need the admin token like the customer routes.
Reads run on a read session; what writes (saving a segment, recomputing scores) runs through
the store's one writer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from parcours.segments.health import HealthScores
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
