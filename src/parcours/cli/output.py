"""How the command line shows results: a Rich table for people, JSON or CSV for programs.

JSON output is stable and documented (docs/cli.md): other programs, and our own tests, read it
as the services return it. Tables are for people: each value in human units (durations as
"2h 05m", rates as percentages, floats to three significant digits, times to the minute in UTC,
yes/no), headers that wrap between words, numbers and times that never wrap.

This module is imported by every command, `--help` included: it imports only what printing
needs (Rich's console and table), the rest when a command uses it.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    import pyarrow as pa

console = Console()
errors = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store", "-s", help="The store file (default: PARCOURS_STORE or ./parcours.duckdb)."
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table for people; json or csv for programs.")
]

Rows = Sequence[Mapping[str, Any]]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def rows_of(data: pa.Table | Rows) -> list[dict[str, Any]]:
    """Records from an Arrow table (anything with `to_pylist`) or a list of records."""
    to_pylist = getattr(data, "to_pylist", None)
    return list(to_pylist()) if to_pylist else [dict(row) for row in data]


def print_json(data: Any) -> None:
    if hasattr(data, "to_pylist"):
        data = data.to_pylist()
    sys.stdout.write(json.dumps(_plain(data), indent=2, ensure_ascii=False) + "\n")


def print_rows(data: pa.Table | Rows, fmt: OutputFormat, *, title: str | None = None) -> None:
    """A list of records in the chosen format; a table's columns are every key any record
    has, in the order they first appear."""
    rows = rows_of(data)
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if not columns and hasattr(data, "column_names"):
        columns = list(data.column_names)
    if fmt is OutputFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: _plain(v) for k, v in row.items()} for row in rows)
        return
    for table in _tables(rows, columns, title):
        console.print(table)


def print_record(record: Mapping[str, Any], fmt: OutputFormat, *, title: str | None = None) -> None:
    """One record: for people, a field per line (a one-row table of many columns would not
    fit the terminal); for programs, as `print_rows` prints a list of one."""
    if fmt is not OutputFormat.table:
        print_rows([record], fmt, title=title)
        return
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_header=False, show_edge=False
    )
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in record.items():
        table.add_row(header(key), escape(cell(key, value)) if value is not None else _NONE)
    console.print(table)


@dataclass(frozen=True)
class _Column:
    key: str
    header: str
    numeric: bool
    width: int
    """The narrowest it can be: its widest number, or its longest word (up to `_LONG_WORD`)."""
    values: int
    """The width its longest value needs on one line."""
    natural: int
    """The widest it needs: its header or its longest value on one line."""


def _tables(rows: list[dict[str, Any]], keys: list[str], title: str | None) -> list[Table]:
    """Numbers right-aligned and never broken, headers and text broken between words. A table
    too wide for the terminal is cut into several, side by side in the data and one under the
    other on the screen, each repeating the first column (as R and pandas print wide frames)."""
    shown = [{k: cell(k, row[k]) for k in keys if row.get(k) is not None} for row in rows]
    columns = [_column(key, rows, shown) for key in keys]
    tables = []
    for at, group in enumerate(_fitting(columns, console.width)):
        table = Table(
            title=title if at == 0 else None,
            title_justify="left",
            header_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            padding=(0, 1, 0, 0),
            pad_edge=False,
            min_width=len(title or "") if at == 0 else 0,
        )
        for column, width in zip(group, _widths(group, console.width), strict=True):
            table.add_column(
                column.header,
                justify="right" if column.numeric else "left",
                width=width,
                overflow="fold",
            )
        for line in shown:
            table.add_row(*(escape(line[c.key]) if c.key in line else _NONE for c in group))
        tables.append(table)
    return tables


def _column(key: str, rows: list[dict[str, Any]], shown: list[dict[str, str]]) -> _Column:
    name = header(key)
    values = [line[key] for line in shown if key in line]
    present = [row[key] for row in rows if row.get(key) is not None]
    numeric = bool(rows) and all(_is_number(value) for value in present)
    if numeric or (present and all(isinstance(v, dt.date) for v in present)):
        widest = max(map(len, values), default=0)  # kept whole
    else:
        widest = min(max((len(w) for v in values for w in v.split()), default=0), _LONG_WORD)
    narrowest = max([widest, *map(len, name.split())])
    longest = max([narrowest, *map(len, values)])
    return _Column(key, name, numeric, narrowest, longest, max(longest, len(name)))


def _widths(group: list[_Column], width: int, gap: int = 2) -> list[int]:
    """Each column's width: its narrowest, then the room left shared out so that values stay
    on one line first, headers second. Set by hand because Rich, squeezing a table, can take
    a column below its narrowest and crop it."""
    widths = [c.width for c in group]
    spare = width - sum(widths) - gap * (len(group) - 1)
    for wanted in ([c.values for c in group], [c.natural for c in group]):
        spare = _share(widths, wanted, spare)
    return widths


def _share(widths: list[int], wanted: list[int], spare: int) -> int:
    """Water-filling: each column in turn, the one wanting least first, takes what it wants or
    an even share of what is left. Returns what is still left."""
    order = sorted(range(len(widths)), key=lambda i: wanted[i] - widths[i])
    for turn, i in enumerate(order):
        given = max(min(wanted[i] - widths[i], spare // (len(widths) - turn)), 0)
        widths[i] += given
        spare -= given
    return spare


def _fitting(columns: list[_Column], width: int, gap: int = 2) -> list[list[_Column]]:
    """The columns in groups that fit `width` at their narrowest, each after the first
    column; all in one group when they fit (or when there is nothing to cut). `gap`: the
    padding and the rule between two columns."""

    def needed(group: list[_Column]) -> int:
        return sum(c.width for c in group) + gap * (len(group) - 1)

    if len(columns) < 3 or needed(columns) <= width:
        return [columns]
    first, groups = columns[0], [[columns[0]]]
    for column in columns[1:]:
        if len(groups[-1]) > 1 and needed([*groups[-1], column]) > width:
            groups.append([first])
        groups[-1].append(column)
    return groups


_NONE = "[dim]–[/dim]"
_LONG_WORD = 20
"""Text columns keep words up to this long whole; longer ones (ids, paths) may break."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


_RATE = re.compile(
    r"(^|_)(rate|share)$|^share_of_|_after$"
    r"|^(retention|coverage|first_contact_resolution|from_previous|from_first)$"
)
"""Columns holding a proportion (0 to 1), shown as a percentage."""
_POINTS = re.compile(r"_lift$")
"""Columns holding a difference of two proportions, shown in percentage points."""
_SECONDS = re.compile(r"(^|_)seconds(_|$)")
"""Columns holding a duration in seconds, shown as "2h 05m"."""
_ITSELF_A_TIME = ("duration", "window", "gap", "wait")


def header(column: str) -> str:
    """A column's name in words: `median_seconds_to_convert` → "median time to convert",
    `wait_seconds` → "wait" (the value says its unit)."""
    words = column.split("_")
    if "seconds" in words:
        at = words.index("seconds")
        before = words[at - 1] if at else ""
        words[at : at + 1] = [] if before in _ITSELF_A_TIME else ["time"]
    return " ".join(words) or column


def cell(column: str, value: Any) -> str:
    """A value as people read it, knowing its column: durations, rates, counts, yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | decimal.Decimal):
        number = float(value)
        if _SECONDS.search(column):
            return duration(number)
        if _RATE.search(column):
            return percent(number)
        if _POINTS.search(column):
            return f"{number * 100:+.1f} pp"
        return f"{value:,}" if isinstance(value, int) else significant(number)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return str(value.strftime("%Y-%m-%d %H:%M"))
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {cell(column, v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " → ".join(cell(column, v) for v in value)
    return str(_plain(value))


def duration(seconds: float) -> str:
    """Seconds in the two largest units: 45s, 12m 05s, 2h 05m, 7d, 3d 04h."""
    total = round(seconds)
    if total < 10 and seconds != total:
        return f"{seconds:.1f}s"
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h" if hours else f"{days}d"


def percent(share: float | None) -> str:
    """A proportion as a percentage, one decimal: 0.61047 → "61.0%" (None: "–")."""
    return "–" if share is None else f"{share * 100:.1f}%"


def significant(number: float, digits: int = 3) -> str:
    """A float to `digits` significant digits, never in exponent form and never losing a
    whole digit: 0.073849 → "0.0738", 46.12 → "46.1", 1234.5 → "1,234"."""
    if number == 0 or not math.isfinite(number):
        return f"{number:g}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(number))), 0)
    return f"{number:,.{decimals}f}"


@contextmanager
def progress_bar(description: str, *, in_bytes: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields `update(done, total)`. Silent when not a terminal."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    counter = DownloadColumn() if in_bytes else MofNCompleteColumn()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        counter,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=False,
        disable=not errors.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def steps_bar(description: str, steps: Sequence[str]) -> Iterator[Callable[[str], None]]:
    """A progress bar over named steps; yields `starting(step)`, to call as each step begins."""
    with progress_bar(description, in_bytes=False) as update:
        done = 0

        def starting(step: str) -> None:
            nonlocal done
            update(done, len(steps))
            done += 1

        yield starting
        update(len(steps), len(steps))


def by_month(by_day: list[dict[str, Any]], width: int = 40) -> list[dict[str, Any]]:
    """Daily counts folded into months, with a bar scaled to the busiest month."""
    months: dict[str, int] = {}
    for row in by_day:
        key = row["day"].strftime("%Y-%m")
        months[key] = months.get(key, 0) + row["events"]
    top = max(months.values(), default=1)
    return [
        {"month": month, "events": count, "": "█" * max(1, round(width * count / top))}
        for month, count in months.items()
    ]
