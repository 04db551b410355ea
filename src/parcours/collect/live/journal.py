"""The journal: what a 200 stands on.

Live messages are appended, as JSON lines, to a segment file per source beside the store
(`parcours.duckdb.journal/<source>/<seq>.<channel>.jsonl`) and fsync'd before any request is
answered. Closed segments are then loaded into the store through the import path (transform,
quarantine, dedup) and deleted. A crash loses nothing acknowledged: segments still on disk are
loaded when the store is next opened for writing, and loading twice stores nothing twice.

Only the writer thread appends, syncs and rotates; only the loader reads and deletes closed
segments. A line torn by a crash was never acknowledged and is cut off on recovery.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class Segment:
    source: str
    channel: str
    path: Path

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0


def journal_dir(store: Path) -> Path:
    return store.with_name(store.name + ".journal")


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._open: dict[str, tuple[Segment, IO[bytes], float]] = {}
        self._written: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._sequence = max((_sequence(p) for p in directory.glob("*/*.jsonl")), default=0)

    def append(self, source: str, channel: str, lines: bytes) -> None:
        """Write JSON lines, each ending in a newline, to the source's open segment (durable
        only after `sync`)."""
        if source not in self._open:
            self._sequence += 1
            folder = self.directory / source
            folder.mkdir(parents=True, exist_ok=True)
            segment = Segment(source, channel, folder / f"{self._sequence:012d}.{channel}.jsonl")
            opened: IO[bytes] = segment.path.open("ab")
            _sync_dir(folder)  # the new file's name must survive a crash too
            self._open[source] = (segment, opened, time.monotonic())
        _, handle, _ = self._open[source]
        handle.write(lines)
        self._written[source] = self._written.get(source, 0) + len(lines)
        self._dirty.add(source)

    def largest_open(self) -> int:
        """The size of the largest open segment, in bytes."""
        return max(self._written.values(), default=0)

    def sync(self) -> None:
        """Flush and fsync every segment written since the last sync."""
        for source in self._dirty:
            _, handle, _ = self._open[source]
            handle.flush()
            os.fsync(handle.fileno())
        self._dirty.clear()

    def rotate(self, older_than: float = 0.0) -> list[Segment]:
        """Close the open segments opened more than `older_than` seconds ago; return them."""
        now, closed = time.monotonic(), []
        for source, (segment, handle, opened) in list(self._open.items()):
            if now - opened >= older_than:
                self.sync()
                handle.close()
                del self._open[source], self._written[source]
                closed.append(segment)
        return closed

    def recover(self) -> list[Segment]:
        """Segments left on disk by an earlier run, oldest first, torn last lines cut off."""
        found = sorted(self.directory.glob("*/*.jsonl"), key=_sequence)
        segments = []
        for path in found:
            _cut_torn_tail(path)
            channel = path.name.split(".")[1]
            segments.append(Segment(path.parent.name, channel, path))
        return segments


def _sequence(path: Path) -> int:
    try:
        return int(path.name.split(".")[0])
    except ValueError:
        return 0


def _sync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _cut_torn_tail(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
            os.fsync(handle.fileno())
