"""Collect as components: `Quarantine` (records refused, with their reason; replay after a fix)
and `Sources` (live sources and their write keys). What `p.quarantine`, `p.sources`,
`parcours quarantine ...` and `parcours sources ...` call."""

from __future__ import annotations

from parcours.collect import quarantine, sources
from parcours.store.component import Component, service


class Quarantine(Component):
    """Records refused at import, with their reason (docs/mappings.md)."""

    list = service(quarantine.list_quarantine)
    show = service(quarantine.show_quarantined)
    replay = service(quarantine.replay)


class Sources(Component):
    """Live sources: a write key and a default channel each (docs/tracking-api.md)."""

    add = service(sources.add_source)
    list = service(sources.list_sources)
    get = service(sources.get_source)
    set_enabled = service(sources.set_enabled)
    rotate_key = service(sources.rotate_key)
