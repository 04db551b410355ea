"""The station's components: what `p.segments` / `p.scores`, `parcours segments|scores ...` and
`/v1/segments/...`, `/v1/scores/...` call. Each method is a service function of a module of this
package, bound to a store (see `store.component`)."""

from __future__ import annotations

from parcours.segments import catalog
from parcours.store.component import Component, service


class Scores(Component):
    """Per-customer scores: tiers, RFM, personas, health, milestones, churn risk and lifetime
    value (docs/segments.md). Each writes `customer_scores` and answers a typed result."""


class Segments(Component):
    """Declarative segments (docs/segments.md): saved, versioned definitions whose members
    are kept current, with their history and an event per entry and exit."""

    create = service(catalog.create)
    save = service(catalog.create)
    list = service(catalog.list_segments)
    show = service(catalog.show)
    preview = service(catalog.preview)
    members = service(catalog.members)
    explain = service(catalog.explain)
    history = service(catalog.history)
    recompute = service(catalog.recompute)
    refresh = service(catalog.refresh)
    delete = service(catalog.delete)
