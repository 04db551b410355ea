"""How the command line shows results: a Rich table for people, JSON or CSV for programs.

JSON output is stable and documented (docs/cli.md): other programs, and our own tests, read it.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

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


def rows_of(data: pa.Table | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return data.to_pylist() if isinstance(data, pa.Table) else list(data)


def print_json(data: Any) -> None:
    if isinstance(data, pa.Table):
        data = data.to_pylist()
    sys.stdout.write(json.dumps(_plain(data), indent=2, ensure_ascii=False) + "\n")


def print_rows(
    data: pa.Table | Sequence[dict[str, Any]], fmt: OutputFormat, *, title: str | None = None
) -> None:
    """A list of records in the chosen format."""
    rows = rows_of(data)
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    columns = list(rows[0]) if rows else (data.column_names if isinstance(data, pa.Table) else [])
    if fmt is OutputFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: _plain(v) for k, v in row.items()} for row in rows)
        return
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "[dim]–[/dim]"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, int):
        return f"{value:,}"
    return str(_plain(value))


@contextmanager
def progress_bar(description: str, *, in_bytes: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields `update(done, total)`. Silent when not a terminal."""
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
