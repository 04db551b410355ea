"""Data goes out as easily as it comes in: the canonical events as Parquet, CSV or JSON lines.

The engine writes the file itself (DuckDB `COPY`), streaming, so an export of any size runs in
bounded memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from parcours.sql import lit
from parcours.store.schema import EVENT_COLUMN_NAMES
from parcours.store.store import Store

ExportFormat = Literal["parquet", "csv", "jsonl"]

_COPY_OPTIONS: dict[str, str] = {
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "csv": "FORMAT csv, HEADER true",
    "jsonl": "FORMAT json",
}


def export_query(source: str | None = None) -> str:
    """The events to export, oldest first; nested columns as JSON text for CSV readers."""
    where = f" WHERE source = {lit(source)}" if source else ""
    columns = ", ".join(EVENT_COLUMN_NAMES)
    return f"SELECT {columns} FROM events{where} ORDER BY occurred_at, source, event_id"


def export_events(
    store: Store, path: Path, *, fmt: ExportFormat = "parquet", source: str | None = None
) -> int:
    """Write the events to `path`; return how many were written."""
    query = export_query(source)
    if fmt == "csv":
        # CSV has no nested values: identifiers become a JSON array.
        query = f"SELECT * REPLACE (to_json(identifiers) AS identifiers) FROM ({query})"
    count = store.engine.scalar(f"SELECT count(*) FROM ({export_query(source)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    store.engine.execute_script(f"COPY ({query}) TO {lit(str(path))} ({_COPY_OPTIONS[fmt]})")
    return int(count)
