"""The identity station as two components: `Identity` (resolving, matching, forced decisions,
why two identifiers are one customer) and `Customers` (the single customer view, and the
person's rights over their data). What `p.identity`, `p.customers`, `parcours identity ...`,
`parcours customers ...` and `/v1/customers/...` call."""

from __future__ import annotations

from parcours.identity.customers import customer_of, explain, show_customer, timeline
from parcours.identity.overrides import force_merge, split
from parcours.identity.privacy import access, erase
from parcours.identity.probabilistic import match_people
from parcours.identity.profile import consent_allows, consents, traits
from parcours.identity.resolve import resolve_full, resolve_new
from parcours.store.component import Component, service


class Identity(Component):
    """One customer from many identifiers (docs/identity.md)."""

    resolve = service(resolve_full)
    resolve_new = service(resolve_new)
    match = service(match_people)
    merge = service(force_merge)
    split = service(split)
    explain = service(explain)


class Customers(Component):
    """The single customer view: find a customer by any identifier, see them whole."""

    find = service(customer_of)
    show = service(show_customer)
    timeline = service(timeline)
    traits = service(traits)
    consents = service(consents)
    consent_allows = service(consent_allows)
    access = service(access)
    erase = service(erase)
