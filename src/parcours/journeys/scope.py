"""What every journey analysis shares: which events it reads, and how a touchpoint is named.

Analyses read `customer_events` (each event with the customer the last resolve gave it), so a
journey crosses channels and identifiers: the cookie's page views, the call and the receipt are
one customer's. A `Scope` narrows it: a time range, channels, a segment of customers, event
properties, and (from Python and the command line) any DuckDB expression over its columns.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from parcours.errors import BadRequest, ParcoursError
from parcours.sql import lit
from parcours.store.schema import CHANNELS

if TYPE_CHECKING:
    from sqlglot import exp

    from parcours.store.store import Store

Touchpoint = Literal["name", "channel", "channel:name"]
"""How a journey names a step: the event's name, its channel, or both ("call:Call")."""

TOUCHPOINTS: tuple[Touchpoint, ...] = ("name", "channel", "channel:name")


def touchpoint_sql(kind: Touchpoint | str) -> str:
    """SQL naming each event as a touchpoint of `kind`."""
    if kind == "name":
        return "coalesce(name, type)"
    if kind == "channel":
        return "channel"
    if kind == "channel:name":
        return "channel || ':' || coalesce(name, type)"
    raise BadRequest(f"Unknown touchpoint {kind!r}", f"use one of {', '.join(TOUCHPOINTS)}")


CHANNEL_CODE = (
    f"coalesce(list_position([{', '.join(lit(c) for c in CHANNELS)}], channel), 0)::UTINYINT"
)
"""SQL for an event's channel as a number: its index in `CHANNEL_NAMES` (imports refuse any
channel outside CHANNELS, so never 0): analyses that walk arrays read numbers, not text."""
CHANNEL_NAMES: tuple[str, ...] = ("(none)", *CHANNELS)


@dataclass(frozen=True)
class Scope:
    """The events an analysis reads. Every field narrows; the default is everything."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    """Events from `since` (included) to `until` (excluded)."""
    channels: tuple[str, ...] = ()
    customers: str | None = None
    """A segment: SQL selecting `customer_id` (or use `Scope.of_customers`)."""
    properties: tuple[tuple[str, str], ...] = ()
    """Event properties that must equal these values (as text), e.g. (("plan", "premium"),)."""
    where: str | None = None
    """A DuckDB expression over customer_events' columns, e.g. "amount > 100"."""
    extra: tuple[str, ...] = field(default=(), repr=False)
    """Conditions an analysis adds itself (already valid SQL)."""
    segment: str | None = None
    """A saved segment's name (`parcours segments list`): its members now."""
    table: str = field(default="customer_events", repr=False)
    """Where the events are read: `customer_events`, or a copy of some customers' events with
    the columns an analysis reads (the segments station's refresh reads a few customers'
    journey facts from its copy)."""

    def __post_init__(self) -> None:
        """Refuse what cannot narrow the events, when the scope is made: a time that is not
        one, a filter naming no column."""
        for name in ("since", "until"):
            object.__setattr__(self, name, _instant(name, getattr(self, name)))
        if isinstance(self.channels, str):
            object.__setattr__(self, "channels", (self.channels,))
        if self.where is not None:
            checked_expression(self.where)

    @staticmethod
    def of_customers(ids: list[str]) -> str:
        """SQL for a fixed list of customers, for `Scope(customers=...)`."""
        if not ids:
            return "SELECT NULL::VARCHAR AS customer_id WHERE false"
        return "SELECT unnest([" + ", ".join(lit(i) for i in ids) + "]) AS customer_id"

    @staticmethod
    def of_segment(name: str) -> str:
        """SQL for a saved segment's members now (`segment_members`, which the segments
        station keeps current), for `Scope(customers=...)`; `Scope(segment=name)` also checks
        the name when the scope is checked."""
        return f"SELECT customer_id FROM segment_members WHERE segment = {lit(name)}"

    def conditions(self) -> list[str]:
        found = list(self.extra)
        if self.since is not None:
            found.append(f"occurred_at >= {lit(_utc(self.since))}::TIMESTAMPTZ")
        if self.until is not None:
            found.append(f"occurred_at < {lit(_utc(self.until))}::TIMESTAMPTZ")
        if self.channels:
            unknown = sorted(set(self.channels) - set(CHANNELS))
            if unknown:
                raise BadRequest(
                    f"Unknown channel {', '.join(unknown)}",
                    f"channels are {', '.join(CHANNELS)}",
                )
            # A list lookup, not IN: a long IN list becomes a join, which need not keep the
            # stored order the journeys read in (see journeys.ordered).
            found.append(f"list_contains([{', '.join(lit(c) for c in self.channels)}], channel)")
        if self.customers:
            found.append(f"customer_id IN (SELECT customer_id FROM ({self.customers}))")
        if self.segment is not None:
            found.append(f"customer_id IN ({Scope.of_segment(self.segment)})")
        for key, value in self.properties:
            path = lit(_json_path(key))
            found.append(f"json_extract_string(properties, {path}) = {lit(value)}")
        if self.where:
            found.append(f"({checked_expression(self.where)})")
        return found

    def check(self, store: Store) -> Scope:
        """The scope, once its expression has been tried on one of the store's events: a
        filter the engine refuses (an unknown function, text where a number or a time is
        compared) is a BadRequest naming it, before an analysis runs into the engine's error;
        so is a segment that is not saved, with the closest names."""
        if self.segment is not None:
            _check_segment(store, self.segment)
        if self.where:
            expression = checked_expression(self.where)
            one = "(SELECT * FROM customer_events LIMIT 1)"
            try:
                store.engine.query(f"SELECT 1 FROM {one} WHERE ({expression})")
            except ParcoursError:
                raise  # the store's own trouble (unreadable...), already said
            except Exception as error:  # only the expression varies: the engine refused it
                raise BadRequest(
                    f"The filter {self.where!r} cannot be used: {str(error).splitlines()[0]}",
                    "compare each column with a value of its type (amount > 100, occurred_at "
                    ">= '2026-05-01', channel = 'web'), with DuckDB's functions",
                ) from None
        return self

    def events(self, columns: str = "*") -> str:
        """SQL for the scoped events."""
        conditions = self.conditions()
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT {columns} FROM {self.table}{where}"


def _check_segment(store: Store, name: str) -> None:
    known = (
        store.engine.query("SELECT DISTINCT name FROM segments WHERE retired_at IS NULL")
        .column(0)
        .to_pylist()
    )
    if name in known:
        return
    near = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    raise BadRequest(
        f"No segment {name!r}",
        f"{hint}the segments are: {', '.join(sorted(known)) or 'none yet'} "
        "(parcours segments list)",
    )


def parse_properties(texts: list[str] | None) -> tuple[tuple[str, str], ...]:
    """`KEY=VALUE` filters (command line, query string) as `Scope.properties`."""
    pairs = []
    for text in texts or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise BadRequest(
                f"Cannot read the property filter {text!r}", "write it KEY=VALUE, e.g. plan=premium"
            )
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _instant(name: str, value: object) -> dt.datetime | None:
    """`value` as a time: a datetime as it is, a date as its midnight (UTC); anything else is
    refused with the fix."""
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    raise BadRequest(
        f"Scope({name}={value!r}) is not a time",
        f"pass a datetime or a date, e.g. Scope({name}=datetime.fromisoformat('2026-05-01')) "
        "(UTC unless it names its offset)",
    )


def _utc(at: dt.datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat()


def _json_path(key: str) -> str:
    """The JSON path of a top-level property, whatever its name."""
    return '$."' + key.replace('"', '\\"') + '"'


def checked_expression(text: str) -> str:
    """`text` if it is one SQL expression (no statement, no subquery), else a clear error."""
    # sqlglot reads filters only: an analysis without one does not wait for its import.
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        parsed = sqlglot.parse_one(text, dialect="duckdb", into=exp.Condition)
    except ParseError as error:
        raise BadRequest(
            f"The filter {text!r} is not a valid expression: {str(error).splitlines()[0]}",
            "write a DuckDB expression over the event's columns, e.g. \"amount > 100 AND "
            "channel = 'web'\"",
        ) from None
    if parsed.find(exp.Select, exp.Command, exp.Subquery) is not None:
        raise BadRequest(
            f"The filter {text!r} holds a query", "a filter is an expression, not a query"
        )
    for column in parsed.find_all(exp.Column):
        _check_column(text, column)
    return parsed.sql(dialect="duckdb")


def _check_column(text: str, column: exp.Column) -> None:
    """Refuse a filter naming a column customer_events lacks, with the closest it has. The
    first part of a dotted name is the column (`identifier.type` reads a field of it), unless
    it names the table itself."""
    from parcours.identity.customer_events import COLUMNS

    parts = [p.name.lower() for p in column.parts]
    if len(parts) > 1 and parts[0] == "customer_events":
        parts = parts[1:]
    if parts[0] in COLUMNS:
        return
    closest = difflib.get_close_matches(parts[0], COLUMNS, n=3)
    hint = f"did you mean {' or '.join(closest)}? " if closest else ""
    if column.this.args.get("quoted"):
        hint += "Text is written in single quotes ('Order Completed'). "
    raise BadRequest(
        f"The filter {text!r} names {column.sql(dialect='duckdb')}, which events do not have",
        f"{hint}The columns are {', '.join(COLUMNS)}; read an event property with "
        "json_extract_string(properties, '$.KEY') (or filter by property: KEY=VALUE)",
    )


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$")
UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | float | int) -> float:
    """Seconds from "30m", "2h", "7d", "1w" or a number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = DURATION.match(text)
    if not match:
        raise BadRequest(
            f"Cannot read the duration {text!r}", 'write it like "30m", "12h", "7d" or "2w"'
        )
    return float(match.group(1)) * UNITS[match.group(2) or "s"]
