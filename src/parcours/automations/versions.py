"""The automations that act, and every version their instances may run on.

The current version of an automation is its highest version not retired; it acts only while
that version is `live`. A paused automation admits no one and moves no one: its instances
keep their place and their timers, which fire at the first tick after it is live again
(a 3-day wait that ended during the pause ends at resume, not earlier)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import orjson

from parcours.automations.definition import AutomationDefinition, parse_automation
from parcours.engine import Engine
from parcours.sql import lit


@dataclass(frozen=True)
class Version:
    """One published version of an automation."""

    name: str
    version: int
    definition: AutomationDefinition
    current: bool
    """Whether it is the version new entrants get."""
    live: bool = True
    """Whether its automation is live (not paused): only then does it admit and move."""
    since: dt.datetime | None = None
    """When the automation was first published: events that occurred before start no one
    (an old file imported later, the store's history). None: no such limit (a dry run)."""


def acting_versions(engine: Engine, names: list[str] | None = None) -> list[Version]:
    """Every version of every automation not retired (of `names`, if given), `live` when its
    current version is: the current ones admit entrants, all of them move their instances.
    A paused automation's versions are listed too, not live: goals, exits and awaited events
    still reach their instances (nothing is lost while paused), nothing else moves them."""
    only = f" AND name IN ({', '.join(lit(n) for n in names)})" if names else ""
    rows = engine.query(
        f"""
        WITH current AS (
            SELECT name, max(version) AS version FROM automations
            WHERE retired_at IS NULL{only} GROUP BY name
        )
        SELECT a.name, a.version, a.definition, a.version = c.version AS current,
               l.status = 'live' AS live,
               (SELECT min(f.published_at) FROM automations f WHERE f.name = a.name) AS since
        FROM automations a JOIN current c USING (name)
        JOIN automations l ON l.name = c.name AND l.version = c.version
        ORDER BY a.name, a.version
        """
    ).to_pylist()
    return [
        Version(
            r["name"],
            r["version"],
            parse_automation(orjson.loads(r["definition"]), origin=f"automation {r['name']}"),
            bool(r["current"]),
            bool(r["live"]),
            r["since"].astimezone(dt.UTC) if r["since"] is not None else None,
        )
        for r in rows
    ]
