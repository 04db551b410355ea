"""HTTP: customers by any identifier, their profile and timeline; explain, merge, split,
resolve; access and erasure requests.

Profiles are personal data: every route here needs `Authorization: Bearer <admin_token>` (the
`admin_token` setting; unset, they answer 403). Reads use a session of their own; writes run in
the server's one writer (the journal loader), between loads.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from parcours.collect.live.writer import GroupCommitWriter
from parcours.errors import BadRequest, ParcoursError
from parcours.identity import customers as service
from parcours.identity import overrides, privacy
from parcours.identity.resolve import Resolution, resolve_full
from parcours.store.store import Store


class Forbidden(ParcoursError):
    http_status = 403


class Unauthorized(ParcoursError):
    http_status = 401


def require_admin(request: Request) -> None:
    token = request.app.state.live.settings.admin_token
    if token is None:
        raise Forbidden(
            "The customer and identity routes are off: no admin token is set",
            "set PARCOURS_ADMIN_TOKEN (or admin_token in parcours.toml) and restart the server",
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given, token.get_secret_value()):
        raise Unauthorized("Missing or wrong admin token", "send Authorization: Bearer <token>")


router = APIRouter(tags=["customers"], dependencies=[Depends(require_admin)])


def get_reader(request: Request) -> Iterator[Store]:
    """A read session of its own for each request (sessions are not shared across threads)."""
    base: Store = request.app.state.reader
    session = Store(base.engine.fork(), base.settings)
    try:
        yield session
    finally:
        session.close()


def get_writer(request: Request) -> GroupCommitWriter:
    writer: GroupCommitWriter = request.app.state.live.writer
    return writer


ReaderDep = Annotated[Store, Depends(get_reader)]
WriterDep = Annotated[GroupCommitWriter, Depends(get_writer)]


class Identifier(BaseModel):
    type: str
    value: str


class Decision(BaseModel):
    """Two identifiers and why (a forced merge or a split)."""

    left: Identifier
    right: Identifier
    reason: str = ""


class Erasure(BaseModel):
    identifier: Identifier
    reason: str


def _one_identifier(
    given: dict[str, str | None], kind: str | None, value: str | None
) -> tuple[str, str]:
    asked = [(k, v) for k, v in given.items() if v] + ([(kind, value)] if kind and value else [])
    if len(asked) != 1:
        raise BadRequest(
            "Name exactly one identifier",
            "e.g. ?email=jane@example.com, or ?type=loyalty_id&value=2990001234",
        )
    return asked[0]


@router.get("/v1/customers/lookup", summary="The customer behind an identifier")
def lookup(
    store: ReaderDep,
    email: str | None = None,
    phone: str | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    type: Annotated[str | None, Query(description="Any identifier type...")] = None,
    value: Annotated[str | None, Query(description="...and its value.")] = None,
) -> dict[str, Any]:
    given = {"email": email, "phone": phone, "user_id": user_id, "anonymous_id": anonymous_id}
    kind, found = _one_identifier(given, type, value)
    return service.show_customer(store, service.customer_of(store, kind, found)).to_dict()


@router.get("/v1/customers/{customer_id}", summary="A customer: identifiers, traits, consents")
def customer(customer_id: str, store: ReaderDep) -> dict[str, Any]:
    return service.show_customer(store, customer_id).to_dict()


@router.get("/v1/customers/{customer_id}/timeline", summary="Every event, oldest first, paged")
def customer_timeline(
    customer_id: str,
    store: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="The previous page's `next`.")] = None,
) -> dict[str, Any]:
    return service.timeline(store, customer_id, limit=limit, after=after)


@router.get("/v1/identity/explain", summary="Why an identifier belongs to its customer")
def explain(
    store: ReaderDep,
    type: Annotated[str, Query(description="Identifier type")],
    value: Annotated[str, Query(description="Identifier value")],
) -> dict[str, Any]:
    return service.explain(store, type, value)


@router.post("/v1/identity/resolve", summary="Recompute every customer under the current rules")
async def resolve(writer: WriterDep) -> dict[str, Any]:
    result = await writer.call(resolve_full)
    return dict(result.to_dict())


@router.post("/v1/identity/merge", summary="Force two identifiers into one customer")
async def merge(decision: Decision, writer: WriterDep) -> dict[str, Any]:
    return await _decide(writer, overrides.force_merge, decision)


@router.post("/v1/identity/split", summary="Never let two identifiers be one customer")
async def split(decision: Decision, writer: WriterDep) -> dict[str, Any]:
    return await _decide(writer, overrides.split, decision)


async def _decide(
    writer: GroupCommitWriter, act: Callable[..., Resolution], decision: Decision
) -> dict[str, Any]:
    left = (decision.left.type, decision.left.value)
    right = (decision.right.type, decision.right.value)
    result: Resolution = await writer.call(lambda s: act(s, left, right, decision.reason))
    return result.to_dict()


@router.post("/v1/privacy/access", summary="Everything held about a person (right of access)")
async def access(identifier: Identifier, writer: WriterDep) -> dict[str, Any]:
    held: dict[str, Any] = await writer.call(
        lambda s: privacy.access(s, identifier.type, identifier.value)
    )
    return held


@router.post("/v1/privacy/erase", summary="Erase a person everywhere (right to erasure)")
async def erase(request: Erasure, writer: WriterDep) -> dict[str, Any]:
    kind, value = request.identifier.type, request.identifier.value
    entry: dict[str, Any] = await writer.call(
        lambda s: privacy.erase(s, kind, value, reason=request.reason)
    )
    return entry
