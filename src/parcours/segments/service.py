"""The station's components: what `p.segments` / `p.scores`, `parcours segments|scores ...` and
`/v1/segments/...`, `/v1/scores/...` call. Each method is a service function of a module of this
package, bound to a store (see `store.component`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from parcours.segments import catalog
from parcours.segments import lifetime_value as clv_scores
from parcours.segments import milestones as _milestones
from parcours.segments.health import health as health_scores
from parcours.segments.health import health_backtest
from parcours.segments.health_view import current_health
from parcours.segments.personas import personas
from parcours.segments.recompute import recompute_all, refresh_touched
from parcours.segments.rfm import rfm
from parcours.segments.standing import standing
from parcours.segments.tiers import tier_moves, tiers
from parcours.store.component import Component, service
from parcours.store.store import Store

if TYPE_CHECKING:
    from parcours.segments.report import StandingSections


def report_sections(store: Store, *, ladder: str = "orders") -> StandingSections:
    """The report's sections of this station: tiers on `ladder`, RFM, personas, the health
    back-test and lifetime value, computed (nothing written), drawn, each with its sentence."""
    # Charts need Plotly, which takes a while to load: only a report loads it.
    from parcours.segments.report import standing_sections

    return standing_sections(store, ladder=ladder)


class Scores(Component):
    """Per-customer scores: tiers, RFM, personas, health, milestones, churn risk and lifetime
    value (docs/segments.md). Each writes `customer_scores` and answers a typed result."""

    of = service(standing)
    recompute = service(recompute_all)
    refresh = service(refresh_touched)
    report_sections = service(report_sections)

    # Health (segments/health.py): the rules scorecard, the learned model, their back-test.
    health = service(health_scores)
    health_backtest = service(health_backtest)
    current_health = service(current_health)

    # Tiers, RFM and personas (segments/tiers.py, rfm.py, personas.py)
    tiers = service(tiers)
    tier_moves = service(tier_moves)
    rfm = service(rfm)
    personas = service(personas)

    # Lifetime value (segments/lifetime_value.py): BG/NBD and Gamma-Gamma.
    lifetime_value = service(clv_scores.lifetime_value)
    current_lifetime_value = service(clv_scores.current_lifetime_value)

    # Milestones (milestones.py): each customer's status on a time-bounded objective.
    milestones = service(_milestones.milestones)


class Segments(Component):
    """Declarative segments (docs/segments.md): saved, versioned definitions whose members
    are kept current, with their history and an event per entry and exit."""

    create = service(catalog.create)
    list = service(catalog.list_segments)
    show = service(catalog.show)
    preview = service(catalog.preview)
    members = service(catalog.members)
    explain = service(catalog.explain)
    history = service(catalog.history)
    recompute = service(catalog.recompute)
    refresh = service(catalog.refresh)
    delete = service(catalog.delete)
