"""A user's word over the rules: force two identifiers into one customer, or split them apart.

Decisions are rows in `identity_overrides` (with the reason and the customer the identifier had
then, for lineage) that every resolve applies — so they survive a full re-resolve after a rule
change. Each call resolves again and returns the result.
"""

from __future__ import annotations

import uuid

from parcours.identity.customers import customer_of
from parcours.identity.resolve import Resolution, resolve_full
from parcours.store.store import Store

Identifier = tuple[str, str]


def force_merge(store: Store, left: Identifier, right: Identifier, reason: str = "") -> Resolution:
    """Make the customers of `left` and `right` one, whatever the limits."""
    return _decide(store, "merge", left, right, reason)


def split(store: Store, left: Identifier, right: Identifier, reason: str = "") -> Resolution:
    """Never let `left` and `right` be one customer again (unmerge)."""
    return _decide(store, "split", left, right, reason)


def _decide(
    store: Store, kind: str, left: Identifier, right: Identifier, reason: str
) -> Resolution:
    before = customer_of(store, *left)
    customer_of(store, *right)  # both must be known identifiers: a clear 404 otherwise
    store.engine.execute(
        "INSERT INTO identity_overrides VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?)",
        [uuid.uuid4().hex[:12], kind, *left, *right, reason or None, before],
    )
    return resolve_full(store)
