"""Import mappings: how the columns of a company's file become canonical event fields.

A mapping is a YAML or TOML file. Every canonical field takes either a field name of the source
(`agent: agent_id`) or a spec (`channel: {value: call}`, `intent: {field: reason, map: {...}}`).
A plain string always names a source field; a constant is written `{value: ...}`. See
`docs/mappings.md` for the whole reference and `collect/mappings/` for ready-made ones.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import zoneinfo
from collections.abc import Collection
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parcours.errors import MappingError
from parcours.store.schema import CHANNELS, EVENT_TYPES

TimestampFormat = str
"""`iso` (ISO 8601, offset or zone name optional), `epoch_s`, `epoch_ms`, or a strptime format
like `%d/%m/%Y %H:%M`."""

NAMED_FORMATS = ("iso", "epoch_s", "epoch_ms")
"""The timestamp formats known by name; any other format is a strptime pattern (with `%`)."""


def closest(value: str, choices: Collection[str]) -> str | None:
    """The choice most like `value` (ignoring case), for a "did you mean" hint; None if none
    is close."""
    by_folded = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(value.lower(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[found[0]] if found else None


def _did_you_mean(value: str, choices: Collection[str]) -> str:
    near = closest(value, choices)
    return f" (did you mean {near!r}?)" if near else ""


@cache
def known_zones() -> frozenset[str]:
    """IANA zone names of the time zone database Python sees (system or `tzdata`)."""
    return frozenset(zoneinfo.available_timezones())


def _check_format(value: str, *, in_list: bool) -> str:
    if value in NAMED_FORMATS and not in_list:
        return value
    if value in NAMED_FORMATS:
        raise ValueError(
            f"format {value!r} stands alone: a list holds strptime patterns like '%d/%m/%Y %H:%M'"
        )
    if "%" not in value:
        raise ValueError(
            f"unknown timestamp format {value!r}{_did_you_mean(value, NAMED_FORMATS)}: a "
            f"format is {', '.join(NAMED_FORMATS)}, or a strptime pattern such as '%d/%m/%Y %H:%M'"
        )
    return value


class SkewSpec(BaseModel):
    """Segment's clock-skew correction: occurred = received − (sent − timestamp), when the
    record carries when its client sent it and when the server received it."""

    model_config = ConfigDict(extra="forbid")

    sent: str
    received: str


class FieldSpec(BaseModel):
    """Where one canonical field comes from, and how its value is read."""

    model_config = ConfigDict(extra="forbid")

    field: str | list[str] | None = Field(
        default=None,
        description="Source field (a dotted path in JSON); a list takes the first non-empty.",
    )
    value: str | None = Field(default=None, description="A constant for every record.")
    map: dict[str, str] | None = Field(
        default=None, description="Value map, matched case-insensitively after trimming."
    )
    keywords: dict[str, list[str]] | None = Field(
        default=None,
        description="Text rules: the first value (in the order written) one of whose words or "
        "phrases occurs in the text, as whole words, ignoring case; none: empty.",
    )
    default: str | None = Field(default=None, description="Used when the field is empty.")
    optional: bool = Field(
        default=False,
        description="A field whole exports may lack (an SDK's optional property): never "
        "reported as found in no record (see collect.presence).",
    )
    format: TimestampFormat | list[TimestampFormat] | None = Field(
        default=None, description="Timestamps: iso, epoch_s, epoch_ms or strptime format(s)."
    )
    timezone: str | None = Field(
        default=None, description="Zone of timestamps written without an offset (IANA name)."
    )
    country: str | None = Field(
        default=None, description="Phones: calling code for national numbers, e.g. '33'."
    )
    unit: Literal["seconds", "minutes", "milliseconds", "hms"] | None = Field(
        default=None, description="Durations: the unit of the source value."
    )
    decimal: Literal[".", ","] | None = Field(
        default=None, description="Numbers: the decimal separator (',' also drops '.' grouping)."
    )
    skew: SkewSpec | None = Field(
        default=None, description="Timestamps: correct the client's clock (Segment's rule)."
    )

    @field_validator("format")
    @classmethod
    def _known_format(
        cls, value: TimestampFormat | list[TimestampFormat] | None
    ) -> TimestampFormat | list[TimestampFormat] | None:
        if isinstance(value, list):
            if not value:
                raise ValueError("`format` lists at least one strptime pattern")
            return [_check_format(v, in_list=True) for v in value]
        return None if value is None else _check_format(value, in_list=False)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        zones = known_zones()
        # Without a time zone database there is nothing to check against; the engine's is used.
        if value is None or not zones or value in zones:
            return value
        # The name in another case is unambiguous: it is written as the database writes it.
        same = [zone for zone in zones if zone.lower() == value.lower()]
        if len(same) == 1:
            return same[0]
        raise ValueError(
            f"unknown time zone {value!r}{_did_you_mean(value, zones)}: a zone is an IANA name "
            "such as 'Europe/Paris', 'America/New_York' or 'UTC'"
        )

    @property
    def sources(self) -> list[str]:
        """The source fields read, in order of preference."""
        if self.field is None:
            return []
        return [self.field] if isinstance(self.field, str) else list(self.field)

    def describe(self) -> str:
        """Where the value comes from, for messages: `field "x"` or `fields "x" or "y"`."""
        if not self.sources:
            return "the mapping's constant"
        quoted = " or ".join(f'"{name}"' for name in self.sources)
        return f"field{'s' if len(self.sources) > 1 else ''} {quoted}"

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        if self.field is None and self.value is None and self.default is None:
            raise ValueError("give `field` (a source field) or `value` (a constant)")
        if self.field is not None and self.value is not None:
            raise ValueError("give either `field` or `value`, not both")
        if isinstance(self.field, list) and not self.field:
            raise ValueError("`field` lists at least one field")
        if self.keywords is not None:
            if self.field is None or self.map is not None:
                raise ValueError("`keywords` reads a `field`'s text, and takes no `map`")
            empty = [value for value, words in self.keywords.items() if not any(words)]
            if empty:
                raise ValueError(f"`keywords` gives {empty[0]!r} no word to look for")
        if self.country is not None:
            digits = self.country.lstrip("+")
            if not digits.isdigit():
                raise ValueError(f"country must be a calling code like '33', not {self.country!r}")
            self.country = digits
        return self


Spec = FieldSpec | None

SCALAR_FIELDS = (
    "event_id",
    "type",
    "channel",
    "occurred_at",
    "sent_at",
    "anonymous_id",
    "user_id",
    "session_id",
    "intent",
    "outcome",
    "agent",
    "team",
    "amount",
    "currency",
    "wait_seconds",
    "duration_seconds",
    "text",
    "context",
)
"""Canonical fields a mapping may declare, besides `event` (the name) and `identifiers`."""


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delimiter: str = ","
    quote: str = '"'
    header: bool = True
    encoding: str = "utf8"


class Mapping(BaseModel):
    """A whole mapping file, validated once when loaded."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    format: Literal["csv", "jsonl", "parquet"] | None = None
    csv: CsvOptions = CsvOptions()

    event_id: Spec = None
    type: Spec = FieldSpec(value="track")
    name_: Spec = Field(default=None, alias="event")
    channel: Spec = None
    occurred_at: Spec = None
    sent_at: Spec = None
    anonymous_id: Spec = None
    user_id: Spec = None
    identifiers: dict[str, FieldSpec] = {}
    session_id: Spec = None
    intent: Spec = None
    outcome: Spec = None
    agent: Spec = None
    team: Spec = None
    amount: Spec = None
    currency: Spec = None
    wait_seconds: Spec = None
    duration_seconds: Spec = None
    text: Spec = None
    context: Spec = None
    properties: Literal["*"] | list[str] | FieldSpec = Field(
        default="*",
        description="'*' keeps every unmapped field; or a list of fields; or {field: x}, a JSON "
        "object field taken as the properties.",
    )

    @field_validator(
        *SCALAR_FIELDS,
        "name_",
        mode="before",
    )
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"field": value} if isinstance(value, str) else value

    @field_validator("identifiers", mode="before")
    @classmethod
    def _identifier_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: ({"field": v} if isinstance(v, str) else v) for k, v in value.items()}

    @field_validator("identifiers")
    @classmethod
    def _identifier_names(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for kind in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", kind):
                raise ValueError(f"identifier type {kind!r} must be a lower-case word like 'email'")
            if kind in ("anonymous_id", "user_id"):
                raise ValueError(f"{kind} is a field of its own: write it at the top level")
        return value

    @model_validator(mode="after")
    def _required(self) -> Mapping:
        if self.channel is None:
            raise ValueError(
                "channel is required: a constant like {value: call} or a field with a map"
            )
        if self.occurred_at is None:
            raise ValueError("occurred_at is required: the field that says when it happened")
        if not (self.anonymous_id or self.user_id or self.identifiers):
            raise ValueError("declare at least one of anonymous_id, user_id or identifiers")
        for label, spec, allowed in (
            ("channel", self.channel, CHANNELS),
            ("type", self.type, EVENT_TYPES),
        ):
            if spec is None:
                continue
            given = [spec.value, spec.default, *(spec.map or {}).values()]
            bad = [v for v in given if v is not None and v.lower() not in allowed]
            if bad:
                raise ValueError(f"{label} value {bad[0]!r} is not one of {', '.join(allowed)}")
        return self

    def fields(self) -> dict[str, FieldSpec]:
        """The declared scalar fields by canonical name (identifiers excluded)."""
        names = SCALAR_FIELDS
        declared = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if self.name_ is not None:
            declared["name"] = self.name_
        return declared

    def used_source_fields(self) -> set[str]:
        specs = [*self.fields().values(), *self.identifiers.values()]
        skews = [s.skew for s in specs if s.skew is not None]
        return {name for spec in specs for name in spec.sources} | {
            name for skew in skews for name in (skew.sent, skew.received)
        }


SHIPPED = resources.files("parcours.collect") / "mappings"


def shipped_mappings() -> list[str]:
    """Names of the ready-made mappings shipped with parcours."""
    return sorted(
        p.name.removesuffix(".yaml") for p in SHIPPED.iterdir() if p.name.endswith(".yaml")
    )


def load_mapping(reference: str | Path) -> tuple[Mapping, str]:
    """Load a mapping by path or by the name of a shipped one; return it and where it was."""
    path = Path(reference)
    if path.exists():
        text, where = path.read_text(), str(path)
    elif (SHIPPED / f"{reference}.yaml").is_file():
        text, where = (SHIPPED / f"{reference}.yaml").read_text(), f"{reference} (shipped)"
        path = Path(f"{reference}.yaml")
    else:
        raise MappingError(
            f"No mapping file {reference!r}",
            f"give a path to a YAML or TOML mapping, or one of the shipped mappings: "
            f"{', '.join(shipped_mappings())}",
        )
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise MappingError(
            f"The mapping cannot be parsed: {error}", "correct its syntax", where=where
        ) from error
    if not isinstance(data, dict):
        raise MappingError(
            "The mapping is empty or not a table of fields", "see docs/mappings.md", where=where
        )
    try:
        return Mapping.model_validate(data), where
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise MappingError(
            f"The mapping is not valid: {problems}",
            "correct the mapping (reference: docs/mappings.md)",
            where=where,
        ) from error
