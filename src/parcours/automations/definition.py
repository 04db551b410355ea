"""An automation's definition: a trigger, who may enter, the goal and exits, and the steps
(docs/automations.md).

Written as YAML (or the same structure as a dict, from Python and HTTP):

```yaml
name: welcome
description: Say hello to each new subscriber, then nudge them towards a first order.
trigger:
  event: {name: Signed Up}
entry: {re_entry: never}
holdout: 10                     # percent of entrants held out (no message), for the uplift
goal: {event: {name: Order Completed}, within: 30d}
exit:
  - event: {name: Consent Withdrawn, properties: {channel: email}}
steps:
  - id: hello
    send:
      channel: email
      purpose: marketing
      subject: "Welcome, {{ traits.first_name }}"
      body: "Hello {{ traits.first_name }}, ..."
  - id: pause
    wait: 3d
  - id: bought
    wait_for: {event: {name: Order Completed}, timeout: 7d, on_event: done}
  - id: nudge
    send: {channel: email, purpose: marketing, template: first-order-nudge}
  - id: done
    exit: {reason: converted}
```

A step holds `id` and exactly one action; it goes on to the next step in the list unless
it says `next:` (or branches). The last step, or `exit`, ends the instance. Conditions
(`audience`, a split's `when`) are written in the segments' language (segments.definition):
traits, identifiers, consents, event aggregates, journey facts, scores, segments.

This module checks the shape and the references between steps; `automations.lint` looks for
what is legal but probably wrong (branches that overlap, steps no path reaches, a wait with no
way out). A mistake is an `AutomationError` naming the line (YAML), the path and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from parcours.collect.mapping import closest
from parcours.errors import ParcoursError
from parcours.segments.definition import (
    NAME,
    Condition,
    Scalar,
    Strict,
    problems_of,
    yaml_paths,
)

DURATION = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
DURATION_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
"""Units of a wait, a timeout or an offset: seconds, minutes, hours, days, weeks."""
LONGEST_S = 3650 * 86400.0
"""Ten years: a longer wait is a typo."""
LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = ("email", "sms", "push", "webhook")
"""The channels an automation sends through (automations.channels)."""
PRIORITIES = ("transactional", "service", "marketing")
"""Send priorities, highest first: a budget spends on them in this order, and a marketing
message gives way to the other two."""
TASK_PRIORITIES = ("low", "normal", "high", "urgent")
ACTIONS = (
    "wait",
    "wait_until",
    "wait_for",
    "split",
    "random",
    "send",
    "set_trait",
    "tag",
    "task",
    "anonymise",
    "delete",
    "exit",
)
TRIGGERS = ("event", "segment", "date", "schedule", "http", "geofence")


class AutomationError(ParcoursError):
    """An automation definition that cannot be published as written."""

    http_status = 400


def duration_seconds(text: str | int | float, *, signed: bool = False) -> float:
    """Seconds of a duration written `90s`, `15min`, `12h`, `3d` or `2w` (`-30d` where
    `signed`: an offset before a date); anything else is refused naming the units."""
    match = DURATION.match(str(text)) if not isinstance(text, bool) else None
    if match is None or not match.group(2):
        raise ValueError(
            f"{text!r} is not a duration: write a number and a unit, e.g. 3d "
            f"(units: {', '.join(DURATION_UNITS)})"
        )
    number, unit = float(match.group(1)), match.group(2)
    if unit not in DURATION_UNITS:
        near = closest(unit, list(DURATION_UNITS))
        hint = f"did you mean {near!r}? " if near else ""
        raise ValueError(
            f"{text!r} has the unit {unit!r}: {hint}the units are s, min (minutes), h, d, w; "
            "a month is written 30d"
        )
    if number < 0 and not signed:
        raise ValueError(f"{text!r} is negative: a wait or a window lasts a positive time")
    seconds = number * DURATION_UNITS[unit]
    if abs(seconds) > LONGEST_S:
        raise ValueError(f"{text!r} is longer than ten years: write at most 3650d")
    return seconds


def _duration(value: Any) -> Any:
    if value is not None:
        duration_seconds(value)
    return value


def _local_time(value: str | None) -> str | None:
    if value is not None and not LOCAL_TIME.match(value):
        raise ValueError(f"{value!r} is not a time of day: write HH:MM on 24 hours, e.g. 09:30")
    return value


def _weekdays(value: list[str] | None) -> list[str] | None:
    for day in value or []:
        if day not in WEEKDAYS:
            near = closest(str(day), list(WEEKDAYS))
            hint = f"did you mean {near!r}? " if near else ""
            raise ValueError(f"{day!r} is not a weekday: {hint}write {', '.join(WEEKDAYS)}")
    return value


class EventFilter(Strict):
    """Events of this `name`, `channel` and `type` whose `properties` hold these values."""

    name: str | None = None
    channel: str | None = None
    type: str | None = None
    properties: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something(self) -> EventFilter:
        if self.name is None and self.channel is None and self.type is None:
            raise ValueError("name the events: give name, channel or type")
        return self


# --- triggers ----------------------------------------------------------------------------


class SegmentTrigger(Strict):
    """A customer entering (or leaving) a saved segment."""

    name: str
    on: Literal["entered", "left"] = "entered"


class DateTrigger(Strict):
    """A date trait (renewal_date, birth_date...) plus `offset` (`-30d`: thirty days before),
    at `at` in the customer's time zone."""

    trait: str
    offset: str = "0d"
    at: str = "09:00"

    @field_validator("offset")
    @classmethod
    def _offset(cls, value: str) -> str:
        duration_seconds(value, signed=True)
        return value

    _at = field_validator("at")(_local_time)


class ScheduleTrigger(Strict):
    """Every `every` (1d, 7d...) at `at` in the customer's time zone, on `weekdays`, the
    customers of `audience` (a segment; the automation's own `audience` condition applies)."""

    every: str = "1d"
    at: str = "09:00"
    weekdays: list[str] | None = None
    audience: str | None = None

    _every = field_validator("every")(_duration)
    _at = field_validator("at")(_local_time)
    _days = field_validator("weekdays")(_weekdays)


class HttpTrigger(Strict):
    """Entries by HTTP (`POST /v1/automations/{name}/entries`): a customer by identifier,
    with properties the steps can read."""


class Place(Strict):
    name: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=100_000)


class GeofenceTrigger(Strict):
    """A location event (properties `latitude` and `longitude`, as the app reports them)
    within `radius_m` of one of `places`."""

    event: EventFilter = EventFilter(name="Location Updated")
    places: list[Place] = Field(min_length=1)


class Trigger(Strict):
    """What starts an instance: exactly one of `TRIGGERS`."""

    event: EventFilter | None = None
    segment: SegmentTrigger | None = None
    date: DateTrigger | None = None
    schedule: ScheduleTrigger | None = None
    http: HttpTrigger | None = None
    geofence: GeofenceTrigger | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        given = [k for k in TRIGGERS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a trigger is exactly one of {', '.join(TRIGGERS)} "
                f"(this one gives {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in TRIGGERS if getattr(self, k) is not None)


class Entry(Strict):
    """Who may enter again: `never` (once per customer, ever), `after_exit` (not while an
    instance runs), `every_time` (each trigger; `key` then tells instances apart). `key` is
    a property of the trigger event (quote_id, cart_id): a `wait_for` matches events carrying
    the same value."""

    re_entry: Literal["never", "after_exit", "every_time"] = "after_exit"
    key: str | None = None


class Goal(Strict):
    """The conversion the automation is for: an event within `within` of entering. Reaching
    it ends the instance at once (also during a wait) and counts as converted."""

    event: EventFilter
    within: str = "30d"

    _within = field_validator("within")(_duration)


class ExitWhen(Strict):
    """Leave at once on such an event, or on leaving a segment."""

    event: EventFilter | None = None
    left_segment: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ExitWhen:
        if (self.event is None) == (self.left_segment is None):
            raise ValueError("an exit gives exactly one of event, left_segment")
        return self


# --- steps -------------------------------------------------------------------------------


class WaitUntil(Strict):
    """Until the next `time` on one of `weekdays`, in the customer's time zone."""

    time: str
    weekdays: list[str] | None = None

    _time = field_validator("time")(_local_time)
    _days = field_validator("weekdays")(_weekdays)


class WaitFor(Strict):
    """Until an `event` of the customer's (carrying the entry's key, when the entry has one)
    or `timeout`; then `on_event` or `on_timeout` (default: the next step)."""

    event: EventFilter
    timeout: str
    on_event: str | None = None
    on_timeout: str | None = None

    _timeout = field_validator("timeout")(_duration)


class Branch(Strict):
    when: Condition
    next: str


class Split(Strict):
    """The first branch whose condition holds, else `else`: mutually exclusive by
    construction."""

    branches: list[Branch] = Field(min_length=1)
    else_: str = Field(alias="else")


class Arm(Strict):
    name: str
    weight: float = Field(gt=0)
    next: str


class RandomSplit(Strict):
    """A seeded draw per customer (stable: the same customer always draws the same arm),
    weighted: an A/B test names its arms A and B."""

    branches: list[Arm] = Field(min_length=2)


class Send(Strict):
    """A message through `channel` for `purpose` (the consent it needs: marketing, service...),
    from `template` (a file of the templates folder) or `subject`/`body` written here, in
    Jinja2 over the profile (`traits`, `customer_id`, `entry` properties). A webhook posts to
    `url`. `priority` orders the budget (default: the purpose, if it is one of PRIORITIES,
    else marketing)."""

    channel: Literal["email", "sms", "push", "webhook"]
    purpose: str
    template: str | None = None
    subject: str | None = None
    body: str | None = None
    url: str | None = None
    priority: Literal["transactional", "service", "marketing"] | None = None

    @model_validator(mode="after")
    def _content(self) -> Send:
        if self.template is None and self.body is None and self.channel != "webhook":
            raise ValueError("a send needs its content: a template, or a body (and a subject)")
        if self.channel == "email" and self.template is None and self.subject is None:
            raise ValueError("an email needs a subject (or a template that has one)")
        if self.channel == "webhook" and not self.url:
            raise ValueError("a webhook needs the url it posts to")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"{self.url!r} is not an http(s) URL")
        return self

    @property
    def rank(self) -> str:
        """The priority class: given, else the purpose's, else marketing."""
        if self.priority is not None:
            return self.priority
        return self.purpose if self.purpose in PRIORITIES else "marketing"


class Task(Strict):
    """A task for an agent (the console's queue): `title` (Jinja2 too), due `due_in` after."""

    title: str
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    due_in: str = "1d"
    queue: str | None = None

    _due = field_validator("due_in")(_duration)


class Privacy(Strict):
    """Anonymise or delete the customer through the privacy service (logged)."""

    reason: str


class ExitStep(Strict):
    reason: str | None = None


class Step(Strict):
    """One step: its `id`, exactly one action of `ACTIONS`, and where it goes on to."""

    id: str
    wait: str | None = None
    wait_until: WaitUntil | None = None
    wait_for: WaitFor | None = None
    split: Split | None = None
    random: RandomSplit | None = None
    send: Send | None = None
    set_trait: dict[str, Scalar] | None = None
    tag: str | None = None
    task: Task | None = None
    anonymise: Privacy | None = None
    delete: Privacy | None = None
    exit: ExitStep | None = None
    next: str | None = None

    _wait = field_validator("wait")(_duration)

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a step does exactly one of {', '.join(ACTIONS)} "
                f"(this one gives {', '.join(given) or 'none'})"
            )
        if self.next is not None and given[0] in ("split", "random", "exit"):
            raise ValueError(f"a {given[0]} step says where it goes itself: remove next")
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    def targets(self) -> list[str]:
        """The step ids this step names (next, branches, wait_for's outcomes)."""
        found = [self.next] if self.next else []
        if self.split is not None:
            found += [b.next for b in self.split.branches] + [self.split.else_]
        if self.random is not None:
            found += [a.next for a in self.random.branches]
        if self.wait_for is not None:
            found += [t for t in (self.wait_for.on_event, self.wait_for.on_timeout) if t]
        return found


class AutomationDefinition(Strict):
    """An automation as published."""

    name: str
    description: str | None = None
    trigger: Trigger
    audience: Condition | None = None
    entry: Entry = Entry()
    holdout: float = Field(default=0, ge=0, le=50)
    """Percent of entrants held out (they go through the steps but are sent nothing)."""
    goal: Goal | None = None
    exit: list[ExitWhen] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(
                f"{value!r} cannot name an automation: use letters, digits, '-', '_', '.' or "
                "':' (no spaces), starting with a letter or digit, e.g. welcome"
            )
        return value

    @model_validator(mode="after")
    def _references(self) -> AutomationDefinition:
        ids = [s.id for s in self.steps]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"step ids must differ: {', '.join(twice)} used more than once")
        for index, step in enumerate(self.steps):
            for target in step.targets():
                if target not in ids:
                    near = closest(target, ids)
                    hint = f"did you mean {near!r}? " if near else ""
                    raise ValueError(
                        f"steps[{index}] ({step.id}) goes to {target!r}, which is no step: "
                        f"{hint}the steps are {', '.join(ids)}"
                    )
        key = self.entry.key
        if self.entry.re_entry == "every_time" and key is None and self.trigger.event is None:
            raise ValueError(
                "entry.re_entry every_time needs an event trigger or entry.key, to tell "
                "one entry from the next"
            )
        return self

    def place(self, path: str) -> str:
        """`path`, with its line when the definition came from YAML."""
        line = self._lines.get(path)
        return f"line {line}, {path}" if line else path

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def after(self, step_id: str) -> str | None:
        """Where `step_id` goes on to when it names nothing: the next in the list (None: the
        end)."""
        step = self.step(step_id)
        if step.next is not None:
            return step.next
        index = [s.id for s in self.steps].index(step_id)
        return self.steps[index + 1].id if index + 1 < len(self.steps) else None

    def to_json_dict(self) -> dict[str, Any]:
        """The definition as saved and shown: by its keys (`else`), without defaults."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def parse_automation(
    data: Any, *, origin: str = "the automation", lines: yaml.Node | None = None
) -> AutomationDefinition:
    """`data` (a dict) as an automation, or an AutomationError listing every mistake with its
    path (and line, when `lines` is the YAML it was read from)."""
    if not isinstance(data, dict):
        raise AutomationError(
            f"{origin} is not an automation",
            "write a mapping with name, trigger and steps (see docs/automations.md)",
            where=origin,
        )
    try:
        definition = AutomationDefinition.model_validate(data)
    except ValidationError as error:
        raise AutomationError(
            f"{origin} cannot be published: " + "; ".join(problems_of(error, lines)),
            "fix each place named (docs/automations.md lists every trigger and step)",
            where=origin,
        ) from None
    if lines is not None:
        definition._lines = dict(yaml_paths(lines, ""))
    return definition


def parse_automation_yaml(text: str, *, origin: str = "the automation") -> AutomationDefinition:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AutomationError(
            f"{origin} is not valid YAML: {error}", "fix the syntax", where=origin
        ) from None
    return parse_automation(data, origin=origin, lines=node)


def load_automation(path: str | Path) -> AutomationDefinition:
    """An automation from a YAML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise AutomationError(
            f"Cannot read {path}: {error.strerror}", "check the path", where=str(path)
        ) from None
    return parse_automation_yaml(text, origin=str(path))
