"""HTTP: segments and scores, `/v1/segments/...` and `/v1/scores/...`, as JSON.

The answers name customers, so the routes need the admin token like the customer routes.
Reads run on a read session; what writes (saving a segment, recomputing scores) runs through
the store's one writer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from parcours.segments.service import Scores
from parcours.serving.deps import ReaderDep, require_admin

router = APIRouter(tags=["segments and scores"], dependencies=[Depends(require_admin)])


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
