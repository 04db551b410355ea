"""A milestone's definition: a start event, objectives and a deadline, from YAML or Python.

```yaml
name: onboarding
description: 3 app sessions and a purchase within 30 days of joining the loyalty programme.
start: {event: Loyalty Enrolled}
deadline_days: 30
objectives:
  - {name: app_sessions, event: App Opened, channel: app, at_least: 3}
  - {name: purchase, event: Order Completed, at_least: 1}
```

An event is matched by its name, and optionally its channel and property values (as text:
`properties: {plan: premium}`). A mistake is refused on load with where it is and how to fix it
(`MilestoneDefinitionError`): an unknown key or channel (with the closest known one), a
deadline that is not a whole number of days, an objective asking for no event.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parcours.errors import BadRequest
from parcours.sql import json_path, lit
from parcours.store.schema import CHANNELS

TEMPLATES = Path(__file__).parent / "templates"
"""The shipped milestone templates (`onboarding`)."""


class MilestoneDefinitionError(BadRequest):
    """A milestone definition cannot be used as written."""


def _channel(value: str | None) -> str | None:
    if value is not None and value not in CHANNELS:
        near = difflib.get_close_matches(value.lower(), CHANNELS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"unknown channel {value!r}{hint}; channels: {', '.join(CHANNELS)}")
    return value


class EventMatch(BaseModel):
    """Events with this name, and this channel and these property values when given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str = Field(min_length=1, description="The event's name, e.g. `Order Completed`.")
    channel: str | None = Field(default=None, description="Only on this channel.")
    properties: dict[str, str] = Field(
        default_factory=dict, description="Property values the event must have (as text)."
    )

    _checked_channel = field_validator("channel")(_channel)


class Objective(EventMatch):
    """At least `at_least` matching events between the start and the deadline."""

    name: str = Field(description="A word naming the objective, e.g. `app_sessions`.")
    at_least: int = Field(default=1, ge=1, description="How many events meet the objective.")


class MilestoneDefinition(BaseModel):
    """A time-bounded success milestone (docs/segments.md, "Milestones")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="A lower-case word; the score is `milestone:<name>`.")
    description: str = ""
    start: EventMatch = Field(description="The event that starts a customer's clock.")
    deadline_days: int = Field(gt=0, description="Days from the start to meet the objectives.")
    objectives: list[Objective] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _word(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError(f"{value!r} is not a lower-case word like 'onboarding'")
        return value

    @field_validator("objectives")
    @classmethod
    def _distinct(cls, value: list[Objective]) -> list[Objective]:
        names = [o.name for o in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"objective names must differ: {', '.join(twice)} given twice")
        return value


def event_match(event: str, channel: str | None, properties: dict[str, str]) -> str:
    """The SQL condition on `customer_events` of events matching, values quoted."""
    conditions = [f"name = {lit(event)}"]
    if channel is not None:
        conditions.append(f"channel = {lit(channel)}")
    for key, value in sorted(properties.items()):
        path = lit(json_path(key))
        conditions.append(f"json_extract_string(properties, {path}) = {lit(value)}")
    return "(" + " AND ".join(conditions) + ")"


def milestone_from_dict(data: Any, where: str = "the definition") -> MilestoneDefinition:
    """A definition from its parsed YAML/JSON, or a `MilestoneDefinitionError` naming each
    problem and its place."""
    if not isinstance(data, dict):
        raise MilestoneDefinitionError(
            "The milestone definition is empty or not a table of fields",
            "give name, start, deadline_days and objectives (see docs/segments.md, Milestones)",
            where=where,
        )
    try:
        return MilestoneDefinition.model_validate(data)
    except ValidationError as error:
        raise MilestoneDefinitionError(
            f"The milestone definition is not valid: {_problems(error)}",
            "correct it (reference: docs/segments.md, Milestones; the shipped template: "
            "parcours scores milestones --show-template)",
            where=where,
        ) from error


def _problems(error: ValidationError) -> str:
    problems = []
    for e in error.errors():
        place = ".".join(str(p) for p in e["loc"]) or "definition"
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            known = _known_keys(e["loc"])
            near = difflib.get_close_matches(str(e["loc"][-1]), known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            message = f"unknown key{hint}; known keys: {', '.join(known)}"
        elif e["type"] == "int_parsing" and e["loc"][-1] == "deadline_days":
            message = f"{e['input']!r} is not a whole number of days: write e.g. 30"
        problems.append(f"{place}: {message}")
    return "; ".join(problems)


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    if len(loc) == 1:
        model: type[BaseModel] = MilestoneDefinition
    elif loc[0] == "objectives":
        model = Objective
    else:
        model = EventMatch
    return list(model.model_fields)


def load_milestone(reference: str | Path) -> MilestoneDefinition:
    """A definition from a YAML (or JSON) file, or the name of a shipped template."""
    shipped = TEMPLATES / f"{reference}.yaml"
    path = shipped if str(reference) in shipped_milestones() else Path(reference)
    if not path.is_file():
        raise MilestoneDefinitionError(
            f"No milestone file {str(reference)!r}",
            "give a path to a YAML milestone definition, or a shipped template: "
            + ", ".join(shipped_milestones()),
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise MilestoneDefinitionError(
            f"The milestone file cannot be parsed: {error}", "correct its syntax", where=str(path)
        ) from error
    return milestone_from_dict(data, str(path))


def shipped_milestones() -> list[str]:
    """Names of the milestone templates shipped with parcours."""
    return sorted(p.stem for p in TEMPLATES.glob("*.yaml"))
