"""HTTP: customers by any identifier, their profile and their whole cross-channel timeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from parcours.errors import BadRequest
from parcours.identity.customers import customer_of, show_customer, timeline
from parcours.store.store import Store

router = APIRouter(prefix="/v1/customers", tags=["customers"])


def get_reader(request: Request) -> Iterator[Store]:
    """A read session of its own for each request (sessions are not shared across threads)."""
    base: Store = request.app.state.reader
    session = Store(base.engine.fork(), base.settings)
    try:
        yield session
    finally:
        session.close()


ReaderDep = Annotated[Store, Depends(get_reader)]


@router.get("/lookup", summary="The customer behind an identifier")
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
    asked = [(k, v) for k, v in given.items() if v] + ([(type, value)] if type and value else [])
    if len(asked) != 1:
        raise BadRequest(
            "Name exactly one identifier",
            "e.g. ?email=jane@example.com, or ?type=loyalty_id&value=2990001234",
        )
    kind, found = asked[0]
    return show_customer(store, customer_of(store, kind, found)).to_dict()


@router.get("/{customer_id}", summary="A customer's identifiers and events by channel")
def customer(customer_id: str, store: ReaderDep) -> dict[str, Any]:
    return show_customer(store, customer_id).to_dict()


@router.get("/{customer_id}/timeline", summary="Every event of the customer, oldest first, paged")
def customer_timeline(
    customer_id: str,
    store: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        str | None, Query(description="The `next` cursor of the previous page.")
    ] = None,
) -> dict[str, Any]:
    return timeline(store, customer_id, limit=limit, after=after)
