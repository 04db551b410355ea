"""The station's components: what `p.segments` / `p.scores`, `parcours segments|scores ...` and
`/v1/segments/...`, `/v1/scores/...` call. Each method is a service function of a module of this
package, bound to a store (see `store.component`)."""

from __future__ import annotations

from parcours.segments.personas import personas
from parcours.segments.rfm import rfm
from parcours.segments.tiers import tier_moves, tiers
from parcours.store.component import Component, service


class Scores(Component):
    """Per-customer scores: tiers, RFM, personas, health, milestones, churn risk and lifetime
    value (docs/segments.md). Each writes `customer_scores` and answers a typed result."""

    # Tiers, RFM and personas (segments/tiers.py, rfm.py, personas.py)
    tiers = service(tiers)
    tier_moves = service(tier_moves)
    rfm = service(rfm)
    personas = service(personas)
