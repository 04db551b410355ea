"""The journey analyses as one component: what `p.journeys`, `parcours journeys ...` and
`/v1/journeys/...` call. Every analysis takes a `Scope` (time range, channels, a segment,
properties) and its own options; see each function for its parameters and what it answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from parcours.journeys.attribution import attribution
from parcours.journeys.cohorts import cohorts
from parcours.journeys.contacts import channel_switching, repeat_contacts, repeaters
from parcours.journeys.contacts import switches as switch_rows
from parcours.journeys.funnel import funnel
from parcours.journeys.paths import journey_map, paths, variants
from parcours.journeys.performance import agents, touchpoints
from parcours.journeys.scope import Scope
from parcours.journeys.typical import typical_journeys
from parcours.journeys.visits import conversion_by_visit
from parcours.journeys.visits import visits as numbered_visits
from parcours.store.component import Component, service
from parcours.store.store import Store

if TYPE_CHECKING:
    from parcours.journeys.report import Report


def report(
    store: Store,
    scope: Scope | None = None,
    *,
    conversion: str = "Order Completed",
    steps: list[str] | None = None,
) -> Report:
    """Every analysis over `scope`, a sentence each, ready for `write_report` (one offline HTML
    file). `steps` is the funnel (default: the e-commerce steps the store has, then
    `conversion`)."""
    # Charts need Plotly, which takes a while to load: only a report loads it.
    from parcours.journeys.report import build_report

    return build_report(store, scope, conversion=conversion, steps=steps)


class Journeys(Component):
    """The journey analyses over resolved customers (docs/journeys.md)."""

    visits = service(conversion_by_visit)
    visit_table = service(numbered_visits)
    funnel = service(funnel)
    map = service(journey_map)
    variants = service(variants)
    paths = service(paths)
    repeats = service(repeat_contacts)
    repeaters = service(repeaters)
    switches = service(channel_switching)
    switch_list = service(switch_rows)
    attribution = service(attribution)
    touchpoints = service(touchpoints)
    agents = service(agents)
    cohorts = service(cohorts)
    typical = service(typical_journeys)
    report = service(report)
