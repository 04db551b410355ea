"""Streaming readers: a file of any size becomes Arrow batches of bounded size.

Each reader yields `Batch`es: records as an Arrow table (with `_record_no`, 1-based), the
records that could not even be parsed (kept for quarantine, never skipped), and how far into the
file it got, for the progress bar. CSV and Parquet give one column per field; JSON lines give
one `_raw` text column per line, which the transform reads with JSON paths.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from parcours.arrays import numpy_of
from parcours.collect.bounded import (
    MARKER,
    SAMPLE_BYTES,
    BoundedLines,
    ByteSource,
    Cut,
    binary_kind,
    sample,
)
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


def open_reader(
    path: Path,
    fmt: FileFormat,
    csv_options: CsvOptions,
    batch_rows: int,
    max_record_bytes: int = 32 * 1024,
) -> Reader:
    if not path.is_file():
        raise InputFileError(f"No file at {path}", "check the path", where=str(path))
    if fmt == "csv":
        return CsvReader(path, csv_options, batch_rows, max_record_bytes)
    if fmt == "jsonl":
        return JsonLinesReader(path, batch_rows, max_record_bytes)
    return ParquetReader(path, batch_rows)


def _numbered(table: pa.Table, first: int, skipped: list[Unparseable] | None = None) -> pa.Table:
    """Number records from `first`, leaving out the numbers of records the parser skipped."""
    numbers = np.arange(first, first + table.num_rows + len(skipped or []), dtype=np.int64)
    if skipped:
        numbers = numbers[~np.isin(numbers, [u.record_number for u in skipped])]
    return table.add_column(0, "_record_no", _int64s(numbers))


def _int64s(numbers: npt.NDArray[np.int64]) -> pa.Array:
    """Numbers as an Arrow array, built on their buffer: `pa.array` loads pandas the first time
    it runs (half a second, for every import process), and no reader needs pandas."""
    return pa.Array.from_buffers(pa.int64(), len(numbers), [None, pa.py_buffer(numbers)])


LONG_LINE_FACTOR = 4
"""A line up to this many times `max_record_bytes` is read whole (and quarantined whole as
`oversize`, replayable once the setting is raised); a longer one only as its first bytes."""


class _TextReader(Reader):
    """What the CSV and JSON-lines readers share: a look at the file's first bytes before
    reading, its content through `BoundedLines`, and the records cut there quarantined."""

    path: Path
    batch_rows: int
    max_record_bytes: int
    utf8: bool = True
    advice = "export the file again as UTF-8"
    """What to do about a line that is not UTF-8."""

    def _look(self, encoding: str = "utf8") -> bytes:
        """The file's first bytes, refused if they are not text; sets the line end."""
        self.encoding = encoding
        self.total = self.path.stat().st_size
        self.line_limit = LONG_LINE_FACTOR * self.max_record_bytes
        self.block_size = max(8 << 20, 2 * self.line_limit + (1 << 16))
        head = sample(self.path)
        wide = encoding.lower().replace("-", "").replace("_", "") in _WIDE_ENCODINGS
        kind = None if wide else binary_kind(head)
        if kind:
            raise InputFileError(
                f"{self.path.name} is not a text file: it looks like {kind}",
                "export the data as CSV or JSON lines in UTF-8 (for UTF-16 text, or set "
                "`csv: {encoding: utf-16}` in the mapping); a Parquet file is read when "
                "named .parquet",
                where=str(self.path),
            )
        self.newline = b"\r" if b"\r" in head and b"\n" not in head else b"\n"
        return head

    def _lines(self, quote: str | None = None, delimiter: str = ",") -> BoundedLines:
        self.source = ByteSource(self.path)
        return BoundedLines(
            self.source,
            self.line_limit,
            newline=self.newline,
            quote=quote.encode() if quote else None,
            delimiter=delimiter.encode(),
            utf8=self.utf8,
        )

    def _unparseable(self, record: int, cut: Cut) -> Unparseable:
        """The quarantine entry of a record whose line `BoundedLines` cut."""
        if cut.kind == "not_utf8":
            reason = (
                f"record {record} is not valid UTF-8 (byte 0x{cut.byte:02X} at position "
                f"{cut.offset + 1}); {self.advice}"
            )
        elif cut.kind == "truncated":
            reason = (
                f"record {record} is incomplete: the file ends inside it "
                f"({self.source.broken}); the {len(cut.preview):,} bytes of it there are kept"
            )
        else:
            reason = (
                f"record {record} is a line of {cut.size:,} bytes, more than the "
                f"{self.max_record_bytes:,} allowed (setting max_record_bytes); only its "
                f"first {len(cut.preview):,} bytes are kept here"
            )
        return Unparseable(record, shown(cut.preview), reason)

    def _checked(self, lines: BoundedLines, batches: Iterator[Batch]) -> Iterator[Batch]:
        """The batches with cut records moved to quarantine; file-level trouble said plainly."""
        done = 0
        try:
            for batch in batches:
                batch = self._without_cuts(batch, lines)
                done += batch.table.num_rows + len(batch.unparseable)
                yield batch
        except UnicodeDecodeError as error:
            raise InputFileError(
                f"{self.path.name} is not {self.encoding} text: byte "
                f"0x{error.object[error.start]:02X} has no meaning there ({done:,} records "
                "before it were imported)",
                "set the file's real encoding in the mapping, `csv: {encoding: ...}` (cp1252 "
                "for Windows files, utf-8, latin-1), and import it again",
                where=str(self.path),
            ) from error
        except pa.ArrowInvalid as error:
            raise InputFileError(
                f"{self.path.name} stops making sense after record {done:,}: "
                f"{shown(str(error), limit=300)}",
                "a quote that never closes makes the rest of a file one value: check the "
                "`csv:` delimiter and quote settings of the mapping, or that record; "
                f"the {done:,} records before it are imported",
                where=str(self.path),
            ) from error
        finally:
            self.source.close()
        if self.source.broken:
            raise InputFileError(
                f"{self.path.name} cannot be read to its end: {self.source.broken}. The "
                f"{done:,} records read before that point are imported (an incomplete last "
                "one goes to quarantine)",
                "copy or export the file again and import it again: records already "
                "stored are not stored twice",
                where=str(self.path),
            )

    def _without_cuts(self, batch: Batch, lines: BoundedLines) -> Batch:
        """Rows holding a cut line's marker go to quarantine, with their record number."""
        if not lines.unfound:
            return batch
        table = batch.table
        marked = None
        for name in table.column_names[1:]:
            found = pc.match_substring(table.column(name), MARKER.decode())
            marked = found if marked is None else pc.or_(marked, found)
        if marked is None or not pc.any(marked).as_py():
            return batch
        rows = table.filter(marked)
        for number, values in zip(
            rows.column("_record_no").to_pylist(),
            zip(*(rows.column(n).to_pylist() for n in rows.column_names[1:]), strict=True),
            strict=True,
        ):
            cut = next(c for v in values if (c := lines.cut_of(v)) is not None)
            batch.unparseable.append(self._unparseable(number, cut))
        return Batch(table.filter(pc.invert(marked)), batch.unparseable, batch.position)


_WIDE_ENCODINGS = {"utf16", "utf16le", "utf16be", "utf32", "utf32le", "utf32be"}


def shown(text: str | bytes, limit: int = 64 * 1024) -> str:
    """A record as text a person can read safely: bytes that are not UTF-8 and control
    characters written as escapes (never raw to a terminal), at most `limit` characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit:,} more characters)"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class CsvReader(_TextReader):
    def __init__(
        self, path: Path, options: CsvOptions, batch_rows: int, max_record_bytes: int = 32 * 1024
    ) -> None:
        self.path, self.options, self.batch_rows = path, options, batch_rows
        self.max_record_bytes = max_record_bytes
        self.utf8 = options.encoding.lower().replace("-", "").replace("_", "") == "utf8"
        self.advice = "if the file is Latin-1, set `csv: {encoding: latin-1}` in the mapping"
        self.header = self._header(self._look(options.encoding))
        self.shape = InputShape("columns", tuple(self.header), frozenset(self.header))

    def _header(self, head: bytes) -> list[str]:
        try:
            text = head.decode(self.options.encoding, errors="replace")
        except LookupError as error:
            raise InputFileError(
                f"Unknown encoding {self.options.encoding!r}",
                "set `csv: {encoding: ...}` to utf-8, latin-1, cp1252 or another Python codec",
                where=str(self.path),
            ) from error
        if "\n" not in text and "\r" not in text and len(head) == SAMPLE_BYTES:
            raise InputFileError(
                f"The first line of {self.path.name} is longer than {SAMPLE_BYTES:,} bytes, too "
                "long to read the file's columns from",
                "check the file: a CSV file starts with a line of column names (or, with "
                "`csv: {header: false}`, a record of ordinary size)",
                where=str(self.path),
            )
        first = next(
            csv.reader(
                io.StringIO(text, newline=""),
                delimiter=self.options.delimiter,
                quotechar=self.options.quote,
            ),
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
        quote = self.options.quote
        lines = self._lines(quote, self.options.delimiter)

        def on_invalid(row: Any) -> str:
            record = row.number - header_rows
            cut = lines.cut_of(row.text)
            bad.append(
                self._unparseable(record, cut)
                if cut
                else Unparseable(
                    record,
                    shown(row.text),
                    f"record {record} has {row.actual_columns} fields where the header has "
                    f"{expected}",
                )
            )
            return "skip"

        reader = _opened(
            lambda: pacsv.open_csv(
                lines,
                read_options=pacsv.ReadOptions(
                    column_names=self.header,
                    skip_rows=header_rows,
                    block_size=self.block_size,
                    # One thread: the handler then learns each bad row's number.
                    use_threads=False,
                    encoding=self.options.encoding,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.options.delimiter,
                    quote_char=quote or False,
                    newlines_in_values=True,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in self.header},
                    strings_can_be_null=False,
                ),
            )
        )
        yield from self._checked(
            lines, _rebatch(reader, self.batch_rows, bad, lambda: self.source.position)
        )


def _opened(open_reader: Callable[[], Iterable[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
    """The batches of a reader opened when first asked for: Arrow reads a first block as it
    opens, and what goes wrong there must surface where reading is checked. A file with no
    line at all (an empty JSON-lines export) has no records, which is no error."""
    try:
        opened = open_reader()
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error):
            return
        raise
    yield from opened


FIRST_BATCH_ROWS = 16_384
"""The first batch of a text file is small: the engine starts storing it while the reader
reads on instead of waiting for a whole batch, and field presence (asked of JSON lines batch
by batch until every mapped field is seen) usually answers on it alone."""


def _rebatch(
    batches: Iterator[pa.RecordBatch],
    batch_rows: int,
    bad: list[Unparseable],
    position: Any,
) -> Iterator[Batch]:
    """Regroup a reader's own batches into tables of about `batch_rows` rows, the first
    one smaller (`FIRST_BATCH_ROWS`)."""
    pending: list[pa.RecordBatch] = []
    rows, first, wanted = 0, 1, min(batch_rows, FIRST_BATCH_ROWS)
    for record_batch in batches:
        pending.append(record_batch)
        rows += record_batch.num_rows
        if rows >= wanted:
            yield Batch(_numbered(pa.Table.from_batches(pending), first, bad), bad[:], position())
            first += rows + len(bad)
            bad.clear()
            pending, rows, wanted = [], 0, batch_rows
    if pending or bad:
        schema = pending[0].schema if pending else pa.schema([])
        table = pa.Table.from_batches(pending, schema=schema)
        yield Batch(_numbered(table, first, bad), bad[:], position())


class JsonLinesReader(_TextReader):
    """One `_raw` text column, a line each; the transform parses it (once) as JSON.

    Lines are split by Arrow's CSV reader with a delimiter no valid JSON line holds (a raw
    control character) and no quoting, which is several times faster than Python's line
    iteration; a line holding that character is unparseable anyway, and is kept as such.
    """

    shape = InputShape("json")
    advice = "JSON lines are UTF-8: export the file again as UTF-8"

    def __init__(self, path: Path, batch_rows: int, max_record_bytes: int = 32 * 1024) -> None:
        self.path, self.batch_rows, self.max_record_bytes = path, batch_rows, max_record_bytes
        self._look()

    def batches(self) -> Iterator[Batch]:
        bad: list[Unparseable] = []
        lines = self._lines()

        def on_invalid(row: Any) -> str:
            cut = lines.cut_of(row.text)
            bad.append(
                self._unparseable(row.number, cut)
                if cut
                else Unparseable(
                    row.number, shown(row.text), f"record {row.number} is not one JSON value"
                )
            )
            return "skip"

        reader = _opened(
            lambda: pacsv.open_csv(
                lines,
                read_options=pacsv.ReadOptions(
                    column_names=["_raw"], block_size=self.block_size, use_threads=False
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=JSON_LINE_DELIMITER,
                    quote_char=False,
                    escape_char=False,
                    invalid_row_handler=on_invalid,
                    ignore_empty_lines=False,  # read, so that a record's number is its line's
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={"_raw": pa.string()}, strings_can_be_null=False
                ),
            )
        )
        batches = _rebatch(reader, self.batch_rows, bad, lambda: self.source.position)
        yield from self._checked(lines, _without_blank_lines(batches))


def _without_blank_lines(batches: Iterator[Batch]) -> Iterator[Batch]:
    """Empty lines are no records: they are left out once every line has its number."""
    for batch in batches:
        # Through numpy: a Python "" to compare with, or a mask made an Arrow array, would
        # load pandas (a quarter of a second) to convert it.
        kept = numpy_of(pc.binary_length(batch.table["_raw"])) > 0
        if not kept.all():
            batch.table = batch.table.take(_int64s(np.flatnonzero(kept).astype(np.int64)))
        yield batch


JSON_LINE_DELIMITER = "\x1e"
"""ASCII record separator: JSON forbids raw control characters, so no valid line holds it."""


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
        """Read row group by row group, so a damaged one costs only its unread records; the
        tables are gathered into batches of about `batch_rows` rows all the same."""
        pending: list[pa.Table] = []
        damaged: list[str] = []
        first = 1
        for group in range(self.file.num_row_groups):
            end = first + self.file.metadata.row_group(group).num_rows
            try:
                for record_batch in self.file.iter_batches(
                    batch_size=self.batch_rows, row_groups=[group]
                ):
                    pending.append(_numbered(pa.Table.from_batches([record_batch]), first))
                    first += record_batch.num_rows
                    if sum(t.num_rows for t in pending) >= self.batch_rows:
                        yield Batch(pa.concat_tables(pending), [], first - 1)
                        pending = []
            except (pa.ArrowException, OSError) as error:
                why = " ".join(str(error).split())
                damaged.append(f"{first:,} to {end - 1:,} ({shown(why, limit=200)})")
            first = end
        if pending:
            yield Batch(pa.concat_tables(pending), [], first - 1)
        if damaged:
            raise InputFileError(
                f"{self.path.name} is damaged: records {'; '.join(damaged)} cannot be read. "
                "Every other record is imported",
                "export the file again and import it again: records already stored are not "
                "stored twice",
                where=str(self.path),
            )


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
