"""The station's components: what `p.segments` / `p.scores`, `parcours segments|scores ...` and
`/v1/segments/...`, `/v1/scores/...` call. Each method is a service function of a module of this
package, bound to a store (see `store.component`)."""

from __future__ import annotations

from parcours.segments import milestones as _milestones
from parcours.store.component import Component, service


class Scores(Component):
    """Per-customer scores: tiers, RFM, personas, health, milestones, churn risk and lifetime
    value (docs/segments.md). Each writes `customer_scores` and answers a typed result."""

    # Milestones (milestones.py): each customer's status on a time-bounded objective.
    milestones = service(_milestones.milestones)
