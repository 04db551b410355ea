"""Funnels: how many customers go through the steps, where they leak, and who they are.

The engine selects the events that match a step (or an exclusion), in journey order (each
customer's in time order, customer after customer); the funnel itself is then walked for all
customers at once, with array operations (the way ClickHouse's `windowFunnel` walks one
customer's events, but vectorised): no per-customer loop and no window query. Each step is
walked over its own events only: for each, a binary search among the rows where chains reached
the previous step finds the chain it continues, so a rare step costs little however many events
the first step has, and 64 steps cost 64 such searches.

How a chain advances, per order:

* `ordered` (the default, ClickHouse's `windowFunnel`): step j+1 is any later event matching it,
  other events may come between, and the whole chain fits in the conversion window counted
  from step 1. Each event at step j+1 continues the chain, among those that reached step j
  before it, that started last (the one with the most time left), as windowFunnel does.
* `strict`: step j+1 is the customer's very next event in the scope; anything else between
  breaks the chain.
* `any`: the steps in any order; a customer's level is the most distinct steps done within
  one window.

An optional step counts those who did it but lets others through to the next step; an
exclusion step (an event name, between two steps) breaks every chain it falls inside. Events
at the same instant are taken in one fixed order (source, then event id), and an event can
serve one step of a chain only (a step repeated needs two events).

Counts per step: customers who reached it (unique), chains that completed (total conversions),
conversion from the previous step and from the first, drop-off (the leak), and the time to
convert (median and 90th percentile, first completion per customer). A breakdown (channel or
any property) attributes each customer by first touch (their step-1 event), last touch (the
last step they reached) or per step (each step's own event).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from parcours.errors import BadRequest, ParcoursError
from parcours.journeys.funnel_walk import Ints, Reading, Walk, Walked, chains, distinct
from parcours.journeys.ordered import ids_of
from parcours.journeys.scope import Scope, checked_expression, parse_duration
from parcours.sql import lit
from parcours.store.schema import CHANNELS
from parcours.store.store import Store

Order = Literal["ordered", "strict", "any"]
Attribution = Literal["first", "last", "step"]
ORDERS: tuple[Order, ...] = ("ordered", "strict", "any")
ATTRIBUTIONS: tuple[Attribution, ...] = ("first", "last", "step")


@dataclass(frozen=True)
class Step:
    """An event name (or `*` for any), on one channel or any, with an optional condition."""

    name: str
    channel: str | None = None
    where: str | None = None
    optional: bool = False

    @classmethod
    def parse(cls, text: str) -> Step:
        """`Order Completed`, `store:Order Completed`, `call:*`; a trailing `?` makes it
        optional."""
        optional = text.endswith("?")
        text = text.removesuffix("?").strip()
        channel, sep, name = text.partition(":")
        if sep and channel in CHANNELS:
            return cls(name.strip() or "*", channel, optional=optional)
        return cls(text, optional=optional)

    @property
    def plain(self) -> bool:
        """Whether the step is an event name and nothing more."""
        return self.name != "*" and self.channel is None and self.where is None

    def sql(self) -> str:
        parts = [] if self.name == "*" else [f"name = {lit(self.name)}"]
        if self.channel:
            parts.append(f"channel = {lit(self.channel)}")
        if self.where:
            parts.append(f"({checked_expression(self.where)})")
        return " AND ".join(parts) or "true"

    def label(self) -> str:
        text = f"{self.channel}:{self.name}" if self.channel else self.name
        return text + (" (optional)" if self.optional else "")


@dataclass(frozen=True)
class Exclusion:
    """Customers doing `step` between step `after` and step `before` (1-based) leave the
    chain there."""

    step: Step
    after: int
    before: int

    @classmethod
    def parse(cls, text: str) -> Exclusion:
        """`Refund Requested@1-3`: the event, then the two steps it must not come between."""
        name, sep, span = text.rpartition("@")
        first, dash, second = span.partition("-")
        if not sep or not dash or not first.isdigit() or not second.isdigit():
            raise BadRequest(
                f"Cannot read the exclusion {text!r}",
                "write EVENT@A-B, e.g. 'Refund Requested@1-3'",
            )
        return cls(Step.parse(name), int(first), int(second))


@dataclass
class FunnelResult:
    """`journeys funnel` as data; `to_dict()` is the stable JSON."""

    steps: list[dict[str, Any]]
    order: str
    window_seconds: float
    customers: int
    """Customers in the scope with an event at step 1."""
    breakdown: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What may make the counts other than meant: steps naming events the store never saw."""
    _levels: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    """Per customer (by number), the steps reached."""
    _ids: Callable[[Ints], list[str]] = field(default=lambda numbers: [], repr=False)
    """The ids of customers (by number), read from the store when asked."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "order": self.order,
            "window_seconds": self.window_seconds,
            "customers": self.customers,
            "breakdown": self.breakdown,
            "warnings": self.warnings,
        }

    def customers_at(self, step: int, *, dropped: bool = False) -> list[str]:
        """The customers behind a number: who reached step `step` (1-based), or, with
        `dropped`, who reached the step before and not this one (the leak)."""
        if dropped and step < 2:
            return []
        levels = self._levels
        reached = levels == step - 1 if dropped else levels >= step
        return sorted(self._ids(np.flatnonzero(reached)))


def funnel(
    store: Store,
    steps: Sequence[Step | str],
    scope: Scope | None = None,
    *,
    window: str | float = "7d",
    order: Order | str = "ordered",
    exclusions: list[Exclusion] | None = None,
    breakdown: str | None = None,
    attribution: Attribution | str = "first",
) -> FunnelResult:
    """Count the funnel `steps` (see the module's docstring). `breakdown` is `channel`, an
    event column, or `properties.<key>`. A step naming an event the store has never seen is
    counted (as nobody) and warned about, on the result and through `warnings`."""
    if isinstance(steps, str):
        raise BadRequest(
            f"The funnel's steps are one text, {steps!r}",
            f"pass a list of steps, e.g. [{steps!r}, 'Order Completed']",
        )
    parsed = [s if isinstance(s, Step) else Step.parse(s) for s in steps]
    exclusions = exclusions or []
    order, attribution = _check(parsed, exclusions, order, attribution)
    seconds = parse_duration(window)
    reading = Reading.of(parsed, exclusions, breakdown)
    walk = Walk(reading.read(store, scope or Scope(), order), reading, len(parsed))
    walked = (
        walk.any_order(seconds)
        if order == "any"
        else walk.chains(parsed, exclusions, seconds, strict=order == "strict")
    )
    result = _result(parsed, order, seconds, walk, walked, breakdown, attribution)
    result._ids = _ids_reader(store, walk.keys)
    result.warnings = unknown_step_warnings(store, reading.conditions)
    for warning in result.warnings:
        warnings.warn(warning, UnknownStepWarning, stacklevel=2)
    return result


class UnknownStepWarning(UserWarning):
    """A funnel step names an event the store has never seen: a typo, most often."""


def unknown_step_warnings(store: Store, steps: Sequence[Step]) -> list[str]:
    """A sentence for each step (or exclusion) naming an event no resolved event has, with the
    closest names the store knows: a misspelt name counts nobody, silently otherwise."""
    named = dict.fromkeys(s.name for s in steps if s.name != "*")  # once each, in order
    if not named:
        return []
    names: list[str] = store.engine.query("SELECT name FROM event_names").column(0).to_pylist()
    known = set(names)
    found = []
    for name in named:
        if name in known:
            continue
        closest = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in closest)}?" if closest else ""
        found.append(f"No event is named {name!r}, so no one does that step{hint}")
    return found


def _ids_reader(store: Store, keys: Ints) -> Callable[[Ints], list[str]]:
    """What reads the ids of customers (by number) from the store, while it is open."""

    def ids(numbers: Ints) -> list[str]:
        if store.closed:
            raise ParcoursError(
                "The store this funnel was counted on is closed, so its customers cannot be read",
                "ask for them (customers_at) before the connection closes, inside "
                "`with parcours.connect(...)`",
            )
        return ids_of(store, keys[numbers].tolist())

    return ids


def _check(
    steps: list[Step], exclusions: list[Exclusion], order: str, attribution: str
) -> tuple[Order, Attribution]:
    """The funnel as asked, or a clear error; returns the order and attribution, checked."""
    if len(steps) < 2:
        raise BadRequest("A funnel needs at least two steps", "name two events or more")
    if steps[0].optional:
        raise BadRequest("The first step cannot be optional", "make a later step optional")
    if order not in ORDERS:
        raise BadRequest(f"Unknown funnel order {order!r}", f"use one of {', '.join(ORDERS)}")
    if attribution not in ATTRIBUTIONS:
        raise BadRequest(
            f"Unknown attribution {attribution!r}", f"use one of {', '.join(ATTRIBUTIONS)}"
        )
    for x in exclusions:
        if not 1 <= x.after < x.before <= len(steps):
            raise BadRequest(
                f"The exclusion {x.step.label()} sits between steps {x.after} and {x.before}",
                f"give two steps between 1 and {len(steps)}, the first before the second",
            )
    if order == "any" and (exclusions or any(s.optional for s in steps)):
        raise BadRequest(
            "An any-order funnel has no optional or exclusion steps",
            "use an ordered funnel for those",
        )
    return ORDERS[ORDERS.index(order)], ATTRIBUTIONS[ATTRIBUTIONS.index(attribution)]


def _result(
    steps: list[Step],
    order: Order,
    window: float,
    walk: Walk,
    walked: Walked,
    breakdown: str | None,
    attribution: Attribution,
) -> FunnelResult:
    level = walked.level
    total = int((level >= 1).sum())
    rows: list[dict[str, Any]] = []
    previous = total
    for j, step in enumerate(steps):
        count = int((level >= j + 1).sum())
        own = walked.own[j]
        if step.optional:
            count = distinct(walk.customer[own.rows], walk.customers)
        rows.append(
            {
                "step": j + 1,
                "name": step.label(),
                "customers": count,
                "conversions": chains(own, walk.n),
                "from_previous": round(count / previous, 4) if previous else None,
                "from_first": round(count / total, 4) if total else None,
                "dropped": max(previous - count, 0) if j else 0,
            }
        )
        if not step.optional:
            previous = count
    done = walked.completion >= 0
    seconds = (walk.at[walked.completion[done]] - walk.at[walked.start[done]]) / 1e6
    if len(seconds):
        rows[-1]["median_seconds_to_convert"] = float(np.median(seconds))
        rows[-1]["p90_seconds_to_convert"] = float(np.percentile(seconds, 90))
    result = FunnelResult(rows, order, window, total, _levels=level)
    if breakdown is not None:
        result.breakdown = _breakdown(walk, walked, len(steps), attribution)
    return result


def _breakdown(
    walk: Walk, walked: Walked, steps: int, attribution: Attribution
) -> list[dict[str, Any]]:
    """Customers per step and breakdown value, attributed as asked."""
    distinct, codes = walk.journeys.codes("bd")
    values = [*distinct, None]
    codes = np.where(codes < 0, len(values) - 1, codes)
    tally = np.zeros((len(values), steps), dtype=np.int64)
    for j in range(steps):
        if attribution == "step":
            first = walked.first_rows[j]
            rows = first[first < walk.n]
        else:
            row = walked.start if attribution == "first" else walked.last
            rows = row[walked.level >= j + 1]
        np.add.at(tally[:, j], codes[rows], 1)
    order = np.lexsort((np.arange(len(values)), -tally[:, 0]))
    return [
        {"value": values[v], **{f"step_{j + 1}": int(tally[v, j]) for j in range(steps)}}
        for v in order
        if tally[v].any()
    ]
