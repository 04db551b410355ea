"""HTTP: segments and scores, `/v1/segments/...` and `/v1/scores/...`, as JSON.

The answers name customers, so the routes need the admin token like the customer routes.
Reads run on a read session; what writes (saving a segment, recomputing scores) runs through
the store's one writer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from parcours.errors import BadRequest
from parcours.segments.service import Segments
from parcours.serving.deps import ReaderDep, WriterDep, require_admin

router = APIRouter(tags=["segments and scores"], dependencies=[Depends(require_admin)])


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
    definition: DefinitionBody, segments: SegmentsDep, limit: Annotated[int, Query(ge=0)] = 20
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
