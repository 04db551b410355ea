"""A definition checked against the store before it is saved: every name it uses exists.

Unknown traits (the keys of the customers' `identify` events), event names (`event_names`),
channels, event types, identifier types (the built-in ones and those `identity_map` holds),
scores (the station's and those `customer_scores` holds) and segments (saved, not retired) are
refused with the closest known names; a segment naming itself through others is refused
naming the cycle. Every problem is reported at once, each with its place (and line, from YAML).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterator
from typing import Any, Protocol

from parcours.engine import Engine
from parcours.errors import NotFoundError
from parcours.segments.definition import Condition, DefinitionError, SegmentDefinition
from parcours.store.schema import CHANNELS, EVENT_TYPES, IDENTIFIER_TYPES

SCORES = (
    "tier",
    "rfm",
    "persona",
    "health",
    "health_rules",
    "churn_risk",
    "p_alive",
    "clv",
    "expected_purchases",
)
"""The station's scores: a segment may name one before its scorer first ran."""


def current_definitions(engine: Engine) -> dict[str, dict[str, Any]]:
    """Each saved segment's current definition (its highest version), retired ones left out:
    {name: {version, definition (JSON text), description, saved_at}}."""
    rows = engine.query(
        "SELECT name, version, definition, description, saved_at FROM segments s "
        "WHERE version = (SELECT max(version) FROM segments WHERE name = s.name) "
        "AND retired_at IS NULL ORDER BY name"
    ).to_pylist()
    return {row.pop("name"): row for row in rows}


def leaves(node: Condition, path: str = "where") -> Iterator[tuple[str, str, Any]]:
    """Every leaf of the tree: (path, kind, leaf)."""
    kind = node.kind
    if kind in ("all", "any"):
        for i, child in enumerate((node.all if kind == "all" else node.any) or []):
            yield from leaves(child, f"{path}.{kind}[{i}]")
    elif kind == "not":
        assert node.not_ is not None
        yield from leaves(node.not_, f"{path}.not")
    else:
        yield f"{path}.{kind}", kind, getattr(node, kind)


def check(engine: Engine, definition: SegmentDefinition, dependencies: dict[str, set[str]]) -> None:
    """Refuse `definition` (a DefinitionError listing every problem) unless every name it
    uses is known to the store and it closes no cycle; `dependencies` maps each saved
    segment to the segments it names."""
    known = _Known(engine)
    problems: list[str] = []

    def unknown(path: str, what: str, value: str, choices: Collection[str]) -> None:
        problems.append(
            f"{definition.place(path)}: unknown {what} {value!r} ({closest_names(value, choices)})"
        )

    named = {*dependencies, definition.name}
    for path, kind, leaf in leaves(definition.where):
        check_leaf(path, kind, leaf, known, named, unknown)
    cycle = find_cycle(
        definition.name, {**dependencies, definition.name: definition.segments_named()}
    )
    if cycle:
        problems.append(
            f"{definition.place('where')}: the segments name each other in a cycle "
            f"({' → '.join(cycle)}), so none could be computed first"
        )
    if problems:
        raise DefinitionError(
            f"Segment {definition.name!r} cannot be saved: " + "; ".join(problems),
            "use the names the store knows (parcours segments list, parcours customers show), "
            "and let no segment name itself through others",
            where=f"segment {definition.name}",
        )


class Names(Protocol):
    """The names a condition's leaves may use."""

    @property
    def event_names(self) -> set[str]: ...
    @property
    def traits(self) -> set[str]: ...
    @property
    def identifier_types(self) -> set[str]: ...
    @property
    def scores(self) -> set[str]: ...


Unknown = Callable[[str, str, str, Collection[str]], None]
"""Told of each unknown name: (path, what, the name, the names known)."""


def check_leaf(
    path: str,
    kind: str,
    leaf: Any,
    known: Names,
    segments: Collection[str],
    unknown: Unknown,
    channels: Collection[str] = CHANNELS,
) -> None:
    """Tell `unknown` of each name `leaf` uses that the store does not know: its event's name,
    channel (one of `channels`) and type, its trait, identifier type, consent channel, score,
    or segment (one of `segments`). Segments and automations check their conditions so."""
    if kind == "events":
        if leaf.name is not None and leaf.name not in known.event_names:
            unknown(f"{path}.name", "event name", leaf.name, known.event_names)
        if leaf.channel is not None and leaf.channel not in channels:
            unknown(f"{path}.channel", "channel", leaf.channel, channels)
        if leaf.type is not None and leaf.type not in EVENT_TYPES:
            unknown(f"{path}.type", "event type", leaf.type, EVENT_TYPES)
    elif kind == "trait" and leaf.name not in known.traits:
        unknown(f"{path}.name", "trait", leaf.name, known.traits)
    elif kind == "has" and leaf.identifier not in known.identifier_types:
        unknown(f"{path}.identifier", "identifier type", leaf.identifier, known.identifier_types)
    elif kind == "consent" and leaf.channel not in CHANNELS:
        unknown(f"{path}.channel", "channel", leaf.channel, CHANNELS)
    elif kind == "score" and not (leaf.name in known.scores or leaf.name.startswith("milestone:")):
        unknown(f"{path}.name", "score", leaf.name, known.scores)
    elif kind == "segment" and leaf not in segments:
        unknown(path, "segment", leaf, segments)


def closest_names(value: str, choices: Collection[str]) -> str:
    """`closest: 'a', 'b'; known: ...` for a message."""
    near = difflib.get_close_matches(value, list(choices), n=3, cutoff=0.5)
    hint = f"closest: {', '.join(repr(n) for n in near)}" if near else "none is close"
    listed = sorted(choices)
    shown = ", ".join(listed[:20]) + (f" (and {len(listed) - 20} more)" if len(listed) > 20 else "")
    return f"{hint}; known: {shown or 'none yet'}"


def unknown_segment(name: str, known: list[str]) -> NotFoundError:
    near = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    return NotFoundError(
        f"No segment {name!r}",
        f"{hint}the segments are: {', '.join(sorted(known)) or 'none yet'} "
        "(parcours segments list)",
    )


def find_cycle(start: str, dependencies: dict[str, set[str]]) -> list[str] | None:
    """A path start → ... → start through `dependencies`, if there is one."""

    def walk(name: str, trail: list[str]) -> list[str] | None:
        for next_ in sorted(dependencies.get(name, ())):
            if next_ == start:
                return [*trail, start]
            if next_ not in trail:
                found = walk(next_, [*trail, next_])
                if found:
                    return found
        return None

    return walk(start, [start])


def dependency_order(dependencies: dict[str, set[str]]) -> list[str]:
    """The segments in an order where each comes after those it names."""
    done: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in done or name in seen:
            return
        for other in sorted(dependencies.get(name, ())):
            if other in dependencies:
                visit(other, seen | {name})
        done.append(name)

    for name in sorted(dependencies):
        visit(name, frozenset())
    return done


class _Known:
    """The names the store knows, read when first asked."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _column(self, sql: str) -> set[str]:
        return {v for v in self.engine.query(sql).column(0).to_pylist() if v is not None}

    @property
    def event_names(self) -> set[str]:
        return self._column("SELECT name FROM event_names")

    @property
    def traits(self) -> set[str]:
        return self._column(
            "SELECT DISTINCT unnest(json_keys(properties)) FROM customer_events "
            "WHERE type = 'identify' AND properties IS NOT NULL"
        )

    @property
    def identifier_types(self) -> set[str]:
        there = self._column("SELECT DISTINCT type FROM identity_map")
        return there | set(IDENTIFIER_TYPES) | {"user_id", "anonymous_id"}

    @property
    def scores(self) -> set[str]:
        return self._column("SELECT DISTINCT score FROM customer_scores") | set(SCORES)
