"""Data goes out as easily as it comes in, with its customer: the canonical events, or the
identifiers, as Parquet, CSV or JSON lines.

The engine writes the file itself (DuckDB `COPY`), streaming, so an export of any size runs in
bounded memory.

Each event goes out with `customer_id`, the customer the last resolve gave it, and the
identifiers with theirs: what a user joining parcours's answers with another tool needs. Both
are read from tables of the store's own schema (`customer_events`, `identity_map`), which
identity writes; the store reads them by name and needs nothing of identity's code, so one
module keeps every export and the identity station keeps none of the file writing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from parcours.sql import lit
from parcours.store.schema import EVENT_COLUMN_NAMES, IDENTITY_MAP_COLUMNS
from parcours.store.store import Store

ExportFormat = Literal["parquet", "csv", "jsonl"]

_COPY_OPTIONS: dict[str, str] = {
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "csv": "FORMAT csv, HEADER true",
    "jsonl": "FORMAT json",
}

IDENTIFIER_COLUMNS = tuple(c.name for c in IDENTITY_MAP_COLUMNS)
"""The columns of an identifiers export: type, value, customer_id, first and last seen, events."""

_HAS_CUSTOMER = (
    "EXISTS (SELECT 1 FROM customer_events c WHERE c.source = e.source AND c.event_id = e.event_id)"
)


def _where(source: str | None, *conditions: str) -> str:
    """A WHERE clause over `events e`: the source's events (all when None), and `conditions`."""
    clauses = [f"e.source = {lit(source)}"] if source else []
    clauses += conditions
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def export_query(source: str | None = None) -> str:
    """The events to export, oldest first, each with its customer (NULL when no resolve has
    given it one yet, or when every identifier on it is blocked)."""
    columns = ", ".join(f"e.{c}" for c in EVENT_COLUMN_NAMES)
    return (
        f"SELECT {columns}, c.customer_id FROM events e LEFT JOIN customer_events c "
        f"ON c.source = e.source AND c.event_id = e.event_id{_where(source)} "
        "ORDER BY e.occurred_at, e.source, e.event_id"
    )


def identifiers_query() -> str:
    """Every identifier with its customer, customer by customer."""
    return (
        f"SELECT {', '.join(IDENTIFIER_COLUMNS)} FROM identity_map "
        "ORDER BY customer_id, type, value"
    )


def _copy(store: Store, query: str, path: Path, fmt: ExportFormat) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    store.engine.execute_script(f"COPY ({query}) TO {lit(str(path))} ({_COPY_OPTIONS[fmt]})")


def export_events(
    store: Store, path: Path, *, fmt: ExportFormat = "parquet", source: str | None = None
) -> int:
    """Write the events, each with its customer, to `path`; return how many were written."""
    query = export_query(source)
    if fmt == "csv":
        # CSV has no nested values: identifiers become a JSON array.
        query = f"SELECT * REPLACE (to_json(identifiers) AS identifiers) FROM ({query})"
    count = store.engine.scalar(f"SELECT count(*) FROM events e{_where(source)}")
    _copy(store, query, path, fmt)
    return int(count)


def events_without_customer(store: Store, source: str | None = None) -> int:
    """How many events have no customer yet: imported since the last resolve, or carrying
    only blocked identifiers."""
    query = f"SELECT count(*) FROM events e{_where(source, f'NOT {_HAS_CUSTOMER}')}"
    return int(store.engine.scalar(query))


def export_identifiers(store: Store, path: Path, *, fmt: ExportFormat = "parquet") -> int:
    """Write every identifier with its customer (type, value, customer_id, first and last
    seen, events) to `path`; return how many were written."""
    count = store.engine.scalar("SELECT count(*) FROM identity_map")
    _copy(store, identifiers_query(), path, fmt)
    return int(count)
