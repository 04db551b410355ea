"""HTTP: every journey analysis, `GET /v1/journeys/<analysis>`, as JSON.

The answers name customers (the customers behind a funnel step, the cases of customers who
repeated themselves), so the routes need the admin token like the customer routes. Filters
are query parameters: `since`, `until`, `channel` and `customer` (repeatable), `property`
(repeatable, KEY=VALUE), `segment` (a saved segment's name). Free SQL expressions stay on
the command line and in Python: over HTTP a filter is data, never code.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from parcours.journeys import (
    attribution,
    contacts,
    funnel,
    paths,
    typical,
    visits,
)
from parcours.journeys.scope import Scope, parse_properties
from parcours.journeys.service import Journeys
from parcours.serving.deps import ReaderDep, require_admin

router = APIRouter(tags=["journeys"], dependencies=[Depends(require_admin)])


def scope_of(
    store: ReaderDep,
    since: Annotated[dt.datetime | None, Query(description="Events from this time.")] = None,
    until: Annotated[dt.datetime | None, Query(description="Events before this time.")] = None,
    channel: Annotated[list[str] | None, Query(description="Only these channels.")] = None,
    customer: Annotated[list[str] | None, Query(description="Only these customers.")] = None,
    property: Annotated[
        list[str] | None, Query(description="KEY=VALUE an event property must have.")
    ] = None,
    segment: Annotated[
        str | None, Query(description="A saved segment's name: its members now.")
    ] = None,
) -> Scope:
    scope = Scope(
        since,
        until,
        tuple(channel or ()),
        Scope.of_customers(customer) if customer else None,
        parse_properties(property),
        segment=segment,
    )
    return scope.check(store) if segment is not None else scope


ScopeDep = Annotated[Scope, Depends(scope_of)]


def journeys_of(store: ReaderDep) -> Journeys:
    """The analyses on this request's own read session."""
    return Journeys(store)


JourneysDep = Annotated[Journeys, Depends(journeys_of)]


@router.get("/v1/journeys/visits", summary="Conversion by visit number")
def conversion_by_visit(
    journeys: JourneysDep,
    scope: ScopeDep,
    conversion: Annotated[str, Query(description="The conversion event's name.")],
    gap: str = visits.GAP,
    max_visit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    return journeys.visits(conversion, scope, gap=gap, max_visit=max_visit).to_dict()


def _funnel(
    journeys: JourneysDep,
    scope: ScopeDep,
    steps: Annotated[list[str], Query(description="The steps, in order (repeat the key).")],
    window: str = "7d",
    order: Annotated[str, Query(description="ordered, strict or any.")] = "ordered",
    exclude: Annotated[
        list[str] | None, Query(description="EVENT@A-B: EVENT between steps A and B.")
    ] = None,
    breakdown: str | None = None,
    attribution: Annotated[str, Query(description="first, last or step.")] = "first",
) -> funnel.FunnelResult:
    return journeys.funnel(
        list(steps),
        scope,
        window=window,
        order=order,
        exclusions=[funnel.Exclusion.parse(x) for x in exclude or []],
        breakdown=breakdown,
        attribution=attribution,
    )


@router.get("/v1/journeys/funnel", summary="A funnel: steps, conversion, leaks, time")
def funnel_route(result: Annotated[funnel.FunnelResult, Depends(_funnel)]) -> dict[str, Any]:
    return result.to_dict()


@router.get("/v1/journeys/funnel/customers", summary="The customers behind a funnel number")
def funnel_customers(
    result: Annotated[funnel.FunnelResult, Depends(_funnel)],
    step: Annotated[int, Query(ge=1, description="The step (1-based).")],
    dropped: Annotated[bool, Query(description="Those who left just before it.")] = False,
) -> dict[str, Any]:
    ids = result.customers_at(step, dropped=dropped)
    return {"step": step, "dropped": dropped, "customers": ids, "warnings": result.warnings}


@router.get("/v1/journeys/map", summary="The directly-follows graph of the journeys")
def journey_map(
    journeys: JourneysDep, scope: ScopeDep, touchpoint: str = "name", case: str = "customer"
) -> dict[str, Any]:
    return journeys.map(
        scope,
        touchpoint=touchpoint,
        case=case,
    ).to_dict()


@router.get("/v1/journeys/variants", summary="The most frequent whole journeys")
def journey_variants(
    journeys: JourneysDep,
    scope: ScopeDep,
    touchpoint: str = "name",
    case: str = "customer",
    top: Annotated[int, Query(ge=1, le=10_000)] = 20,
) -> dict[str, Any]:
    rows = journeys.variants(
        scope,
        touchpoint=touchpoint,
        case=case,
        top=top,
    )
    return {"variants": rows}


@router.get("/v1/journeys/paths", summary="Paths from or to a touchpoint")
def journey_paths(
    journeys: JourneysDep,
    scope: ScopeDep,
    anchor: str,
    direction: Annotated[str, Query(description="from or to.")] = "from",
    depth: Annotated[int, Query(ge=1, le=paths.MAX_DEPTH)] = 5,
    top: Annotated[int, Query(ge=1, le=100)] = 8,
    touchpoint: str = "name",
) -> dict[str, Any]:
    return journeys.paths(
        anchor,
        scope,
        direction=direction,
        depth=depth,
        top=top,
        touchpoint=touchpoint,
    ).to_dict()


@router.get("/v1/journeys/switches", summary="Channel switching and what followed")
def channel_switching(
    journeys: JourneysDep,
    scope: ScopeDep,
    window: str = contacts.REPEAT_WINDOW,
    churn_days: Annotated[int, Query(ge=1)] = contacts.CHURN_DAYS,
) -> dict[str, Any]:
    return journeys.switches(scope, window=window, churn_days=churn_days).to_dict()


@router.get("/v1/journeys/repeats", summary="Repeat contacts, first-contact resolution, effort")
def repeat_contacts(
    journeys: JourneysDep, scope: ScopeDep, window: str = contacts.REPEAT_WINDOW
) -> dict[str, Any]:
    return journeys.repeats(scope, window=window).to_dict()


@router.get("/v1/journeys/repeats/cases", summary="Customers who had to repeat themselves")
def repeat_cases(
    journeys: JourneysDep,
    scope: ScopeDep,
    window: str = contacts.REPEAT_WINDOW,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, Any]:
    return {"cases": journeys.repeaters(scope, window=window, limit=limit)}


@router.get("/v1/journeys/attribution", summary="Credit and budget per touchpoint, every model")
def attribution_route(
    journeys: JourneysDep,
    scope: ScopeDep,
    conversion: str = "Order Completed",
    touchpoint: str = "channel",
    lookback: str = attribution.LOOKBACK,
    half_life: str = attribution.HALF_LIFE,
    budget: Annotated[float, Query(gt=0)] = 100.0,
) -> dict[str, Any]:
    return journeys.attribution(
        conversion,
        scope,
        touchpoint=touchpoint,
        lookback=lookback,
        half_life=half_life,
        budget=budget,
    ).to_dict()


@router.get("/v1/journeys/touchpoints", summary="Touchpoints: reach, lifts, moments of truth")
def touchpoints_route(
    journeys: JourneysDep,
    scope: ScopeDep,
    conversion: str = "Order Completed",
    touchpoint: str = "channel:name",
    window: str = "30d",
    churn_days: Annotated[int, Query(ge=1)] = contacts.CHURN_DAYS,
) -> dict[str, Any]:
    return journeys.touchpoints(
        scope,
        conversion=conversion,
        touchpoint=touchpoint,
        window=window,
        churn_days=churn_days,
    ).to_dict()


@router.get("/v1/journeys/agents", summary="Agents and teams: resolution, repeats, handle time")
def agents_route(
    journeys: JourneysDep, scope: ScopeDep, window: str = contacts.REPEAT_WINDOW
) -> dict[str, Any]:
    return journeys.agents(scope, window=window).to_dict()


@router.get("/v1/journeys/cohorts", summary="Retention and repeat purchase by cohort")
def cohorts_route(
    journeys: JourneysDep,
    scope: ScopeDep,
    by: Annotated[str, Query(description="month or channel.")] = "month",
    conversion: str = "Order Completed",
    months: Annotated[int, Query(ge=0, le=120)] = 12,
) -> dict[str, Any]:
    return journeys.cohorts(scope, by=by, conversion=conversion, months=months).to_dict()


def _typical(
    journeys: JourneysDep,
    scope: ScopeDep,
    clusters: Annotated[
        int | None, Query(ge=2, le=20, description="Default: by silhouette.")
    ] = None,
    conversion: str = "Order Completed",
    top: Annotated[int, Query(ge=2, le=5000)] = typical.TOP_VARIANTS,
    seed: int = 0,
) -> typical.TypicalJourneys:
    return journeys.typical(scope, clusters=clusters, conversion=conversion, top=top, seed=seed)


@router.get("/v1/journeys/typical", summary="Typical journeys: whole journeys grouped and named")
def typical_route(
    result: Annotated[typical.TypicalJourneys, Depends(_typical)],
) -> dict[str, Any]:
    return result.to_dict()


@router.get("/v1/journeys/typical/customers", summary="The customers following a typical journey")
def typical_customers(
    result: Annotated[typical.TypicalJourneys, Depends(_typical)],
    cluster: Annotated[int, Query(ge=1, description="The typical journey (1-based).")],
) -> dict[str, Any]:
    return {"cluster": cluster, "customers": result.customers_in(cluster)}
