"""SQL pieces the runtime shares: an event filter as a condition, seeded draws, the instant
literal. Pure builders: no I/O."""

from __future__ import annotations

import datetime as dt

from parcours.automations.definition import EventFilter
from parcours.segments.compare import text
from parcours.sql import json_path, lit

DRAWS = 1_000_000
"""A seeded draw is an integer in [0, DRAWS): a share of a percent is one in 10,000."""


def at_sql(instant: dt.datetime) -> str:
    """An aware instant as a TIMESTAMPTZ literal."""
    return f"{lit(instant.astimezone(dt.UTC).isoformat())}::TIMESTAMPTZ"


def property_sql(key: str, column: str = "properties") -> str:
    """A top-level property's text."""
    return f"json_extract_string({column}, {lit(json_path(key))})"


def event_match_sql(wanted: EventFilter, alias: str = "") -> str:
    """Whether an event row (`alias.`-prefixed columns) is one `wanted` describes."""
    prefix = f"{alias}." if alias else ""
    parts = [
        f"{prefix}{column} = {lit(value)}"
        for column, value in (
            ("name", wanted.name),
            ("channel", wanted.channel),
            ("type", wanted.type),
        )
        if value is not None
    ]
    parts += [
        f"{property_sql(key, prefix + 'properties')} = {lit(text(value))}"
        for key, value in wanted.properties.items()
    ]
    return "(" + " AND ".join(parts or ["true"]) + ")"


def draw_sql(*parts: str) -> str:
    """A seeded draw in [0, DRAWS) from SQL text expressions: the same inputs always draw the
    same number (md5, so that it does not change with the engine's version either)."""
    joined = " || '|' || ".join(parts)
    return f"(md5_number_lower({joined}) % {DRAWS})"


def instance_id_sql(automation: str, customer: str, entry_key: str, entered_at: str) -> str:
    """The instance's 63-bit key, computed once at entry."""
    return f"(hash({automation}, {customer}, {entry_key}, {entered_at}) >> 1)::BIGINT"
