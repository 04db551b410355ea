"""A segment's definition: a name, a description and a tree of conditions (docs/segments.md).

Written as YAML or TOML, or as the same structure (a dict) from Python and HTTP:

```yaml
name: loyal-buyers
description: Two orders in 30 days, reachable by email
where:
  all:
    - events: {name: Order Completed, within: 30d, count: {at_least: 2}}
    - events: {name: Order Completed, within: 365d, sum: amount, at_least: 500}
    - trait: {name: city, equals: Lyon}
    - has: {identifier: email}
    - consent: {channel: email, purpose: marketing}
    - journey: {visits: {at_least: 3}, within: 90d}
    - score: {name: health, below: 40}
    - not: {segment: churners}
```

Each node of `where` holds exactly one key: `all`, `any` or `not` (combinators), or a leaf:
`events`, `trait`, `has`, `consent`, `journey`, `score`, `segment`. A leaf compares a value of
the customer with one or more comparators (all must hold): `at_least`, `at_most`, `above`,
`below`, `equals`, `not_equals`, `in`, `between` ([low, high], both included). Windows and
ages are written `12h`, `30d`, `8w`.

This module checks the shape; `segments.checks` checks the names against the store.
A mistake is a `DefinitionError` naming the line (YAML), the path in the definition, what is
allowed and the closest valid name.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from parcours.collect.mapping import closest
from parcours.errors import ParcoursError

Scalar = bool | int | float | str

WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
WINDOW_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
"""Units of a window or an age: hours, days, weeks (a month is not a fixed length: 30d)."""
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
EVENT_FIELDS = ("amount", "wait_seconds", "duration_seconds")
"""What `sum` adds up: one of these columns, or a numeric event property `properties.KEY`."""
JOURNEY_FACTS = ("visits", "contacts", "cases", "repeated_contacts", "open_cases")


LONGEST_WINDOW_S = 36_500 * 86_400.0
"""A century: a longer window is a typo (and would overflow a timestamp)."""


class DefinitionError(ParcoursError):
    """A segment definition that cannot be saved as written."""

    http_status = 400


def window_seconds(text: str | int | float) -> float:
    """Seconds of a window written `12h`, `30d` or `8w`; anything else is refused naming the
    allowed units."""
    match = WINDOW.match(str(text)) if not isinstance(text, bool) else None
    if match is None or not match.group(2):
        raise ValueError(
            f"{text!r} is not a window: write a number and a unit, e.g. 30d "
            f"(units: h for hours, d for days, w for weeks)"
        )
    unit = match.group(2)
    if unit not in WINDOW_UNITS:
        raise ValueError(
            f"{text!r} has the unit {unit!r}, which windows do not take: the units are h "
            "(hours), d (days) and w (weeks); a month is written 30d, a year 365d"
        )
    seconds = float(match.group(1)) * WINDOW_UNITS[unit]
    if seconds > LONGEST_WINDOW_S:
        raise ValueError(f"{text!r} is longer than a century: write at most 36500d")
    return seconds


class Strict(BaseModel):
    """A part of a definition: unknown keys are refused with the closest known one."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = [f.alias or name for name, f in cls.model_fields.items()]
        for key in data:
            if key not in known and key not in cls.model_fields:
                near = closest(str(key), known)
                hint = f"did you mean {near!r}? " if near else ""
                raise ValueError(f"unknown key {key!r}: {hint}allowed here: {', '.join(known)}")
        return data


class Comparison(Strict):
    """Comparators, all of which must hold (none: the leaf's own default)."""

    at_least: Scalar | None = None
    at_most: Scalar | None = None
    above: Scalar | None = None
    below: Scalar | None = None
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    between: tuple[Scalar, Scalar] | None = None

    def comparators(self) -> list[tuple[str, Any]]:
        """The comparators given, as (name, value)."""
        return [
            ("in" if name == "in_" else name, getattr(self, name))
            for name in Comparison.model_fields
            if getattr(self, name) is not None
        ]


def _window(value: Any) -> Any:
    if value is not None:
        window_seconds(value)
    return value


class EventsCondition(Comparison):
    """An aggregate of the customer's events matching `name`, `channel`, `type` and
    `properties` within the last `within`: `count` (the default: at least one), `sum` of a
    field with the comparators beside it, or the age of the `first` / `last` one."""

    name: str | None = None
    channel: str | None = None
    type: str | None = None
    properties: dict[str, Scalar] = {}
    within: str | None = None
    count: Comparison | None = None
    sum: str | None = None
    first: Comparison | None = None
    last: Comparison | None = None

    _within = field_validator("within")(_window)

    @model_validator(mode="after")
    def _one_aggregate(self) -> EventsCondition:
        given = [a for a in ("count", "sum", "first", "last") if getattr(self, a) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of count, sum, first, last (this gives {given})")
        if self.comparators() and given != ["sum"]:
            raise ValueError(
                "comparators beside the event filter go with `sum` (sum: amount, at_least: "
                "500); a count is written count: {at_least: 2}"
            )
        if given == ["sum"] and not self.comparators():
            raise ValueError("`sum` needs a comparator beside it, e.g. sum: amount, at_least: 500")
        a_property = self.sum is not None and self.sum.startswith("properties.")
        if self.sum is not None and self.sum not in EVENT_FIELDS and not a_property:
            near = closest(self.sum, EVENT_FIELDS)
            hint = f"did you mean {near!r}? " if near else ""
            raise ValueError(
                f"cannot sum {self.sum!r}: {hint}sum one of {', '.join(EVENT_FIELDS)} "
                "or a numeric property as properties.KEY"
            )
        for age in (self.first, self.last):
            for _, value in age.comparators() if age else []:
                for one in value if isinstance(value, list | tuple) else [value]:
                    window_seconds(one)  # an age is a window: `last: {at_least: 90d}`
        return self


class TraitCondition(Comparison):
    """A profile trait (`identity.profile`, by survivorship): compared as text, or as a number
    when the comparator's value is one; no comparator: the customer has a value."""

    name: str


class HasCondition(Strict):
    """The customer holds an identifier of this type (email, phone, loyalty_id...)."""

    identifier: str


class ConsentCondition(Strict):
    """The customer's standing consent for `purpose` on `channel` is given (or, with
    `granted: false`, is not)."""

    channel: str
    purpose: str
    granted: bool = True


class JourneyCondition(Strict):
    """A journey fact within the last `within`: `visits` (journeys.visits), `contacts`,
    `cases`, `repeated_contacts` or `open_cases` (journeys.contacts)."""

    visits: Comparison | None = None
    contacts: Comparison | None = None
    cases: Comparison | None = None
    repeated_contacts: Comparison | None = None
    open_cases: Comparison | None = None
    within: str | None = None

    _within = field_validator("within")(_window)

    @model_validator(mode="after")
    def _one_fact(self) -> JourneyCondition:
        if len(self.facts()) != 1:
            raise ValueError(f"give exactly one journey fact of {', '.join(JOURNEY_FACTS)}")
        return self

    def facts(self) -> list[tuple[str, Comparison]]:
        return [(f, c) for f in JOURNEY_FACTS if (c := getattr(self, f)) is not None]


class ScoreCondition(Comparison):
    """A score of `customer_scores`: numbers compare its value, text its label."""

    name: str


LEAVES = ("events", "trait", "has", "consent", "journey", "score", "segment")
NODES = ("all", "any", "not", *LEAVES)


class Condition(Strict):
    """One node: exactly one of the combinators or leaves."""

    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    events: EventsCondition | None = None
    trait: TraitCondition | None = None
    has: HasCondition | None = None
    consent: ConsentCondition | None = None
    journey: JourneyCondition | None = None
    score: ScoreCondition | None = None
    segment: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        given = [k for k in NODES if getattr(self, "not_" if k == "not" else k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a condition holds exactly one of {', '.join(NODES)} "
                f"(this one holds {', '.join(given) or 'none'}): wrap several in all: [...]"
            )
        for combined in (self.all, self.any):
            if combined is not None and not combined:
                raise ValueError("all: and any: need at least one condition")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in NODES if getattr(self, "not_" if k == "not" else k) is not None)


class SegmentDefinition(Strict):
    """A segment as saved: its name, what it is for, and its conditions."""

    name: str
    description: str | None = None
    where: Condition
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)
    """Each path's line in the YAML it was read from (none from TOML, Python or HTTP)."""

    def place(self, path: str) -> str:
        """`path`, with its line when the definition came from YAML: where to fix it."""
        line = self._lines.get(path)
        return f"line {line}, {path}" if line else path

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(
                f"{value!r} cannot name a segment: use letters, digits, '-', '_', '.' or ':' "
                "(no spaces), starting with a letter or digit, e.g. loyal-buyers"
            )
        return value

    def to_json_dict(self) -> dict[str, Any]:
        """The definition as saved and shown: by its keys (`in`, `not`), without defaults."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    def segments_named(self) -> set[str]:
        """The other segments this one's conditions name."""
        found: set[str] = set()

        def walk(node: Condition) -> None:
            if node.segment is not None:
                found.add(node.segment)
            for child in (node.all or []) + (node.any or []) + ([node.not_] if node.not_ else []):
                walk(child)

        walk(self.where)
        return found


Condition.model_rebuild()


def parse_definition(
    data: Any, *, origin: str = "the definition", lines: yaml.Node | None = None
) -> SegmentDefinition:
    """`data` (a dict) as a definition, or a DefinitionError listing every mistake with its
    path (and line, when `lines` is the YAML it was read from)."""
    if not isinstance(data, dict):
        raise DefinitionError(
            f"{origin} is not a segment definition",
            "write a mapping with name, description and where (see docs/segments.md)",
            where=origin,
        )
    try:
        definition = SegmentDefinition.model_validate(data)
    except ValidationError as error:
        raise DefinitionError(
            f"{origin} cannot be saved: " + "; ".join(problems_of(error, lines)),
            "fix each place named (docs/segments.md lists every condition and comparator)",
            where=origin,
        ) from None
    if lines is not None:
        definition._lines = dict(yaml_paths(lines, ""))
    return definition


def problems_of(error: ValidationError, lines: yaml.Node | None) -> list[str]:
    """Each mistake pydantic found, as `line N, path: what is wrong` (the line when `lines`
    is the YAML the data was read from)."""
    problems = []
    for problem in error.errors():
        loc = [p for p in problem["loc"] if not _is_branch_tag(p)]
        line = yaml_line(lines, loc) if lines is not None else None
        at = f"line {line}, " if line else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        problems.append(f"{at}{path_text(loc) or 'top level'}: {message}")
    return problems


def load_definition(path: str | Path) -> SegmentDefinition:
    """A definition from a YAML (.yaml, .yml) or TOML (.toml) file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise DefinitionError(
            f"Cannot read {path}: {error.strerror}", "check the path", where=str(path)
        ) from None
    if path.suffix == ".toml":
        try:
            return parse_definition(tomllib.loads(text), origin=str(path))
        except tomllib.TOMLDecodeError as error:
            raise DefinitionError(
                f"{path} is not valid TOML: {error}", "fix the syntax", where=str(path)
            ) from None
    return parse_yaml(text, origin=str(path))


def parse_yaml(text: str, *, origin: str = "the definition") -> SegmentDefinition:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DefinitionError(
            f"{origin} is not valid YAML: {error}", "fix the syntax", where=origin
        ) from None
    return parse_definition(data, origin=origin, lines=node)


def path_text(loc: list[Any] | tuple[Any, ...]) -> str:
    """A path in a definition as people read it: where.all[0].events.within."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_branch_tag(part: Any) -> bool:
    # pydantic names the union member it tried (`bool`, `int`...): not a place in the file.
    return isinstance(part, str) and part in ("bool", "int", "float", "str", "list[...]")


def yaml_paths(node: yaml.Node, path: str) -> list[tuple[str, int]]:
    """Every path of the composed YAML with its 1-based line."""
    found = [(path, node.start_mark.line + 1)] if path else []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(getattr(key, "value", ""))
            found += yaml_paths(value, f"{path}.{name}" if path else name)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            found += yaml_paths(value, f"{path}[{i}]")
    return found


def yaml_line(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """The 1-based line of `loc` in the composed YAML, as deep as it can be followed."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line
