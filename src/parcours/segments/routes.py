"""HTTP: segments and scores, `/v1/segments/...` and `/v1/scores/...`, as JSON.

The answers name customers, so the routes need the admin token like the customer routes.
Reads run on a read session; what writes (saving a segment, recomputing scores) runs through
the store's one writer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from parcours.segments.milestone_definition import (
    MilestoneDefinitionError,
    load_milestone,
    shipped_milestones,
)
from parcours.segments.service import Scores
from parcours.serving.deps import ReaderDep, require_admin

router = APIRouter(tags=["segments and scores"], dependencies=[Depends(require_admin)])


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
