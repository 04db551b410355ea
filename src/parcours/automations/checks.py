"""An automation checked against the store before it is published: every name it uses exists.

The trigger's event name, the segments it names (trigger, schedule audience, exits, conditions),
the date trigger's trait, and every name in its conditions (`audience`, a split's `when`: event
names, traits, identifier types, scores, segments, as segments.checks does) must be known to
the store; an unknown one is refused with the closest known names, each at its place (and
line, from YAML). Names parcours writes itself (`OWN_EVENTS`: Email Sent, Tag Added...) count as
known before the first one is written, and so do the traits a published automation sets, so
that one automation may read what another writes.

Events the automation only waits for (a goal, an exit, a wait_for) may not have happened yet:
those are the linter's warnings (automations.lint), not refusals.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from parcours.automations import events
from parcours.automations.definition import AutomationDefinition, AutomationError, EventFilter
from parcours.identity.rules import identity_rules
from parcours.segments.checks import (
    SCORES,
    check_leaf,
    closest_names,
    current_definitions,
    leaves,
)
from parcours.segments.compile import Builder
from parcours.segments.definition import Condition, DefinitionError, SegmentDefinition
from parcours.store.schema import CHANNELS, EVENT_TYPES, IDENTIFIER_TYPES
from parcours.store.store import Store

OWN_EVENTS = (
    "Segment Entered",
    "Segment Exited",
    *events.ALL,
    "Tag Added",
    "Consent Given",
    "Consent Withdrawn",
    "Task Created",
)
"""Events parcours writes about customers (segments, automations, deliveries): known names
before the store holds one."""
EVENT_CHANNELS = (*CHANNELS, "push", "webhook")


def conditions(definition: AutomationDefinition) -> Iterator[tuple[str, Condition]]:
    """Every condition of the definition with its path: the audience and each split branch."""
    if definition.audience is not None:
        yield "audience", definition.audience
    for index, step in enumerate(definition.steps):
        if step.split is not None:
            for b, branch in enumerate(step.split.branches):
                yield f"steps[{index}].split.branches[{b}].when", branch.when


def event_filters(definition: AutomationDefinition) -> Iterator[tuple[str, str, EventFilter]]:
    """Every event filter with its role (trigger, goal, exit, wait_for) and path."""
    trigger = definition.trigger
    if trigger.event is not None:
        yield "trigger", "trigger.event", trigger.event
    if trigger.geofence is not None:
        yield "trigger", "trigger.geofence.event", trigger.geofence.event
    if definition.goal is not None:
        yield "goal", "goal.event", definition.goal.event
    for index, leave in enumerate(definition.exit):
        if leave.event is not None:
            yield "exit", f"exit[{index}].event", leave.event
    for index, step in enumerate(definition.steps):
        if step.wait_for is not None:
            yield "wait_for", f"steps[{index}].wait_for.event", step.wait_for.event


@dataclass
class Known:
    """The names the store knows, each read when first asked."""

    store: Store
    publishing: str | None = None
    """The automation being published: its own earlier versions do not lend it traits."""
    extra_traits: set[str] = field(default_factory=set)

    def _column(self, sql: str) -> set[str]:
        rows = self.store.engine.query(sql).column(0).to_pylist()
        return {str(v) for v in rows if v is not None}

    @cached_property
    def event_names(self) -> set[str]:
        return self._column("SELECT name FROM event_names") | set(OWN_EVENTS)

    @cached_property
    def seen_event_names(self) -> set[str]:
        """Names of events the store holds (parcours's own names only once written)."""
        return self._column("SELECT name FROM event_names")

    @cached_property
    def traits(self) -> set[str]:
        found = self._column(
            "SELECT DISTINCT unnest(json_keys(properties)) FROM customer_events "
            "WHERE type = 'identify' AND properties IS NOT NULL"
        )
        return found | self.set_by_automations | self.extra_traits

    @cached_property
    def set_by_automations(self) -> set[str]:
        """Traits the steps of current automations set (`set_trait`)."""
        found: set[str] = set()
        for row in current_rows(self.store):
            for step in orjson.loads(row["definition"]).get("steps", []):
                found |= set((step.get("set_trait") or {}).keys())
        return found

    @cached_property
    def identifier_types(self) -> set[str]:
        there = self._column("SELECT DISTINCT type FROM identity_map")
        return there | set(IDENTIFIER_TYPES) | {"user_id", "anonymous_id"}

    @cached_property
    def scores(self) -> set[str]:
        return self._column("SELECT DISTINCT score FROM customer_scores") | set(SCORES)

    @cached_property
    def segments(self) -> set[str]:
        return set(current_definitions(self.store.engine))

    @cached_property
    def consent_purposes(self) -> set[str]:
        return self._column(
            "SELECT DISTINCT json_extract_string(properties, '$.purpose') FROM customer_events "
            "WHERE name IN ('Consent Given', 'Consent Withdrawn') AND properties IS NOT NULL"
        )


def current_rows(store: Store) -> list[dict[str, Any]]:
    """The current version of every automation not retired: name, version, definition (JSON
    text), description, status, on_publish, published_at."""
    rows: list[dict[str, Any]] = store.engine.query(
        "SELECT name, version, definition, description, status, on_publish, published_at "
        "FROM automations a WHERE retired_at IS NULL "
        "AND version = (SELECT max(version) FROM automations WHERE name = a.name) ORDER BY name"
    ).to_pylist()
    return rows


def check(store: Store, definition: AutomationDefinition) -> None:
    """Refuse `definition` (an AutomationError listing every problem, each at its place) unless
    every name it uses is known to the store."""
    known = Known(store, definition.name, set(_own_traits(definition)))
    problems: list[str] = []

    def unknown(path: str, what: str, value: str, choices: Collection[str]) -> None:
        problems.append(
            f"{definition.place(path)}: unknown {what} {value!r} ({closest_names(value, choices)})"
        )

    for role, path, event in event_filters(definition):
        # A trigger event not seen yet is refused when a known name is close to it (a typo);
        # otherwise it is an event not collected yet (a welcome published before launch),
        # which the linter warns about.
        if (
            role == "trigger"
            and event.name is not None
            and event.name not in known.event_names
            and difflib.get_close_matches(event.name, list(known.event_names), n=1, cutoff=0.8)
        ):
            unknown(f"{path}.name", "event name", event.name, known.event_names)
        if event.channel is not None and event.channel not in EVENT_CHANNELS:
            unknown(f"{path}.channel", "channel", event.channel, EVENT_CHANNELS)
        if event.type is not None and event.type not in EVENT_TYPES:
            unknown(f"{path}.type", "event type", event.type, EVENT_TYPES)
    trigger = definition.trigger
    named_segments = [
        ("trigger.segment.name", trigger.segment.name if trigger.segment else None),
        ("trigger.schedule.audience", trigger.schedule.audience if trigger.schedule else None),
        *((f"exit[{i}].left_segment", e.left_segment) for i, e in enumerate(definition.exit)),
    ]
    for path, segment in named_segments:
        if segment is not None and segment not in known.segments:
            unknown(path, "segment", segment, known.segments)
    if trigger.date is not None and trigger.date.trait not in known.traits:
        unknown("trigger.date.trait", "trait", trigger.date.trait, known.traits)
    for where, condition in conditions(definition):
        for path, kind, leaf in leaves(condition, where):
            check_leaf(path, kind, leaf, known, known.segments, unknown, EVENT_CHANNELS)
    if problems:
        raise AutomationError(
            f"Automation {definition.name!r} cannot be published: " + "; ".join(problems),
            "use the names the store knows (parcours segments list, parcours customers show "
            "for traits, parcours stats for event names)",
            where=f"automation {definition.name}",
        )
    _compile_conditions(store, definition)


def _own_traits(definition: AutomationDefinition) -> Iterator[str]:
    for step in definition.steps:
        yield from (step.set_trait or {}).keys()


def _compile_conditions(store: Store, definition: AutomationDefinition) -> None:
    """Each condition compiled as the runtime will (comparators of the right kind: an age
    written as an age...), so that a publish refuses what the runtime could not evaluate."""
    builder = Builder(identity_rules(store.settings))
    for where, condition in conditions(definition):
        try:
            builder.compile(SegmentDefinition(name="automation-check", where=condition))
        except DefinitionError as error:
            raise AutomationError(
                f"Automation {definition.name!r} cannot be published: "
                f"{definition.place(where)}: {error.what}",
                error.fix,
                where=f"automation {definition.name}",
            ) from None
