"""Streaming readers: a file of any size becomes Arrow batches of bounded size.

Each reader yields `Batch`es: records as an Arrow table (with `_record_no`, 1-based), the
records that could not even be parsed (kept for quarantine, never skipped), and how far into the
file it got, for the progress bar. CSV and Parquet give one column per field; JSON lines give
one `_raw` text column per line, which the transform reads with JSON paths.
"""

from __future__ import annotations

import csv
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from parcours.collect.mapping import CsvOptions
from parcours.collect.transform import InputShape
from parcours.errors import InputFileError

FileFormat = Literal["csv", "jsonl", "parquet"]


@dataclass(frozen=True)
class Unparseable:
    """A record the reader could not parse: its position, its text, and why."""

    record_number: int
    raw: str
    reason: str


@dataclass
class Batch:
    table: pa.Table
    unparseable: list[Unparseable] = field(default_factory=list)
    position: int = 0
    """Progress so far, in the reader's `total` units (bytes, or rows for Parquet)."""


def detect_format(path: Path, declared: FileFormat | None) -> FileFormat:
    """The format of `path`: the mapping's `format` if it declares one, else the extension."""
    if declared:
        return declared
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    by_suffix: dict[str, FileFormat] = {
        ".csv": "csv",
        ".tsv": "csv",
        ".txt": "csv",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
        ".parquet": "parquet",
        ".pq": "parquet",
    }
    if last not in by_suffix:
        raise InputFileError(
            f"Cannot tell the format of {path.name}",
            "name the file .csv, .jsonl or .parquet (optionally .gz), "
            "or set `format:` in the mapping",
            where=str(path),
        )
    return by_suffix[last]


class Reader:
    """Base of the readers: a file, its total size in progress units, and its shape."""

    shape: InputShape
    total: int

    def batches(self) -> Iterator[Batch]:
        raise NotImplementedError


def open_reader(path: Path, fmt: FileFormat, csv_options: CsvOptions, batch_rows: int) -> Reader:
    if not path.is_file():
        raise InputFileError(f"No file at {path}", "check the path", where=str(path))
    if fmt == "csv":
        return CsvReader(path, csv_options, batch_rows)
    if fmt == "jsonl":
        return JsonLinesReader(path, batch_rows)
    return ParquetReader(path, batch_rows)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _numbered(table: pa.Table, first: int, skipped: list[Unparseable] | None = None) -> pa.Table:
    """Number records from `first`, leaving out the numbers of records the parser skipped."""
    taken = pa.array([u.record_number for u in skipped or []], pa.int64())
    numbers = pa.array(range(first, first + table.num_rows + len(taken)), pa.int64())
    if len(taken):
        numbers = numbers.filter(pc.invert(pc.is_in(numbers, taken)))
    return table.add_column(0, "_record_no", numbers)


class CsvReader(Reader):
    def __init__(self, path: Path, options: CsvOptions, batch_rows: int) -> None:
        self.path, self.options, self.batch_rows = path, options, batch_rows
        self.total = path.stat().st_size
        self.header = self._header()
        self.shape = InputShape("columns", tuple(self.header), frozenset(self.header))

    def _open(self) -> tuple[pa.NativeFile, pa.NativeFile]:
        raw = pa.OSFile(str(self.path))
        stream = pa.CompressedInputStream(raw, "gzip") if _is_gzip(self.path) else raw
        return raw, stream

    def _header(self) -> list[str]:
        opener = gzip.open if _is_gzip(self.path) else open
        with opener(self.path, "rt", encoding="utf-8", errors="replace", newline="") as text:
            first = next(
                csv.reader(text, delimiter=self.options.delimiter, quotechar=self.options.quote),
                None,
            )
        if not first:
            raise InputFileError(
                f"{self.path.name} is empty", "export the file again", where=str(self.path)
            )
        if not self.options.header:
            return [f"column_{i + 1}" for i in range(len(first))]
        names = [name.strip().lstrip("\ufeff") for name in first]
        duplicated = sorted({n for n in names if names.count(n) > 1 or not n})
        if duplicated:
            raise InputFileError(
                f"The header of {self.path.name} has empty or repeated column names: {duplicated}",
                "give every column a distinct name in the file's first line",
                where=str(self.path),
            )
        return names

    def batches(self) -> Iterator[Batch]:
        bad: list[Unparseable] = []
        expected = len(self.header)

        header_rows = 1 if self.options.header else 0

        def on_invalid(row: Any) -> str:
            record = row.number - header_rows
            bad.append(
                Unparseable(
                    record,
                    row.text,
                    f"record {record} (line {row.number}) has {row.actual_columns} fields "
                    f"where the header has {expected}",
                )
            )
            return "skip"

        raw, stream = self._open()
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                column_names=self.header,
                skip_rows=header_rows,
                block_size=8 << 20,
                # One thread: the handler then learns each bad row's number.
                use_threads=False,
                encoding=self.options.encoding,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.options.delimiter,
                quote_char=self.options.quote,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in self.header},
                strings_can_be_null=False,
            ),
        )
        yield from _rebatch(_reader_batches(reader), self.batch_rows, bad, lambda: raw.tell())
        raw.close()


def _reader_batches(reader: Any) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except pa.ArrowInvalid as error:
        raise InputFileError(
            f"The file stops making sense as CSV: {error}",
            "check the delimiter and quote settings in the mapping's `csv:` table",
        ) from error


def _rebatch(
    batches: Iterator[pa.RecordBatch],
    batch_rows: int,
    bad: list[Unparseable],
    position: Any,
) -> Iterator[Batch]:
    """Regroup a reader's own batches into tables of about `batch_rows` rows."""
    pending: list[pa.RecordBatch] = []
    rows, first = 0, 1
    for record_batch in batches:
        pending.append(record_batch)
        rows += record_batch.num_rows
        if rows >= batch_rows:
            yield Batch(_numbered(pa.Table.from_batches(pending), first, bad), bad[:], position())
            first += rows + len(bad)
            bad.clear()
            pending, rows = [], 0
    if pending or bad:
        schema = pending[0].schema if pending else pa.schema([])
        table = pa.Table.from_batches(pending, schema=schema)
        yield Batch(_numbered(table, first, bad), bad[:], position())


class JsonLinesReader(Reader):
    """One `_raw` text column, a line each; the transform parses it (once) as JSON.

    Lines are split by Arrow's CSV reader with a delimiter no valid JSON line holds (a raw
    control character) and no quoting, which is several times faster than Python's line
    iteration; a line holding that character is unparseable anyway, and is kept as such.
    """

    shape = InputShape("json")

    def __init__(self, path: Path, batch_rows: int) -> None:
        self.path, self.batch_rows = path, batch_rows
        self.total = path.stat().st_size

    def batches(self) -> Iterator[Batch]:
        bad: list[Unparseable] = []

        def on_invalid(row: Any) -> str:
            bad.append(
                Unparseable(row.number, row.text, f"line {row.number} is not one JSON value")
            )
            return "skip"

        raw = pa.OSFile(str(self.path))
        stream = pa.CompressedInputStream(raw, "gzip") if _is_gzip(self.path) else raw
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                column_names=["_raw"], block_size=8 << 20, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=JSON_LINE_DELIMITER,
                quote_char=False,
                escape_char=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={"_raw": pa.binary()}, strings_can_be_null=False
            ),
        )
        for batch in _rebatch(_reader_batches(reader), self.batch_rows, bad, lambda: raw.tell()):
            yield _decoded(batch)
        raw.close()


JSON_LINE_DELIMITER = "\x1e"
"""ASCII record separator: JSON forbids raw control characters, so no valid line holds it."""


def _decoded(batch: Batch) -> Batch:
    """Bytes to text; a line that is not valid UTF-8 becomes unparseable instead of failing."""
    table = batch.table
    if "_raw" not in table.column_names:
        return batch
    column = table.column("_raw")
    try:
        text = column.cast(pa.string())
        return Batch(table.set_column(1, "_raw", text), batch.unparseable, batch.position)
    except pa.ArrowInvalid:
        pass
    keep, decoded = [], []
    for number, line in zip(
        table.column("_record_no").to_pylist(), column.to_pylist(), strict=True
    ):
        try:
            decoded.append(line.decode("utf-8"))
            keep.append(True)
        except UnicodeDecodeError:
            keep.append(False)
            batch.unparseable.append(
                Unparseable(
                    number, line.decode("utf-8", "replace"), f"line {number} is not valid UTF-8"
                )
            )
    kept = table.filter(pa.array(keep))
    return Batch(
        kept.set_column(1, "_raw", pa.array(decoded, pa.string())),
        batch.unparseable,
        batch.position,
    )


class ParquetReader(Reader):
    def __init__(self, path: Path, batch_rows: int) -> None:
        self.path, self.batch_rows = path, batch_rows
        try:
            self.file = pq.ParquetFile(str(path))
        except (pa.ArrowInvalid, OSError) as error:
            raise InputFileError(
                f"{path.name} is not a readable Parquet file: {error}",
                "export it again as Parquet, or name it .csv/.jsonl if it is not Parquet",
                where=str(path),
            ) from error
        schema = self.file.schema_arrow
        self.total = self.file.metadata.num_rows
        instants = frozenset(
            f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.tz is not None
        )
        texts = frozenset(
            f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        )
        self.shape = InputShape("columns", tuple(schema.names), texts, instants)

    def batches(self) -> Iterator[Batch]:
        first = 1
        for record_batch in self.file.iter_batches(batch_size=self.batch_rows):
            table = pa.Table.from_batches([record_batch])
            yield Batch(_numbered(table, first), [], first - 1 + table.num_rows)
            first += table.num_rows


def unparseable_table(rows: list[Unparseable]) -> pa.Table:
    """Parse failures as a relation the quarantine writer takes."""
    return pa.table(
        {
            "record_number": pa.array([r.record_number for r in rows], pa.int64()),
            "raw": pa.array([r.raw for r in rows], pa.string()),
            "reason": pa.array([r.reason for r in rows], pa.string()),
        }
    )


def prefetched(batches: Iterator[Batch], depth: int = 1) -> Iterator[Batch]:
    """Read the next batch in a thread while the engine stores this one.

    Parsing (Arrow) and storing (the engine) both release the GIL, so they overlap; the queue
    holds at most `depth` batches ahead, which keeps memory bounded.
    """
    queue: Queue[Batch | BaseException | None] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        queue.put(batch, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(None)
        except BaseException as error:  # handed to the consumer, raised there
            queue.put(error)

    worker = threading.Thread(target=produce, name="parcours-reader", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
