"""The station's components: what `p.segments` / `p.scores`, `parcours segments|scores ...` and
`/v1/segments/...`, `/v1/scores/...` call. Each method is a service function of a module of this
package, bound to a store (see `store.component`)."""

from __future__ import annotations

from parcours.segments.health import health as health_scores
from parcours.segments.health import health_backtest
from parcours.segments.health_view import current_health
from parcours.segments.personas import personas
from parcours.segments.rfm import rfm
from parcours.segments.standing import standing
from parcours.segments.tiers import tier_moves, tiers
from parcours.store.component import Component, service


class Scores(Component):
    """Per-customer scores: tiers, RFM, personas, health, milestones, churn risk and lifetime
    value (docs/segments.md). Each writes `customer_scores` and answers a typed result."""

    of = service(standing)

    # Health (segments/health.py): the rules scorecard, the learned model, their back-test.
    health = service(health_scores)
    health_backtest = service(health_backtest)
    current_health = service(current_health)
    # Tiers, RFM and personas (segments/tiers.py, rfm.py, personas.py)
    tiers = service(tiers)
    tier_moves = service(tier_moves)
    rfm = service(rfm)
    personas = service(personas)
