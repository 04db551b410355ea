"""The segment services, one function each: create (save), list, show, preview, members,
explain, history, recompute, refresh, delete — bound to a store as `p.segments`
(`segments.service.Segments`), called by `parcours segments ...` and `/v1/segments/...`."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from parcours.segments import explain as explaining
from parcours.segments import membership
from parcours.segments.checks import current_definitions, unknown_segment
from parcours.segments.definition import (
    SegmentDefinition,
    load_definition,
    parse_definition,
    parse_yaml,
)
from parcours.store.store import Store

Definition = SegmentDefinition | dict[str, Any] | str | Path
"""A definition as given: the model, a dict (Python, HTTP), a file path (.yaml, .yml, .toml)
or YAML text."""


def definition_of(given: Definition) -> SegmentDefinition:
    """`given` as a checked-shape definition (`segments.definition`)."""
    if isinstance(given, SegmentDefinition):
        return given
    if isinstance(given, dict):
        return parse_definition(given)
    if isinstance(given, Path) or (
        isinstance(given, str) and "\n" not in given and given.endswith((".yaml", ".yml", ".toml"))
    ):
        return load_definition(given)
    return parse_yaml(given)


@dataclass(frozen=True)
class SegmentInfo:
    """A segment as `list` and `show` give it."""

    name: str
    version: int
    description: str | None
    saved_at: dt.datetime
    members: int
    definition: dict[str, Any] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)
    """Every version kept (show only): version, saved_at, retired_at."""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saved_at": self.saved_at.isoformat()}


def create(store: Store, definition: Definition) -> membership.Saved:
    """Save a segment (a new version if it changed; checked against the store first, nothing
    saved if refused) and compute its members. `definition`: a file (.yaml/.toml), YAML text,
    a dict or a `SegmentDefinition`."""
    return membership.save(store, definition_of(definition))


def list_segments(store: Store) -> list[SegmentInfo]:
    """Every current segment with its version and member count."""
    counts = {
        r["segment"]: r["n"]
        for r in store.engine.query(
            "SELECT segment, count(*) AS n FROM segment_members GROUP BY segment"
        ).to_pylist()
    }
    return [
        SegmentInfo(
            name,
            row["version"],
            row["description"],
            row["saved_at"],
            counts.get(name, 0),
            orjson.loads(row["definition"]),
        )
        for name, row in current_definitions(store.engine).items()
    ]


def show(store: Store, name: str) -> SegmentInfo:
    """One segment: its current definition, member count, and every version kept."""
    current = current_definitions(store.engine)
    if name not in current:
        raise unknown_segment(name, list(current))
    row = current[name]
    versions = store.engine.query(
        "SELECT version, saved_at, retired_at FROM segments WHERE name = ? ORDER BY version",
        [name],
    ).to_pylist()
    members = store.engine.scalar("SELECT count(*) FROM segment_members WHERE segment = ?", [name])
    return SegmentInfo(
        name,
        row["version"],
        row["description"],
        row["saved_at"],
        members,
        orjson.loads(row["definition"]),
        [
            {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in r.items()}
            for r in versions
        ],
    )


def preview(
    store: Store, definition: Definition, *, limit: int = 20, as_of: dt.datetime | None = None
) -> explaining.Preview:
    """How many customers a definition selects and who, before saving (nothing written)."""
    return explaining.preview(store, definition_of(definition), limit=limit, as_of=as_of)


def members(store: Store, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The segment's members now: customer_id, version (that let them in), entered_at."""
    _known(store, name)
    rows: list[dict[str, Any]] = store.engine.query(
        "SELECT customer_id, version, entered_at FROM segment_members WHERE segment = ? "
        "ORDER BY entered_at, customer_id LIMIT ?",
        [name, limit],
    ).to_pylist()
    return rows


def explain(
    store: Store, name: str, customer_id: str, *, as_of: dt.datetime | None = None
) -> explaining.Explanation:
    """Why a customer is in the segment or not: each condition with the customer's value."""
    return explaining.explain(store, name, customer_id, as_of=as_of)


def history(
    store: Store, name: str, *, customer_id: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Every entry and exit of the segment (of one customer, if given), oldest first:
    customer_id, change (entered or left), version, changed_at. A retired segment's too."""
    if not store.engine.scalar("SELECT count(*) FROM segments WHERE name = ?", [name]):
        raise unknown_segment(name, list(current_definitions(store.engine)))
    who = " AND customer_id = ?" if customer_id else ""
    rows: list[dict[str, Any]] = store.engine.query(
        "SELECT customer_id, change, version, changed_at FROM segment_changes "
        f"WHERE segment = ?{who} ORDER BY changed_at, change DESC, customer_id LIMIT ?",
        [name, *([customer_id] if customer_id else []), limit],
    ).to_pylist()
    return rows


def recompute(store: Store, names: list[str] | None = None) -> membership.Recompute:
    """Compute every segment's members (or those of `names` and the segments naming them)
    for every customer, writing entries, exits and their events."""
    return membership.recompute(store, names)


def refresh(store: Store, customers: str, *, events: str | None = None) -> membership.Recompute:
    """Bring every segment up to date for the customers `customers` (SQL selecting
    `customer_id`) selects (their events in `events`, if the caller copied them); cheap when
    no segment is defined."""
    return membership.refresh(store, customers, events=events)


def delete(store: Store, name: str) -> dict[str, Any]:
    """Retire a segment: its members leave (recorded, with events); its versions and history
    are kept. Refused while another segment names it."""
    left = membership.retire(store, name)
    return {"name": name, "retired": True, "left": left}


def _known(store: Store, name: str) -> None:
    current = current_definitions(store.engine)
    if name not in current:
        raise unknown_segment(name, list(current))
