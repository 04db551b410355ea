"""Group commit: many requests, one fsync, one writer; then a loader into the store.

Request handlers hand their messages to `GroupCommitWriter.write` and wait. A single writer
thread takes everything waiting (up to `max_batch` messages, or what arrived within
`max_wait_ms`), appends it to the journal and fsyncs once; only then are those requests
answered, so a 200 means durably kept. Every `load_interval_s` the writer closes the journal's
segments and hands them to the loader thread, which stores them through the import path —
transform, quarantine with reasons, dedup against `live_dedup_window_hours` of events — and
deletes them. While the loader is busy the open segments stay open (up to `max_segment_bytes`):
what arrives meanwhile makes one larger load, which costs several times less per event than
many small ones, so under heavy traffic the loader takes less of the CPU the requests need.

The loader folds the store's write-ahead log into the store at quiet moments (nothing queued,
at least `checkpoint_log_bytes` logged, `checkpoint_every_s` since the last): left to itself,
the engine would do it at the commit that crosses 16 MB — every other second under heavy
traffic, half a second each time, whatever it folds; every 30 s, that half second is 2 % of
the loader's time, and a restart replays at most the last 30 s of traffic. The engine's own
threshold stays as the backstop, raised to `LOG_LIMIT`.

The queue and the loader's backlog are bounded: when the store falls behind, `write` refuses
at once (`Overloaded`, answered 429 with Retry-After) rather than buffering without limit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parcours.collect.ledger import ImportSummary
from parcours.collect.live.journal import Journal, Segment, journal_dir
from parcours.collect.live.mapping import live_mapping
from parcours.collect.readers import JsonLinesReader
from parcours.collect.sources import Source
from parcours.errors import ParcoursError
from parcours.store.store import Store

log = logging.getLogger("parcours.live")

LOG_LIMIT = "512MB"
"""How far the write-ahead log may grow while serving before the engine checkpoints at a
commit of its own accord (a restart replays at most this much)."""


class Overloaded(ParcoursError):
    """The store is behind: the client should retry after a short wait (429)."""

    http_status = 429


class CommitTimeout(ParcoursError):
    """The commit did not finish in time; the client should retry (503, dedup keeps it once)."""

    http_status = 503


@dataclass
class _Request:
    source: Source
    lines: bytes
    count: int
    done: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


@dataclass
class _Task:
    """Work that writes the store, run in the loader: the store's one writer while serving."""

    work: Callable[[Store], Any]
    done: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    writes: bool = True


@dataclass
class WriterStats:
    """Counts for `/health`: acknowledged (journaled) and loaded (events, quarantine)."""

    commits: int = 0
    acknowledged: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    segments_loaded: int = 0
    load_errors: int = 0
    backlog_bytes: int = 0
    changes: int = 0
    """Grows with every load and every task that writes: what was read at one count is
    still the store's content while the count stays."""


class GroupCommitWriter:
    """The one writer of the journal, and through the loader of the store, while serving."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 20_000,
        max_wait_ms: float = 2.0,
        max_pending: int = 200_000,
        max_backlog_bytes: int = 512 * 1024 * 1024,
        max_segment_bytes: int = 32 * 1024 * 1024,
        load_interval_s: float = 0.25,
        commit_timeout_s: float = 10.0,
        run_id: str = "live",
        on_loaded: Callable[[dt.datetime], None] | None = None,
        on_loaded_every_s: float = 1.0,
        checkpoint_every_s: float = 30.0,
        checkpoint_log_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        """`on_loaded(since)` runs in the loader after segments are stored, at most every
        `on_loaded_every_s`, with the time the earliest of them started loading (events stored
        since then are new): how the identity station keeps up with live events."""
        self.store = store
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.max_pending, self.max_backlog = max_pending, max_backlog_bytes
        self.max_segment = max_segment_bytes
        self.load_interval, self.commit_timeout = load_interval_s, commit_timeout_s
        self.run_id = run_id
        self.on_loaded, self.on_loaded_every = on_loaded, on_loaded_every_s
        self._unannounced_since: dt.datetime | None = None
        self._announced_at = 0.0
        self.checkpoint_every, self.checkpoint_log_bytes = checkpoint_every_s, checkpoint_log_bytes
        self._checkpointed_at = time.monotonic()
        self.stats = WriterStats()
        self.journal = Journal(journal_dir(store.settings.store))
        self._requests: queue.Queue[_Request | _Task | None] = queue.Queue()
        self._segments: queue.Queue[Segment | _Task | None] = queue.Queue()
        self._pending = 0
        self._handed = 0
        """Segments and tasks handed to the loader and not yet done: while any is, segments
        being written stay open (see `_rotate_when_due`)."""
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._write_loop, name="parcours-writer")
        self._loader = threading.Thread(target=self._load_loop, name="parcours-loader")

    def start(self) -> None:
        self.store.engine.defer_checkpoints(LOG_LIMIT)
        for segment in self.journal.recover():  # what a previous run acknowledged
            self.stats.backlog_bytes += segment.size
            self._queue_segment(segment)
        self._writer.start()
        self._loader.start()

    def stop(self) -> None:
        """Journal what is queued, load everything, then stop."""
        self._requests.put(None)
        self._writer.join()
        self._segments.put(None)
        self._loader.join()

    async def write(self, source: Source, lines: bytes, count: int) -> None:
        """Keep `count` messages from `source`, as JSON `lines` each ending in a newline;
        return once durably journaled."""
        with self._lock:
            behind = self.stats.backlog_bytes > self.max_backlog
            if behind or self._pending + count > self.max_pending:
                raise Overloaded(
                    "The store is behind: "
                    f"{self._pending:,} events waiting, {self.stats.backlog_bytes:,} bytes to load",
                    "retry after the delay in Retry-After; SDKs do this by themselves",
                )
            self._pending += count
        loop = asyncio.get_running_loop()
        request = _Request(source, lines, count, loop.create_future(), loop)
        self._requests.put(request)
        try:
            await asyncio.wait_for(asyncio.shield(request.done), self.commit_timeout)
        except TimeoutError as error:
            raise CommitTimeout(
                f"The journal did not sync within {self.commit_timeout:g}s",
                "retry: an event that was kept after all is not stored twice",
            ) from error

    # --- the writer thread: journal and fsync ----------------------------------------------

    def _write_loop(self) -> None:
        while True:
            try:
                first = self._requests.get(timeout=self.load_interval)
            except queue.Empty:
                self._rotate_when_due()
                continue
            if first is None:
                break
            if isinstance(first, _Task):
                self._hand_over(first)
                continue
            group, last = self._gather(first)
            self._commit(group)
            self._rotate_when_due()
            if isinstance(last, _Task):
                self._hand_over(last)
            elif last is None:
                break
        self._rotate(older_than=0)

    def _hand_over(self, task: _Task) -> None:
        """A task follows everything acknowledged before it: close the segments, then queue it."""
        self._rotate(older_than=0)
        with self._lock:
            self._handed += 1
        self._segments.put(task)

    def _gather(self, first: _Request) -> tuple[list[_Request], _Task | bool | None]:
        """Everything that arrives within the wait, up to `max_batch` messages; and what ended
        the gathering if it was not a request (a task, or None to stop; False otherwise)."""
        group, size = [first], first.count
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            try:
                item = self._requests.get(timeout=max(deadline - time.monotonic(), 0.0001))
            except queue.Empty:
                break
            if item is None or isinstance(item, _Task):
                return group, item
            group.append(item)
            size += item.count
        return group, False

    def _commit(self, group: list[_Request]) -> None:
        try:
            for request in group:
                self.journal.append(request.source.name, request.source.channel, request.lines)
                with self._lock:
                    self.stats.backlog_bytes += len(request.lines)
            self.journal.sync()
        except BaseException as error:  # a disk fault: every waiting request learns of it
            for request in group:
                request.loop.call_soon_threadsafe(_settle, request.done, error)
        else:
            self.stats.commits += 1
            for request in group:
                request.loop.call_soon_threadsafe(_settle, request.done, None)
        count = sum(r.count for r in group)
        with self._lock:
            self._pending -= count
            self.stats.acknowledged += count

    def _rotate_when_due(self) -> None:
        """Close segments older than the load interval once the loader is free, or at once
        when one has grown to `max_segment_bytes`."""
        if self._handed == 0 or self.journal.largest_open() >= self.max_segment:
            self._rotate(older_than=self.load_interval)

    def _rotate(self, older_than: float) -> None:
        for segment in self.journal.rotate(older_than):
            self._queue_segment(segment)

    def _queue_segment(self, segment: Segment) -> None:
        with self._lock:
            self._handed += 1
        self._segments.put(segment)

    # --- the loader thread: journal segments into the store --------------------------------

    async def call(self, work: Callable[[Store], Any], *, writes: bool = True) -> Any:
        """Run `work(store)` in the loader once everything acknowledged before is loaded, and
        return its result: the store's one writer does it, between loads. `writes=False`
        for work that only reads (it leaves `stats.changes` as it is)."""
        loop = asyncio.get_running_loop()
        task = _Task(work, loop.create_future(), loop, writes)
        self._requests.put(task)
        return await task.done

    def _load_loop(self) -> None:
        while (segment := self._segments.get()) is not None:
            if isinstance(segment, _Task):
                self._run(segment)
                continue
            self._unannounced_since = self._unannounced_since or dt.datetime.now(dt.UTC)
            self._load(segment)
            due = time.monotonic() - self._announced_at >= self.on_loaded_every
            if due or self._segments.empty():
                self._announce()
            if self._segments.empty():
                self._checkpoint_when_due()
        self._announce()

    def _checkpoint_when_due(self) -> None:
        """At a quiet moment, fold the log into the store if it holds enough and the last
        time was long enough ago."""
        if time.monotonic() - self._checkpointed_at < self.checkpoint_every:
            return
        engine = self.store.engine
        logged = engine.log_bytes()
        if logged < self.checkpoint_log_bytes:
            return
        started = time.monotonic()
        try:
            if engine.checkpoint():
                self._checkpointed_at = time.monotonic()
                log.info(
                    "folded %.0f MB of log into the store in %.2f s",
                    logged / 2**20,
                    self._checkpointed_at - started,
                )
        except Exception:
            log.exception("a checkpoint failed; the engine's own threshold is the backstop")

    def _run(self, task: _Task) -> None:
        self.stats.changes += task.writes
        try:
            result = task.work(self.store)
        except BaseException as error:
            task.loop.call_soon_threadsafe(_settle_task, task.done, None, error)
        else:
            task.loop.call_soon_threadsafe(_settle_task, task.done, result, None)
        with self._lock:
            self._handed -= 1

    def announce_now(self) -> None:
        """From work running in the loader (`call`): run `on_loaded` now for what is loaded
        but not yet announced, instead of at the next throttled moment. The automations'
        runtime reads new events with their customers: it calls this first, so that no event
        is read before it is resolved."""
        self._announce()

    def _announce(self) -> None:
        since, self._unannounced_since = self._unannounced_since, None
        if self.on_loaded is None or since is None:
            return
        self._announced_at = time.monotonic()
        try:
            # Taken before the first of these loads began: each stamps received_at with its
            # transaction's start (now()), on the same clock, so every event it stored is
            # at or after `since`. (A second of slack here once made every resolve take the
            # last second's events again: twice the work at 10,000 events a second.)
            self.on_loaded(since)
        except Exception:
            log.exception("updating after a load failed; `parcours identity resolve` catches up")

    def _load(self, segment: Segment) -> None:
        size = segment.size
        try:
            summary = load_segment(self.store, segment, self.run_id)
        except Exception:
            # Kept on disk: loaded again at the next start. The acknowledgement stands.
            log.exception("could not load %s; it stays in the journal", segment.path)
            self.stats.load_errors += 1
        else:
            segment.path.unlink()
            self.stats.segments_loaded += 1
            self.stats.changes += 1
            self.stats.accepted += summary.accepted
            self.stats.duplicates += summary.duplicates + summary.already_quarantined
            self.stats.quarantined += summary.quarantined_total
        with self._lock:
            self.stats.backlog_bytes -= size
            self._handed -= 1


def load_segment(store: Store, segment: Segment, run_id: str) -> ImportSummary:
    """Store one journal segment through the import path (exactly once, with quarantine)."""
    from parcours.collect.importer import import_records

    summary = ImportSummary(run_id, segment.source, str(segment.path), "tracking")
    reader = JsonLinesReader(
        segment.path, store.settings.import_batch_rows, store.settings.max_record_bytes
    )
    return import_records(
        store,
        reader,
        live_mapping(segment.channel),
        summary,
        dedup_window_hours=store.settings.live_dedup_window_hours,
    )


def recover_journal(store: Store) -> int:
    """Load what a server acknowledged but did not load before it stopped; return events."""
    journal = Journal(journal_dir(store.settings.store))
    stored = 0
    for segment in journal.recover():
        stored += load_segment(store, segment, "recovered").accepted
        segment.path.unlink()
    return stored


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _settle_task(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
