"""HTTP: customers by any identifier, their profile and timeline; explain, merge, split,
resolve; access and erasure requests.

Profiles are personal data: every route here needs the admin token (see `serving.deps`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from parcours.errors import BadRequest
from parcours.identity.resolve import Resolution
from parcours.identity.service import Customers, Identity
from parcours.serving.deps import ReaderDep, WriterDep, require_admin

router = APIRouter(tags=["customers"], dependencies=[Depends(require_admin)])


class Identifier(BaseModel):
    type: str
    value: str


class Decision(BaseModel):
    """Two identifiers and why (a forced merge or a split)."""

    left: Identifier
    right: Identifier
    reason: str = ""

    def pair(self) -> tuple[tuple[str, str], tuple[str, str]]:
        return (self.left.type, self.left.value), (self.right.type, self.right.value)


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
    customers = Customers(store)
    return customers.show(customers.find(kind, found)).to_dict()


@router.get("/v1/customers/{customer_id}", summary="A customer: identifiers, traits, consents")
def customer(customer_id: str, store: ReaderDep) -> dict[str, Any]:
    return Customers(store).show(customer_id).to_dict()


@router.get("/v1/customers/{customer_id}/timeline", summary="Every event, oldest first, paged")
def customer_timeline(
    customer_id: str,
    store: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="The previous page's `next`.")] = None,
) -> dict[str, Any]:
    return Customers(store).timeline(customer_id, limit=limit, after=after)


@router.get("/v1/identity/explain", summary="Why an identifier belongs to its customer")
def explain(
    store: ReaderDep,
    type: Annotated[str, Query(description="Identifier type")],
    value: Annotated[str, Query(description="Identifier value")],
) -> dict[str, Any]:
    return Identity(store).explain(type, value)


@router.post("/v1/identity/resolve", summary="Recompute every customer under the current rules")
async def resolve(writer: WriterDep) -> dict[str, Any]:
    result = await writer.call(lambda s: Identity(s).resolve())
    return dict(result.to_dict())


@router.post("/v1/identity/merge", summary="Force two identifiers into one customer")
async def merge(decision: Decision, writer: WriterDep) -> dict[str, Any]:
    left, right = decision.pair()
    result: Resolution = await writer.call(
        lambda s: Identity(s).merge(left, right, decision.reason)
    )
    return result.to_dict()


@router.post("/v1/identity/split", summary="Never let two identifiers be one customer")
async def split(decision: Decision, writer: WriterDep) -> dict[str, Any]:
    left, right = decision.pair()
    result: Resolution = await writer.call(
        lambda s: Identity(s).split(left, right, decision.reason)
    )
    return result.to_dict()


@router.post("/v1/privacy/access", summary="Everything held about a person (right of access)")
async def access(identifier: Identifier, writer: WriterDep) -> dict[str, Any]:
    held: dict[str, Any] = await writer.call(
        lambda s: Customers(s).access(identifier.type, identifier.value)
    )
    return held


@router.post("/v1/privacy/erase", summary="Erase a person everywhere (right to erasure)")
async def erase(request: Erasure, writer: WriterDep) -> dict[str, Any]:
    kind, value = request.identifier.type, request.identifier.value
    entry: dict[str, Any] = await writer.call(
        lambda s: Customers(s).erase(kind, value, reason=request.reason)
    )
    return entry
