"""Streaming writers for the demo exports and truth files.

Each sink buffers up to `FLUSH_ROWS` records and then writes them out, so memory stays flat
however large the world. Output bytes depend only on the records: gzip gets a fixed mtime and no
file name, CSV a fixed line terminator.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

FLUSH_ROWS = 50_000

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

Cell = str | int | float | None


class _ByteStream(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


class Sink:
    """Counts records and flushes a buffer; subclasses say how the buffer is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self._pending = 0

    def _added(self) -> None:
        self.records += 1
        self._pending += 1
        if self._pending >= FLUSH_ROWS:
            self.flush()
            self._pending = 0

    def flush(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.flush()


class JsonLines(Sink):
    """One JSON object per line, UTF-8, optionally gzip-compressed."""

    def __init__(self, path: Path, *, compress: bool = False) -> None:
        super().__init__(path)
        self._file = path.open("wb")
        self._out: _ByteStream = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._file, mtime=0, compresslevel=5)
            if compress
            else self._file
        )
        self._lines: list[str] = []

    def write(self, record: dict[str, Any]) -> None:
        self._lines.append(_JSON.encode(record))
        self._added()

    def write_raw(self, line: str) -> None:
        """A line as given, valid JSON or not (planted unparseable records)."""
        self._lines.append(line)
        self._added()

    def flush(self) -> None:
        if self._lines:
            self._out.write(("\n".join(self._lines) + "\n").encode())
            self._lines.clear()

    def close(self) -> None:
        super().close()
        if self._out is not self._file:
            self._out.close()
        self._file.close()


class CsvRows(Sink):
    """CSV with a header line; every value is written as the caller formatted it."""

    def __init__(self, path: Path, header: Sequence[str], *, delimiter: str = ",") -> None:
        super().__init__(path)
        self._file = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, delimiter=delimiter, lineterminator="\n")
        self._writer.writerow(header)
        self._rows: list[Sequence[Cell]] = []

    def write(self, row: Sequence[Cell]) -> None:
        self._rows.append(row)
        self._added()

    def flush(self) -> None:
        if self._rows:
            self._writer.writerows(self._rows)
            self._rows.clear()

    def close(self) -> None:
        super().close()
        self._file.close()


APP_SCHEMA = pa.schema(
    [
        ("event_uuid", pa.string()),
        ("device_id", pa.string()),
        ("user_id", pa.string()),
        ("event_type", pa.string()),
        ("event_name", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("platform", pa.string()),
        ("app_version", pa.string()),
        ("order_total", pa.float64()),
        ("currency", pa.string()),
    ]
)


class ParquetColumns(Sink):
    """Parquet written one row group per flush, from column lists."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path)
        self._schema = schema
        self._columns: list[list[Any]] = [[] for _ in schema.names]
        self._writer = pq.ParquetWriter(str(path), schema, compression="zstd")

    def write(self, row: Sequence[Any]) -> None:
        for column, value in zip(self._columns, row, strict=True):
            column.append(value)
        self._added()

    def flush(self) -> None:
        if self._columns[0]:
            table = pa.table(
                [pa.array(c, f.type) for c, f in zip(self._columns, self._schema, strict=True)],
                schema=self._schema,
            )
            self._writer.write_table(table)
            for column in self._columns:
                column.clear()

    def close(self) -> None:
        super().close()
        self._writer.close()
