"""The funnel's walk: its events read in journey order, then walked for every customer at
once with array operations (see `journeys.funnel` for what a chain is, per order).

`Reading` says what the engine reads of each event (which steps and exclusions it meets, the
breakdown's value); `Walk` advances the chains step by step, each over its own events only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from parcours.errors import BadRequest
from parcours.journeys.ordered import Journeys, read_journeys
from parcours.journeys.scope import Scope
from parcours.sql import lit
from parcours.store.store import Store

if TYPE_CHECKING:
    from parcours.journeys.funnel import Exclusion, Order, Step

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


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
class Reading:
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
    def of(cls, steps: list[Step], exclusions: list[Exclusion], breakdown: str | None) -> Reading:
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
class Reached:
    """Where chains reach a step: the rows, in order, and the start row of each one's chain."""

    rows: Ints
    starts: Ints
    increasing: bool = True
    """Whether the starts never decrease along the rows (then the latest start up to a row is
    the one on that row)."""

    def union(self, other: Reached) -> Reached:
        """Both sets of rows; on a row in both, the chain started last (as `max`)."""
        rows = np.concatenate([self.rows, other.rows])
        starts = np.concatenate([self.starts, other.starts])
        order = np.argsort(rows, kind="stable")
        rows, starts = rows[order], starts[order]
        new = np.ones(len(rows), dtype=bool)
        new[1:] = rows[1:] != rows[:-1]
        at = np.flatnonzero(new)
        starts = np.maximum.reduceat(starts, at) if len(at) else starts
        return Reached(rows[at], starts, increasing=False)


@dataclass
class Walked:
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
    own: list[Reached]
    """Per step, the rows doing it as a step of a chain, with their chain's start (for an
    optional step, only the rows doing it, not the chains passing it by)."""


class Walk:
    """The ordered events as arrays: per row its customer and time; per step, its rows."""

    def __init__(self, journeys: Journeys, reading: Reading, steps: int) -> None:
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
    ) -> Walked:
        """Ordered and strict funnels, step by step, over the rows of each step only: where a
        chain reaches step j+1, and the start of that chain."""
        limit = int(window * 1_000_000)
        first = np.flatnonzero(self.steps[0])
        reached = Reached(first, first)
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
            mine = Reached(rows[ok], prior[ok], increasing)
            own.append(mine)
            reached = mine.union(reached) if steps[j].optional else mine
            per_step.append(reached)
        return self._walked(per_step, own)

    def _latest_before(self, reached: Reached, rows: Ints, cuts: list[Ints]) -> Ints:
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

    def _just_before(self, reached: Reached, rows: Ints) -> Ints:
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

    def _walked(self, per_step: list[Reached], own: list[Reached]) -> Walked:
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
        return Walked(level, start, last, completion, first_rows, own)

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

    def any_order(self, window: float) -> Walked:
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
            own.append(Reached(at, earliest[at], increasing=False))
        return Walked(level, start, last, completion, first_rows, own)


def distinct(values: Ints, size: int) -> int:
    """How many distinct values in 0..size-1 (np.unique hashes, and is 10x slower here)."""
    seen = np.zeros(size, dtype=bool)
    seen[values] = True
    return int(seen.sum())


def chains(reached: Reached, n: int) -> int:
    """How many chains reach these rows: their distinct starts."""
    starts = reached.starts
    if reached.increasing:
        return int(np.count_nonzero(starts[1:] != starts[:-1])) + 1 if len(starts) else 0
    return distinct(starts, n)
