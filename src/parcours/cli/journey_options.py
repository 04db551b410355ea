"""What every `parcours journeys ...` command shares: the filters (time range, channels, a
segment as SQL, event properties, a free expression), the chart option, the analyses' defaults
the options show, and opening the store with the filter checked.

The commands import their analyses when they run (see `parcours.cli`); the defaults are
written here for that reason, and tests/e2e/test_journeys_cli.py holds them equal to the
analyses' own.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from parcours.cli.output import console, errors

if TYPE_CHECKING:
    from parcours.client import Parcours
    from parcours.journeys.scope import Scope

SEGMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
"""`segments.definition.NAME`: how `--segment` tells a saved segment's name from SQL."""
GAP = "30m"
"""`journeys.visits.GAP`: inactivity that ends a visit."""
CHURN_DAYS = 90
"""`journeys.contacts.CHURN_DAYS`."""
LOOKBACK, HALF_LIFE = "30d", "7d"
"""`journeys.attribution.LOOKBACK` and `HALF_LIFE`."""
TOP_VARIANTS = 300
"""`journeys.typical.TOP_VARIANTS`."""
MAX_DEPTH = 50
"""`journeys.paths.MAX_DEPTH`."""


def instant(text: str) -> dt.datetime:
    """A date or time as people write it: 2026-05-01, 2026-05-01T09:30, ...+02:00."""
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date or time: write it 2026-05-01 or 2026-05-01T09:30 "
            "(UTC unless it ends with an offset such as +02:00)"
        ) from None


SinceOption = Annotated[
    dt.datetime | None,
    typer.Option(parser=instant, help="Events from this time (UTC unless it says)."),
]
UntilOption = Annotated[
    dt.datetime | None, typer.Option(parser=instant, help="Events before this time.")
]
ChannelOption = Annotated[
    list[str] | None, typer.Option("--channel", "-c", help="Only this channel (repeatable).")
]
SegmentOption = Annotated[
    str | None,
    typer.Option(
        "--segment",
        "--customers",
        help="A saved segment's name (parcours segments list), or SQL selecting customer_id.",
    ),
]
PropertyOption = Annotated[
    list[str] | None,
    typer.Option("--property", "-p", help="KEY=VALUE an event property must have (repeatable)."),
]
WhereOption = Annotated[
    str | None, typer.Option("--where", help="A DuckDB expression over the event's columns.")
]
ChartOption = Annotated[
    Path | None, typer.Option("--chart", help="Also draw the result into this HTML file.")
]
TouchpointOption = Annotated[
    str, typer.Option("--touchpoint", "-t", help="name, channel or channel:name.")
]


def scope_of(
    since: dt.datetime | None,
    until: dt.datetime | None,
    channel: list[str] | None,
    customers: str | None,
    prop: list[str] | None,
    where: str | None,
) -> Scope:
    from parcours.journeys.scope import Scope, parse_properties

    # A segment's name has no space; SQL selecting customer_id always has one.
    segment = customers if customers and SEGMENT_NAME.match(customers) else None
    return Scope(
        since,
        until,
        tuple(channel or ()),
        None if segment else customers,
        parse_properties(prop),
        where,
        segment=segment,
    )


def connect(store: Path | None, scope: Scope) -> Parcours:
    """The store, read-only (analyses only read, and several can run side by side), once the
    scope's filter has been tried on it."""
    from parcours.client import connect as open_store

    p = open_store(store, read_only=True)
    try:
        scope.check(p.store)
    except BaseException:
        p.close()
        raise
    return p


def draw(result: Any, chart: Path | None) -> None:
    if chart is None:
        return
    from parcours.journeys.charts import figure_of, write_html

    write_html(figure_of(result), chart)
    console.print(f"Chart written to [bold]{chart}[/bold]", highlight=False)


@contextmanager
def warned() -> Iterator[None]:
    """Python warnings an analysis gives, printed for people on stderr (the result also carries
    them, for --format json), not as Python's file-and-line lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        yield
    for warning in dict.fromkeys(str(w.message) for w in caught):
        errors.print(f"[bold yellow]Warning:[/bold yellow] {warning}", highlight=False)
