"""A file's bytes made safe to parse: decompressed to the last readable byte, no line too long.

Arrow's CSV parser, which splits CSV and JSON-lines files into records, reads fixed-size
blocks and gives up on a record larger than a block; it fails the whole file on a byte that is
not UTF-8; and a gzip stream cut short (a copy interrupted mid-way) fails the read that reaches
the cut, losing what that read held. `BoundedLines` sits between the file and the parser. It
hands the parser the file's bytes, except that a line longer than `limit` bytes, or not valid
UTF-8, is replaced by a short marker line and kept aside (`cuts`: why, its size, its first
bytes), and a damaged or truncated gzip stream ends at its last readable byte (`broken` says
why) instead of failing. The reader then quarantines the record holding a marker in its place,
with its number, so every other record is still stored.

Memory is bounded by `limit` and the parser's block size, whatever the file.
"""

from __future__ import annotations

import codecs
import io
import re
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

CHUNK_BYTES = 1 << 20
"""Bytes read from the file (compressed or not) at a time."""

SAMPLE_BYTES = 64 * 1024
"""How much of a file is looked at before reading it (binary? which line end? the header)."""

PREVIEW_BYTES = 1024
"""How much of a line too long to keep is kept, to show what it was."""

MARKER = b"\x1aparcours_cut_"
SKELETON_BYTES = 64 * 1024
"""The longest skeleton kept of a cut line (see `BoundedLines`)."""
"""Starts the line put in place of a cut one (SUB, a control character text files do not hold)."""

_MARKER_NUMBER = re.compile(rb"\x1aparcours_cut_(\d+)\x1a")

# Bytes text holds: tab, line feed, form feed, carriage return, and everything from space up
# (UTF-8 and the Latin encodings use the high half).
_TEXT_BYTES = bytes([9, 10, 12, 13, 27, *range(32, 256)])


CutKind = Literal["long", "not_utf8", "truncated"]


@dataclass
class Cut:
    """A line replaced by a marker: why, how long it was, and how it began."""

    kind: CutKind
    """`long`: over the limit; `not_utf8`: a byte UTF-8 cannot hold (at `offset`, `byte`);
    `truncated`: the last line of a file that ends early."""
    size: int
    preview: bytes
    offset: int = 0
    byte: int = 0


class ByteSource:
    """A file's bytes, decompressed when it is gzip; `broken` says why it stopped early."""

    def __init__(self, path: Path) -> None:
        self.file: BinaryIO = path.open("rb")
        self.gzip = self.file.read(2) == b"\x1f\x8b"
        self.file.seek(0)
        self.broken: str | None = None
        self._inflate = zlib.decompressobj(wbits=31) if self.gzip else None
        self._pending = b""
        self._in_member = False

    @property
    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for gzip)."""
        return self.file.tell()

    def read(self) -> bytes:
        """The next chunk of the file's content; b"" at its end or where it stops making sense."""
        if self._inflate is None:
            return self.file.read(CHUNK_BYTES)
        while self.broken is None:
            if not self._pending:
                self._pending = self.file.read(CHUNK_BYTES)
                if not self._pending:
                    if self._in_member:
                        self._stop(
                            f"the gzip stream stops at byte {self.position:,}, before its end "
                            "(the file is truncated)"
                        )
                    return b""
            self._in_member = True
            try:
                # Bounded output: a small compressed chunk may inflate a thousandfold.
                out = self._inflate.decompress(self._pending, CHUNK_BYTES)
            except zlib.error as error:
                self._stop(f"the gzip data is damaged near byte {self.position:,} ({error})")
                return b""
            self._pending = self._inflate.unconsumed_tail
            if self._inflate.eof:  # a member ends; `cat a.gz b.gz` makes a file of two
                self._pending = self._inflate.unused_data
                self._inflate, self._in_member = zlib.decompressobj(wbits=31), False
            if out:
                return out
        return b""

    def _stop(self, why: str) -> None:
        self.broken = why
        self._pending = b""

    def close(self) -> None:
        self.file.close()


def sample(path: Path, size: int = SAMPLE_BYTES) -> bytes:
    """The first `size` bytes of the file's content (decompressed), to look at before reading."""
    source = ByteSource(path)
    try:
        taken = b""
        while len(taken) < size and (chunk := source.read()):
            taken += chunk
        return taken[:size]
    finally:
        source.close()


def binary_kind(head: bytes) -> str | None:
    """What `head` (a file's first bytes) looks like if it is not text, else None."""
    signatures = {
        b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one)",
        b"\xd0\xcf\x11\xe0": "an Excel .xls workbook (or another Office file)",
        b"PAR1": "a Parquet file",
        b"%PDF": "a PDF document",
        b"\xff\xfe": "UTF-16 text",
        b"\xfe\xff": "UTF-16 text",
    }
    for magic, kind in signatures.items():
        if head.startswith(magic):
            return kind
    # A few stray control bytes are a damaged record, quarantined in its turn; many, not text.
    if len(head.translate(None, _TEXT_BYTES)) > len(head) // 20:
        return "binary data"
    return None


class BoundedLines(io.RawIOBase):
    """The file's content with no line longer than `limit` bytes, as a stream Arrow reads.

    `newline` is the byte lines end with (b"\\r" for old Mac files). With `utf8`, a line that is
    not valid UTF-8 is cut too (Arrow would fail the whole file on it). A cut line is replaced by
    its skeleton: its `quote` and `delimiter` bytes as they were, each run of other bytes as one
    `x`, the first of them the marker. The parser moves through the skeleton as it did through
    the line (a quote opening or closing a value, or written inside one, stays so), so the
    records after a cut are read as they were written. A skeleton past `SKELETON_BYTES` (a long
    line of nothing but delimiters) keeps only what decides the parser's state after the line:
    the marker, and a quote if the line had an odd number of them.
    """

    def __init__(
        self,
        source: ByteSource,
        limit: int,
        *,
        newline: bytes = b"\n",
        quote: bytes | None = None,
        delimiter: bytes = b",",
        utf8: bool = True,
    ) -> None:
        super().__init__()
        self.source, self.limit, self.newline, self.utf8 = source, limit, newline, utf8
        self.cuts: list[Cut] = []
        self.found: set[int] = set()
        """Cuts whose marker a record was found holding (`cut_of`)."""
        self._others = re.compile(b"[^" + re.escape(delimiter + (quote or b"")) + b"]+")
        self._quote = quote or b""
        self._ready: deque[bytes | memoryview] = deque()
        """Bytes passed on, not read yet: pieces of the file's chunks, never copied until read."""
        self._ready_size = 0
        self._carry = b""
        self._cutting: Cut | None = None
        self._skeleton: bytearray | None = bytearray()
        self._quotes = 0
        """Quotes of the line being cut, once its skeleton is too long to keep."""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """The next `size` bytes (all that is left if negative), in one copy. Arrow asks
        `read`; `RawIOBase.read` would copy three times."""
        # Fill the request whole: the parser counts on blocks of its size to fit records.
        while (size < 0 or self._ready_size < size) and not self._done:
            self._fill()
        size = self._ready_size if size < 0 else min(size, self._ready_size)
        taken: list[bytes | memoryview] = []
        left = size
        while left:
            piece = self._ready.popleft()
            if len(piece) > left:
                self._ready.appendleft(memoryview(piece)[left:])
                piece = memoryview(piece)[:left]
            taken.append(piece)
            left -= len(piece)
        self._ready_size -= size
        return b"".join(taken)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def cut_of(self, text: str | bytes) -> Cut | None:
        """The cut whose marker `text` (a record) holds, if it holds one."""
        found = _MARKER_NUMBER.search(text.encode() if isinstance(text, str) else text)
        if not found:
            return None
        self.found.add(int(found.group(1)))
        return self.cuts[int(found.group(1))]

    @property
    def unfound(self) -> bool:
        """Some cut's marker is still to be found in a record."""
        return len(self.found) < len(self.cuts)

    def _fill(self) -> None:
        chunk = self.source.read()
        if not chunk:
            self._finish()
            return
        if self._cutting is not None:
            end = chunk.find(self.newline)
            self._grow_cut(chunk if end < 0 else chunk[:end])
            if end < 0:
                return
            self._close_cut()
            chunk = chunk[end + 1 :]
        data = self._carry + chunk
        last = data.rfind(self.newline)
        self._emit_lines(data[: last + 1])
        self._carry = data[last + 1 :]
        if len(self._carry) > self.limit:
            self._open_cut(Cut("long", 0, self._carry[:PREVIEW_BYTES]))
            self._grow_cut(self._carry)
            self._carry = b""

    def _emit_lines(self, lines: bytes) -> None:
        """Pass whole lines on, each bad one replaced by its marker."""
        start, view = 0, memoryview(lines)
        for begin, end, cut in self._bad_lines(lines):
            self._pass_on(view[start:begin])
            self._open_cut(cut)
            self._grow_cut(lines[begin:end], counted=True)
            self._close_cut()
            start = end + 1
        self._pass_on(view[start:])

    def _pass_on(self, piece: bytes | memoryview) -> None:
        if len(piece):
            self._ready.append(piece)
            self._ready_size += len(piece)

    def _bad_lines(self, lines: bytes) -> Iterator[tuple[int, int, Cut]]:
        """(start, end, cut) of each line to cut, in order; `end` is its newline's index."""
        position = 0
        for begin, end in self._long_lines(lines):
            yield from self._undecodable(lines, position, begin)
            yield begin, end, Cut("long", end - begin, lines[begin : begin + PREVIEW_BYTES])
            position = end + 1
        yield from self._undecodable(lines, position, len(lines))

    def _long_lines(self, lines: bytes) -> Iterator[tuple[int, int]]:
        """Lines over the limit: one search per `limit` bytes finds the last line end in reach."""
        position = 0
        while len(lines) - position > self.limit + 1:
            found = lines.rfind(self.newline, position, position + self.limit + 1)
            if found >= 0:
                position = found + 1
                continue
            end = lines.find(self.newline, position)
            yield position, end
            position = end + 1

    def _undecodable(self, lines: bytes, start: int, end: int) -> Iterator[tuple[int, int, Cut]]:
        if not self.utf8 or start >= end or lines.isascii():
            return
        view = memoryview(lines)
        while start < end:
            try:
                codecs.utf_8_decode(view[start:end], "strict", True)
                return
            except UnicodeDecodeError as error:
                at = start + error.start
                begin = lines.rfind(self.newline, start, at) + 1 or start
                stop = lines.find(self.newline, at, end)
                stop = end if stop < 0 else stop
                line = lines[begin:stop]
                yield begin, stop, Cut("not_utf8", len(line), line, at - begin, lines[at])
                start = stop + 1

    def _open_cut(self, cut: Cut) -> None:
        self._cutting = cut
        self._skeleton, self._quotes = bytearray(), 0

    def _grow_cut(self, more: bytes, *, counted: bool = False) -> None:
        assert self._cutting is not None
        if not counted:
            self._cutting.size += len(more)
        if self._skeleton is None:
            self._quotes += more.count(self._quote) if self._quote else 0
            return
        self._skeleton += self._others.sub(b"x", more)
        if len(self._skeleton) > SKELETON_BYTES:
            self._quotes = self._skeleton.count(self._quote) if self._quote else 0
            self._skeleton = None

    def _close_cut(self) -> None:
        assert self._cutting is not None
        self.cuts.append(self._cutting)
        marker = b"%s%d\x1a" % (MARKER, len(self.cuts) - 1)
        if self._skeleton is None:
            self._pass_on(marker + (self._quote if self._quotes % 2 else b""))
        else:
            skeleton = bytes(self._skeleton)
            self._pass_on(
                skeleton.replace(b"x", marker, 1) if b"x" in skeleton else skeleton + marker
            )
        self._pass_on(self.newline)
        self._cutting = None

    def _finish(self) -> None:
        carry, self._carry, self._done = self._carry, b"", True
        if carry and self.source.broken is not None:
            self._open_cut(Cut("truncated", len(carry), carry[:PREVIEW_BYTES]))
            self._grow_cut(carry, counted=True)
        elif carry:
            self._emit_lines(carry)
        if self._cutting is not None:
            if self.source.broken is not None:
                self._cutting.kind = "truncated"
            self._close_cut()
