"""HTTP: segments and scores, `/v1/segments/...` and `/v1/scores/...`, as JSON.

The answers name customers, so the routes need the admin token like the customer routes.
Reads run on a read session; what writes (saving a segment, recomputing scores) runs through
the store's one writer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from parcours.segments.ladder import LadderError, shipped_ladders
from parcours.segments.service import Scores
from parcours.serving.deps import ReaderDep, require_admin

router = APIRouter(tags=["segments and scores"], dependencies=[Depends(require_admin)])


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
