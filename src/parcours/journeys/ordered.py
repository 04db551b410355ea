"""Reading events in journey order, for the analyses that walk them as arrays.

`customer_events` is written in journey order (customer_key, occurred_at, event_key) by a full
resolve; an incremental resolve appends, so a read checks the order and sorts only when the
appended rows broke it. The engine filters and projects; numpy then walks every customer's
events at once — consecutive rows of one customer are consecutive events of one journey — with
no window query and no per-customer loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from parcours.arrays import numpy_of
from parcours.journeys.scope import Scope
from parcours.store.store import Store

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Codes = npt.NDArray[np.signedinteger[Any]]
"""Indexes into a list of values, in the smallest signed integer type that holds them."""


def read_journeys(store: Store, scope: Scope, columns: str, where: str | None = None) -> Journeys:
    """The scoped events' `customer_key`, `at` (epoch microseconds), `event_key` and
    `columns` (SQL select items), as `Journeys` in journey order; with `where`, only the rows
    meeting it, a condition over the columns read (each computed once). Rows the engine
    returned out of order are put in order column by column, as arrays, when a column is asked
    for (cheaper than reordering a whole table of text)."""
    keys = "customer_key, epoch_us(occurred_at) AS at, event_key"
    query = scope.events(f"{keys}, {columns}" if columns else keys)
    table = store.engine.query(f"SELECT * FROM ({query}) WHERE {where}" if where else query)
    customer, at, event = (_ints(table[c]) for c in ("customer_key", "at", "event_key"))
    if _in_order(customer, at, event):
        return Journeys.of(table, None, customer, at)
    rows = _restore(customer, at, event)
    return Journeys.of(table, rows, customer[rows], at[rows])


MAX_LOCAL_SORTS = 10_000
"""Past this many customers out of order, one global sort is cheaper than one each."""


def _restore(customer: Ints, at: Ints, event: Ints) -> Ints:
    """The row order that puts nearly ordered rows back in journey order. Rows come nearly
    ordered: a few sorted runs (the engine's threads each return theirs; an incremental resolve
    appends). A stable sort by customer (adaptive on runs) groups them; then only the customers
    whose rows came from two runs are sorted by time, each on its own."""
    rows = np.argsort(customer, kind="stable")
    c, a, e = customer[rows], at[rows], event[rows]
    same = c[1:] == c[:-1]
    back = same & ((a[1:] < a[:-1]) | ((a[1:] == a[:-1]) & (e[1:] < e[:-1])))
    mixed = np.sort(c[1:][back])
    mixed = mixed[np.r_[True, mixed[1:] != mixed[:-1]]] if len(mixed) else mixed
    if len(mixed) > MAX_LOCAL_SORTS:
        return np.lexsort((event, at, customer))
    starts = np.searchsorted(c, mixed, side="left")
    ends = np.searchsorted(c, mixed, side="right")
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        rows[lo:hi] = rows[lo:hi][np.lexsort((e[lo:hi], a[lo:hi]))]
    return rows


def _ints(column: pa.ChunkedArray, rows: Ints | None = None, nulls: int | None = None) -> Ints:
    values = np.asarray(numpy_of(column, nulls), dtype=np.int64)
    return values if rows is None else values[rows]


def _in_order(customer: Ints, at: Ints, event: Ints) -> bool:
    """Whether the rows are in journey order. Compared pairwise as byte masks, not as
    differences: an array of differences is eight bytes a row to allocate, and fresh memory
    is what a read of millions of rows spends most on."""
    if len(customer) < 2:
        return True
    if np.any(customer[1:] < customer[:-1]):
        return False
    same = customer[1:] == customer[:-1]
    if np.any(same & (at[1:] < at[:-1])):
        return False
    tied = np.flatnonzero(same & (at[1:] == at[:-1]))
    return bool(np.all(event[tied + 1] >= event[tied]))


@dataclass
class Journeys:
    """Ordered events as arrays, in cases: per row its customer's key, its case's number (0..
    in order), each case's first row, and the time. A case is a customer's whole journey, or
    a visit once `cut` (the names say customer, as nearly every analysis means one). Row i is
    the table's row `rows[i]` (or i, when `rows` is None)."""

    table: pa.Table
    rows: Ints | None
    first_row: Ints
    """Per case, the row it starts at; `first_row[-1]` ends the last (the length)."""
    at: Ints
    key: Ints
    """Each row's `customer_key`."""
    customer_first_row: Ints
    """Per customer, the row their whole journey starts at (`first_row` unless `cut`)."""

    @classmethod
    def of(cls, table: pa.Table, rows: Ints | None, key: Ints, at: Ints) -> Journeys:
        """`table`'s rows in the order `rows` (None: as they are), with the customer keys and
        times already in that order."""
        if not len(key):
            first_row = np.zeros(1, dtype=np.int64)
        else:
            starts = np.flatnonzero(key[1:] != key[:-1]) + 1
            first_row = np.concatenate([[0], starts, [len(key)]]).astype(np.int64)
        return cls(table, rows, first_row, at, key, first_row)

    def cut(self, starts: Ints) -> Journeys:
        """The same rows in the shorter cases starting at `starts` (rows in order, every
        customer's first among them): visits instead of whole journeys."""
        first_row = np.append(starts, len(self.at)).astype(np.int64)
        return Journeys(self.table, self.rows, first_row, self.at, self.key, self.first_row)

    @cached_property
    def customer(self) -> Ints:
        """Each row's case number, 0 to customers - 1, increasing with the rows."""
        return np.repeat(np.arange(self.customers, dtype=np.int64), np.diff(self.first_row))

    @property
    def customers(self) -> int:
        return len(self.first_row) - 1

    def _ordered(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values if self.rows is None else values[self.rows]

    def flag(self, column: str) -> Bools:
        """A boolean column (NULL: false), or a byte column of 0 and 1 read as one (cheaper:
        no bits to unpack)."""
        values = self.table[column]
        if values.type == pa.uint8() and not values.null_count:
            return self._ordered(numpy_of(values).view(np.bool_))
        values = numpy_of(values, nulls=False)
        return self._ordered(np.asarray(values, dtype=bool))

    def values(self, column: str, missing: Any) -> npt.NDArray[Any]:
        """A column in its own type, NULL as `missing`."""
        values = numpy_of(self.table[column], nulls=missing)
        return self._ordered(np.asarray(values))

    def ints(self, column: str, missing: int = -1) -> Ints:
        """An integer column, NULL as `missing`."""
        return _ints(self.table[column], self.rows, nulls=missing)

    def codes(self, column: str, *, ordered: bool = False) -> tuple[list[Any], Codes]:
        """A column as (its distinct values, each row's index into them, -1: NULL), the
        indexes in the smallest integer type that holds them; with `ordered`, the values in
        order, so that codes compare as the values do."""
        encoded = self.table[column].dictionary_encode()
        chunks = encoded.chunks
        if chunks and any(not c.dictionary.equals(chunks[0].dictionary) for c in chunks[1:]):
            chunks = [encoded.combine_chunks()]  # one dictionary for all
        values: list[Any] = chunks[0].dictionary.to_pylist() if chunks else []
        order = sorted(range(len(values)), key=values.__getitem__) if ordered else None
        dtype = np.min_scalar_type(-len(values) - 1)
        rank = np.empty(len(values) + 1, dtype=dtype)  # the last: NULL's -1
        rank[order if order is not None else slice(None, -1)] = np.arange(len(values))
        rank[-1] = -1
        codes = np.empty(len(self.at), dtype=dtype)
        start = 0
        for chunk in chunks:
            indices = numpy_of(chunk.indices, nulls=-1)
            codes[start : start + len(indices)] = rank[indices]
            start += len(indices)
        values = [values[i] for i in order] if order is not None else values
        return values, self._ordered(codes)

    @property
    def keys(self) -> Ints:
        """Each case's customer key (by number)."""
        return self.key[self.first_row[:-1]]


def rounded(values: npt.NDArray[np.float64], digits: int) -> npt.NDArray[np.float64]:
    """`values` (>= 0) rounded as the engine's `round` rounds a double: half away from zero,
    so that a walk gives the very numbers its SQL reference gives."""
    scale = 10.0**digits
    scaled = np.asarray(values, dtype=np.float64) * scale
    whole = np.floor(scaled)
    return (whole + (scaled - whole >= 0.5)) / scale


def rounded_ratio(numerator: Ints, denominator: Ints | int, digits: int) -> npt.NDArray[np.float64]:
    """`numerator / denominator` (counts, the denominator >= 1) to `digits` decimals, rounded
    half up on the exact fraction, in integers: a double near a half (23/160 is 0.14374999...)
    rounds one way or the other depending on the engine and its version, the fraction one way
    only. `ratio_sql` is the same rounding in SQL, so a walk and its SQL reference agree."""
    scale = 10**digits
    n, d = np.asarray(numerator, dtype=np.int64), np.asarray(denominator, dtype=np.int64)
    return np.asarray((2 * scale * n + d) // (2 * d) / scale, dtype=np.float64)


def ratio_sql(numerator: str, denominator: str, digits: int) -> str:
    """SQL for `rounded_ratio` of two integer expressions (NULL when the denominator is 0)."""
    scale, d = 10**digits, f"nullif({denominator}, 0)"
    return f"((2 * {scale} * ({numerator}) + {d}) // (2 * {d})) / {scale}"


def ids_of(store: Store, keys: list[int]) -> list[str]:
    """The customer ids behind these keys, read from the store."""
    if not keys:
        return []
    found = store.engine.query(
        "SELECT DISTINCT customer_key, customer_id FROM customer_events "
        "WHERE customer_key IN (SELECT unnest(?::BIGINT[]))",
        [keys],
    ).to_pylist()
    by_key = {row["customer_key"]: row["customer_id"] for row in found}
    return [by_key[k] for k in keys]
