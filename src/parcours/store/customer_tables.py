"""The tables later stations key by `customer_id` (segments, scores, automations): what an
erasure must clear and an anonymisation must re-key, without identity importing the stations
that own them. A station adding such a table adds it here (tests/engine/test_privacy.py checks
that every table of the schema with a customer_id column is identity's or listed here)."""

from __future__ import annotations

CUSTOMER_KEYED_TABLES: tuple[str, ...] = (
    "segment_members",
    "segment_changes",
    "customer_scores",
    "customer_score_changes",
    "automation_instances",
    "automation_steps",
    "automation_sends",
    "automation_tasks",
)
"""Tables of later stations with a `customer_id` column, in the order they are cleared."""

IDENTITY_TABLES: tuple[str, ...] = ("identity_map", "identity_links", "customer_events")
"""Tables identity itself keys by customer_id (its erasure handles them)."""
