"""A tier ladder: the levels of a loyalty programme and the rules that move customers between
them (docs/segments.md, "Tiers").

A ladder measures each customer (orders counted, or money spent) over a qualification window,
at every review (each day, or each week), optionally as a rate (`per: 7d`: per week). The
customer qualifies for the highest level whose `min` the measure reaches. A customer is
upgraded at the review they qualify, and keeps a level for `grace` after the last review they
qualified for it: the tier at a review is the highest level qualified for at any review of the
grace period ending with it. Ladders are YAML (or the same structure in Python); two ship:
`orders` (the seed's Silver / Gold / Platinum on orders a week) and `spend`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parcours.errors import BadRequest, ParcoursError
from parcours.journeys.contacts import PURCHASE
from parcours.journeys.scope import parse_duration

SHIPPED = Path(__file__).with_name("ladders")
DAY = 86400
REVIEW_DAYS = {"day": 1, "week": 7}


class LadderError(ParcoursError):
    """A tier ladder cannot be used as written."""

    http_status = 400


class Level(BaseModel):
    """One level: its name and the measure it needs (at least `min`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    min: float = Field(gt=0)


def _days(text: str | int, what: str) -> int:
    try:
        seconds = parse_duration(text)
    except BadRequest as error:
        raise ValueError(f"{what} {text!r} is not a duration like 28d or 4w") from error
    if seconds % DAY:
        raise ValueError(f"{what} {text!r} is not a whole number of days (write 28d or 4w)")
    return int(seconds // DAY)


class Ladder(BaseModel):
    """A tier ladder; `window`, `per` and `grace` are durations in whole days ("28d", "4w")."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    measure: Literal["orders", "spend"]
    """orders: purchases counted; spend: their amounts summed."""
    purchase: str = PURCHASE
    """The event that is a purchase."""
    window: str
    """The qualification window: the measure covers the events of this long before a review."""
    per: str | None = None
    """Express the measure as a rate per this long (7d: per week); none: the window's total."""
    review: Literal["day", "week"] = "day"
    """When tiers are reviewed: each midnight UTC, or each Monday midnight UTC."""
    grace: str = "0d"
    """How long a customer keeps a level after the last review they qualified for it."""
    base: str = "Member"
    """The name of the level under the first (tier 0)."""
    levels: list[Level] = Field(min_length=1)

    @field_validator("window", "per", "grace")
    @classmethod
    def _whole_days(cls, value: str | None) -> str | None:
        if value is not None:
            _days(value, "the duration")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Ladder:
        names = [level.name for level in self.levels] + [self.base]
        if len(set(names)) != len(names):
            raise ValueError(f"level names must differ (base included): {names}")
        mins = [level.min for level in self.levels]
        if mins != sorted(mins) or len(set(mins)) != len(mins):
            raise ValueError(f"levels must go up, each min above the last: {mins}")
        if self.window_days < 1:
            raise ValueError("window must be at least 1d")
        if self.per is not None and self.per_days < 1:
            raise ValueError("per must be at least 1d")
        if self.grace_days % REVIEW_DAYS[self.review]:
            raise ValueError(
                f"grace {self.grace} is not a whole number of reviews ({self.review}): "
                "write it in weeks for a weekly review"
            )
        return self

    @property
    def window_days(self) -> int:
        return _days(self.window, "window")

    @property
    def per_days(self) -> int:
        return _days(self.per, "per") if self.per else self.window_days

    @property
    def grace_days(self) -> int:
        return _days(self.grace, "grace")

    @property
    def review_days(self) -> int:
        return REVIEW_DAYS[self.review]

    @property
    def version(self) -> str:
        """`name:hash` of the definition: a changed ladder is a new version."""
        digest = hashlib.sha256(orjson.dumps(self.model_dump(), option=orjson.OPT_SORT_KEYS))
        return f"{self.name}:{digest.hexdigest()[:10]}"

    def label(self, level: int) -> str:
        return self.base if level == 0 else self.levels[level - 1].name


def shipped_ladders() -> list[str]:
    return sorted(path.stem for path in SHIPPED.glob("*.yaml"))


def load_ladder(reference: str | Path | Ladder) -> Ladder:
    """A ladder given as itself, a path to a YAML file, or the name of a shipped one."""
    if isinstance(reference, Ladder):
        return reference
    path = Path(reference)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text, where = path.read_text(), str(path)
    elif (SHIPPED / f"{reference}.yaml").is_file():
        text, where = (SHIPPED / f"{reference}.yaml").read_text(), f"{reference} (shipped)"
    else:
        raise LadderError(
            f"No tier ladder {str(reference)!r}",
            f"give a path to a YAML ladder, or a shipped one: {', '.join(shipped_ladders())}",
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise LadderError(
            f"The ladder cannot be parsed: {error}", "correct its YAML", where=where
        ) from error
    if not isinstance(data, dict):
        raise LadderError(
            "The ladder is not a table of fields", "see docs/segments.md", where=where
        )
    return ladder_of(data, where)


def ladder_of(data: dict[str, object], where: str = "the ladder") -> Ladder:
    """A ladder from its structure (YAML, JSON, Python), or a LadderError naming each problem."""
    try:
        return Ladder.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'ladder'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise LadderError(
            f"The tier ladder is not valid: {problems}",
            "correct it (reference: docs/segments.md, Tiers)",
            where=where,
        ) from error
