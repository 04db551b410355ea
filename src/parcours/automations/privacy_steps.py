"""The anonymise and delete steps: each customer of the group through the privacy service
(identity.privacy; a group is anonymised at once), one log entry each, without personal data.
A deleted customer's instance goes with the rest of their rows; an anonymised one goes on
under the new id."""

from __future__ import annotations

from parcours.automations.definition import Step
from parcours.identity.privacy import anonymise_customer, anonymise_customers, erase_customer
from parcours.store.store import Store


def run(store: Store, step: Step, group: str, *, acts: bool) -> str:
    """Anonymise or delete every customer of `group` (a table with customer_id) unless not
    `acts` (a dry run); return the outcome to record."""
    if step.anonymise is not None:
        outcome, reason, call = "anonymised", step.anonymise.reason, anonymise_customer
    else:
        assert step.delete is not None
        outcome, reason, call = "deleted", step.delete.reason, erase_customer
    if acts:
        customers = store.engine.query(f"SELECT DISTINCT customer_id FROM {group}")
        ids = customers.column(0).to_pylist()
        if step.anonymise is not None:  # the whole group at once: one pass over the events
            anonymise_customers(store, ids, reason=reason)
        else:
            for customer_id in ids:
                call(store, customer_id, reason=reason)
    return outcome
