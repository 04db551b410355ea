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
import numpy.typing as npt

from parcours.errors import BadRequest, ParcoursError
from parcours.journeys.ordered import Journeys, ids_of, read_journeys
from parcours.journeys.scope import Scope, checked_expression, parse_duration
from parcours.sql import lit
from parcours.store.schema import CHANNELS
from parcours.store.store import Store

Order = Literal["ordered", "strict", "any"]
Attribution = Literal["first", "last", "step"]
ORDERS: tuple[Order, ...] = ("ordered", "strict", "any")
ATTRIBUTIONS: tuple[Attribution, ...] = ("first", "last", "step")
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


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
    reading = _Reading.of(parsed, exclusions, breakdown)
    walk = _Walk(reading.read(store, scope or Scope(), order), reading, len(parsed))
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


def _breakdown_sql(breakdown: str | None) -> str:
    if breakdown is None:
        return "NULL::VARCHAR"
    if breakdown.startswith("properties."):
        key = breakdown.removeprefix("properties.")
        path = '$."' + key.replace('"', '\\"') + '"'
        return f"json_extract_string(properties, {lit(path)})"
    allowed = ("channel", "source", "name", "type", "intent", "outcome", "agent", "team")
    if breakdown not in allowed:
        raise BadRequest(
            f"Cannot break down by {breakdown!r}",
            f"use one of {', '.join(allowed)}, or properties.<key>",
        )
    return f"{breakdown}::VARCHAR"


@dataclass(frozen=True)
class _Reading:
    """What a funnel reads of each event: which of its conditions (the steps, then the
    exclusions) the event meets, and the breakdown's value.

    Conditions that only name an event are told apart by one small number, the name's place in
    a list (one lookup per event, where a flag each would be one comparison per step); the
    others by a flag each. Both are read as bytes, not booleans: Arrow packs booleans into
    bits, and unpacking millions of them costs more than the walk of a step."""

    conditions: tuple[Step, ...]
    named: tuple[str, ...]
    breakdown: str | None

    @classmethod
    def of(cls, steps: list[Step], exclusions: list[Exclusion], breakdown: str | None) -> _Reading:
        conditions = (*steps, *(x.step for x in exclusions))
        named = tuple(sorted({c.name for c in conditions if c.plain}))
        return cls(conditions, named, breakdown)

    def columns(self) -> str:
        found = []
        if self.named:
            kind = "UTINYINT" if len(self.named) < 1 << 8 else "UINTEGER"
            names = f"[{', '.join(lit(n) for n in self.named)}]"
            found.append(f"coalesce(list_position({names}, name), 0)::{kind} AS named")
        found += [
            f"coalesce({c.sql()}, false)::UTINYINT AS c{i}"
            for i, c in enumerate(self.conditions)
            if not c.plain
        ]
        if self.breakdown is not None:
            found.append(f"{_breakdown_sql(self.breakdown)} AS bd")
        return ", ".join(found)

    def wanted(self) -> str:
        """The events meeting any condition, over the columns read."""
        found = ["named > 0"] if self.named else []
        found += [f"c{i} > 0" for i, c in enumerate(self.conditions) if not c.plain]
        return " OR ".join(found)

    def read(self, store: Store, scope: Scope, order: Order) -> Journeys:
        # A strict funnel needs every event (anything between two steps breaks the chain).
        wanted = None if order == "strict" else self.wanted()
        return read_journeys(store, scope, self.columns(), where=wanted)

    def matcher(self, journeys: Journeys) -> Callable[[int], Bools]:
        """What tells, for a condition (by its index), whether each row's event meets it."""
        named = journeys.values("named", 0) if self.named else None

        def meets(condition: int) -> Bools:
            step = self.conditions[condition]
            if named is not None and step.plain:
                return np.asarray(named == self.named.index(step.name) + 1)
            return journeys.flag(f"c{condition}")

        return meets


@dataclass
class _Reached:
    """Where chains reach a step: the rows, in order, and the start row of each one's chain."""

    rows: Ints
    starts: Ints
    increasing: bool = True
    """Whether the starts never decrease along the rows (then the latest start up to a row is
    the one on that row)."""

    def union(self, other: _Reached) -> _Reached:
        """Both sets of rows; on a row in both, the chain started last (as `max`)."""
        rows = np.concatenate([self.rows, other.rows])
        starts = np.concatenate([self.starts, other.starts])
        order = np.argsort(rows, kind="stable")
        rows, starts = rows[order], starts[order]
        new = np.ones(len(rows), dtype=bool)
        new[1:] = rows[1:] != rows[:-1]
        at = np.flatnonzero(new)
        starts = np.maximum.reduceat(starts, at) if len(at) else starts
        return _Reached(rows[at], starts, increasing=False)


@dataclass
class _Walked:
    """What a walk found, per customer (index = the customer's code) unless said otherwise."""

    level: Ints
    """Steps reached (0: not even step 1)."""
    start: Ints
    """Row of step 1 of the chain that reached the customer's level first (-1: none)."""
    last: Ints
    """Row of that chain's last step."""
    completion: Ints
    """Row that first completed the funnel (-1: never)."""
    first_rows: list[Ints]
    """Per step, the first row reaching it (n: never)."""
    own: list[_Reached]
    """Per step, the rows doing it as a step of a chain, with their chain's start (for an
    optional step, only the rows doing it, not the chains passing it by)."""


class _Walk:
    """The ordered events as arrays: per row its customer and time; per step, its rows."""

    def __init__(self, journeys: Journeys, reading: _Reading, steps: int) -> None:
        self.journeys = journeys
        self.n = len(journeys.customer)
        self.customer = journeys.customer  # the customer's number, increasing with the rows
        self.starts = journeys.first_row
        self.customers = journeys.customers
        self.keys = journeys.keys
        self.at = journeys.at
        self.meets = reading.matcher(journeys)
        self.steps = [self.meets(i) for i in range(steps)]

    def chains(
        self, steps: list[Step], exclusions: list[Exclusion], window: float, *, strict: bool
    ) -> _Walked:
        """Ordered and strict funnels, step by step, over the rows of each step only: where a
        chain reaches step j+1, and the start of that chain."""
        limit = int(window * 1_000_000)
        first = np.flatnonzero(self.steps[0])
        reached = _Reached(first, first)
        per_step, own = [reached], [reached]
        for j in range(1, len(steps)):
            rows = np.flatnonzero(self.steps[j])
            cuts: list[Ints] = []
            if strict:
                prior = self._just_before(reached, rows)
            else:
                cuts = [
                    np.flatnonzero(self.meets(len(steps) + i))
                    for i, x in enumerate(exclusions)
                    if x.after <= j < x.before
                ]
                prior = self._latest_before(reached, rows, cuts)
            ok = prior >= 0
            ok[ok] = self.at[rows[ok]] - self.at[prior[ok]] <= limit
            # A strict step keeps the order of the starts it passes on; otherwise, without
            # cuts, later rows carry later (or the same) starts.
            increasing = reached.increasing if strict else not cuts
            mine = _Reached(rows[ok], prior[ok], increasing)
            own.append(mine)
            reached = mine.union(reached) if steps[j].optional else mine
            per_step.append(reached)
        return self._walked(per_step, own)

    def _latest_before(self, reached: _Reached, rows: Ints, cuts: list[Ints]) -> Ints:
        """For each of `rows`, the latest start among the chains that reached the previous step
        on an earlier row of the same segment: the same customer, and no excluded event (a row
        of `cuts`) after that row and up to this one. -1: none.

        Starts are rows of the chain's customer, all above any earlier customer's: with no
        cuts, one running maximum carries the latest start forward, and is the customer's own
        when it is not below the customer's first row. With cuts, segments are numbered in row
        order (the customer's number plus the excluded events up to the row), and the running
        maximum is over (segment, start) keys: a key from an earlier segment comes out
        negative."""
        if not len(reached.rows):
            return np.full(len(rows), -1, dtype=np.int64)
        before = np.searchsorted(reached.rows, rows) - 1  # the last reach strictly before
        found = before >= 0
        before[~found] = 0
        if not cuts:
            starts = reached.starts
            latest = (starts if reached.increasing else np.maximum.accumulate(starts))[before]
            found &= latest >= self.starts[self.customer[rows]]
            return np.where(found, latest, -1)
        span = self.n + 1
        keys = self._segment(reached.rows, cuts) * span + reached.starts + 1
        carried = np.maximum.accumulate(keys)[before] - self._segment(rows, cuts) * span - 1
        return np.where(found & (carried >= 0), carried, -1)

    def _segment(self, rows: Ints, cuts: list[Ints]) -> Ints:
        segment = self.customer[rows]
        for cut in cuts:
            segment = segment + np.searchsorted(cut, rows, side="right")
        return segment

    def _just_before(self, reached: _Reached, rows: Ints) -> Ints:
        """For each of `rows`, the start of the chain that reached the previous step on the
        customer's event just before (-1: none): a strict funnel's only way on."""
        prior = np.full(len(rows), -1, dtype=np.int64)
        if not len(reached.rows):
            return prior
        at = np.minimum(np.searchsorted(reached.rows, rows - 1), len(reached.rows) - 1)
        hit = (rows > 0) & (reached.rows[at] == rows - 1)
        hit &= self.customer[np.maximum(rows - 1, 0)] == self.customer[rows]
        prior[hit] = reached.starts[at[hit]]
        return prior

    def _firsts(self, rows: Ints) -> tuple[Ints, Ints]:
        """Of rows in order: the customers they belong to, and the index of each one's first."""
        who = self.customer[rows]
        at = np.flatnonzero(who[1:] != who[:-1])
        at += 1
        at = np.append(0, at) if len(rows) else at
        return who[at], at

    def _first_rows(self, reached: Bools) -> Ints:
        """Per customer, the first row where `reached` holds (n: none)."""
        first = np.full(self.customers, self.n, dtype=np.int64)
        rows = np.flatnonzero(reached)
        who, at = self._firsts(rows)
        first[who] = rows[at]
        return first

    def _walked(self, per_step: list[_Reached], own: list[_Reached]) -> _Walked:
        customers = self.customers
        level = np.zeros(customers, dtype=np.int64)
        start = np.full(customers, -1, dtype=np.int64)
        last = np.full(customers, -1, dtype=np.int64)
        first_rows = []
        for j, reached in enumerate(per_step):
            who, at = self._firsts(reached.rows)
            first = np.full(customers, self.n, dtype=np.int64)
            first[who] = reached.rows[at]
            first_rows.append(first)
            level[who] = j + 1
            start[who] = reached.starts[at]
            last[who] = first[who]
        completion = np.where(first_rows[-1] < self.n, first_rows[-1], -1)
        return _Walked(level, start, last, completion, first_rows, own)

    def _prior_max(self, values: Ints) -> Ints:
        """For each row, the largest of `values` (rows of the same customer, or -1) on the
        customer's earlier rows (-1: none). A customer's rows are all above any earlier
        customer's: one running maximum, kept where it is at least the customer's first row."""
        prior = np.full(self.n, -1, dtype=np.int64)
        if self.n < 2:
            return prior
        running = np.maximum.accumulate(values)[:-1]
        first_of_row = self.starts[self.customer[1:]]
        prior[1:] = np.where(running >= first_of_row, running, -1)
        return prior

    def any_order(self, window: float) -> _Walked:
        """Per row, how many distinct steps were done within the window ending there; per
        customer, the most."""
        limit = int(window * 1_000_000)
        rows = np.arange(self.n, dtype=np.int64)
        done = np.zeros(self.n, dtype=np.int64)
        earliest = np.full(self.n, self.n, dtype=np.int64)
        for flag in self.steps:
            here = np.where(flag, rows, -1)
            latest = np.maximum(here, self._prior_max(here))
            inside = latest >= 0
            inside[inside] = self.at[inside] - self.at[latest[inside]] <= limit
            done += inside
            earliest = np.where(inside, np.minimum(earliest, latest), earliest)
        customers = self.customers
        level = np.maximum.reduceat(done, self.starts[:-1]) if self.n else done
        first_rows = [self._first_rows(done >= j + 1) for j in range(len(self.steps))]
        best = self._first_rows((done == level[self.customer]) & (done > 0))
        has = best < self.n
        start = np.full(customers, -1, dtype=np.int64)
        last = np.full(customers, -1, dtype=np.int64)
        start[has], last[has] = earliest[best[has]], best[has]
        completion = np.where(level == len(self.steps), last, -1)
        own = []
        for j in range(len(self.steps)):
            at = np.flatnonzero(done >= j + 1)
            own.append(_Reached(at, earliest[at], increasing=False))
        return _Walked(level, start, last, completion, first_rows, own)


def _distinct(values: Ints, size: int) -> int:
    """How many distinct values in 0..size-1 (np.unique hashes, and is 10x slower here)."""
    seen = np.zeros(size, dtype=bool)
    seen[values] = True
    return int(seen.sum())


def _chains(reached: _Reached, n: int) -> int:
    """How many chains reach these rows: their distinct starts."""
    starts = reached.starts
    if reached.increasing:
        return int(np.count_nonzero(starts[1:] != starts[:-1])) + 1 if len(starts) else 0
    return _distinct(starts, n)


def _result(
    steps: list[Step],
    order: Order,
    window: float,
    walk: _Walk,
    walked: _Walked,
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
            count = _distinct(walk.customer[own.rows], walk.customers)
        rows.append(
            {
                "step": j + 1,
                "name": step.label(),
                "customers": count,
                "conversions": _chains(own, walk.n),
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
    walk: _Walk, walked: _Walked, steps: int, attribution: Attribution
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
