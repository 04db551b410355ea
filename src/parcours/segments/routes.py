"""HTTP: segments and scores, `/v1/segments/...` and `/v1/scores/...`, as JSON.

The answers name customers, so the routes need the admin token like the customer routes.
Reads run on a read session; what writes (saving a segment, recomputing scores) runs through
the store's one writer.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from parcours.serving.deps import require_admin

router = APIRouter(tags=["segments and scores"], dependencies=[Depends(require_admin)])
