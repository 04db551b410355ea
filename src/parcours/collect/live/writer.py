"""Group commit: many requests, one durable commit, one writer.

Request handlers hand their messages to `GroupCommitWriter.write` and wait. A single writer
thread takes everything waiting (up to `max_batch` messages, or what arrived within
`max_wait_ms`), runs it through the transform source by source, and commits it all in one
transaction: events new for their source, refused messages to quarantine. Only then are the
requests answered, so a 200 means durably stored. The queue is bounded: when the store falls
behind, `write` refuses at once (`Overloaded`, answered 429 with Retry-After) rather than
buffering without limit.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa

from parcours.collect.importer import store_transform
from parcours.collect.live.mapping import live_mapping
from parcours.collect.sources import Source
from parcours.collect.transform import InputShape
from parcours.errors import ParcoursError
from parcours.store.store import Store
from parcours.store.writer import BatchResult, stage, write_staged

LIVE_RELATION = "_parcours_live"


class Overloaded(ParcoursError):
    """The store is behind: the client should retry after a short wait (429)."""

    http_status = 429


class CommitTimeout(ParcoursError):
    """The commit did not finish in time; the client should retry (503, dedup keeps it once)."""

    http_status = 503


@dataclass
class _Request:
    source: Source
    messages: list[str]
    done: asyncio.Future[BatchResult]
    loop: asyncio.AbstractEventLoop


@dataclass
class WriterStats:
    commits: int = 0
    messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    last_commit_ms: float = 0.0
    by_source: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class GroupCommitWriter:
    """The one writer of the store while the server runs."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 20_000,
        max_wait_ms: float = 5.0,
        max_pending: int = 200_000,
        commit_timeout_s: float = 10.0,
        run_id: str = "live",
    ) -> None:
        self.store = store
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.max_pending, self.commit_timeout = max_pending, commit_timeout_s
        self.run_id = run_id
        self.stats = WriterStats()
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._transforms: dict[tuple[str, str], str] = {}
        self._thread = threading.Thread(target=self._run, name="parcours-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    async def write(self, source: Source, messages: list[str]) -> BatchResult:
        """Store `messages` (JSON text) from `source`; return once durably committed."""
        with self._pending_lock:
            if self._pending + len(messages) > self.max_pending:
                raise Overloaded(
                    f"{self._pending:,} events are waiting to be stored",
                    "retry after the delay in Retry-After; SDKs do this by themselves",
                )
            self._pending += len(messages)
        loop = asyncio.get_running_loop()
        request = _Request(source, messages, loop.create_future(), loop)
        self._queue.put(request)
        try:
            return await asyncio.wait_for(asyncio.shield(request.done), self.commit_timeout)
        except TimeoutError as error:
            raise CommitTimeout(
                f"The store did not commit within {self.commit_timeout:g}s",
                "retry: an event that was stored after all is not stored twice",
            ) from error

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stopping = self._gather(first)
            self._commit(group)
            if stopping:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """Everything that arrives within the wait, up to `max_batch` messages."""
        group, size = [first], len(first.messages)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            timeout = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=max(timeout, 0))
                    if timeout > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                return group, True
            group.append(item)
            size += len(item.messages)
        return group, False

    def _commit(self, group: list[_Request]) -> None:
        started = time.perf_counter()
        by_source: dict[str, list[_Request]] = defaultdict(list)
        for request in group:
            by_source[request.source.name].append(request)
        try:
            with self.store.engine.transaction():
                results = {
                    name: self._write_source(requests[0].source, requests)
                    for name, requests in by_source.items()
                }
        except BaseException as error:
            if len(group) > 1:
                # One request's fault must not fail the others: commit them one by one.
                for request in group:
                    self._commit([request])
                return
            # The request learns of it (a 5xx: its SDK retries); nothing is dropped silently.
            group[0].loop.call_soon_threadsafe(_fail, group[0].done, error)
            self._release(group)
            return
        self.stats.commits += 1
        self.stats.last_commit_ms = (time.perf_counter() - started) * 1000
        for name, result in results.items():
            self._count(name, result)
        for request in group:
            request.loop.call_soon_threadsafe(_succeed, request.done, results[request.source.name])
        self._release(group)

    def _write_source(self, source: Source, requests: list[_Request]) -> BatchResult:
        messages = [m for request in requests for m in request.messages]
        table = pa.table(
            {
                "_record_no": pa.array(range(1, len(messages) + 1), pa.int64()),
                "_raw": pa.array(messages, pa.string()),
            }
        )
        engine = self.store.engine
        with engine.registered(LIVE_RELATION, table):
            stage(engine, self._transform(source))
        return write_staged(
            engine,
            source.name,
            "api",
            "tracking",
            self.run_id,
            window_hours=self.store.settings.live_dedup_window_hours,
        )

    def _transform(self, source: Source) -> str:
        key = (source.name, source.channel)
        if key not in self._transforms:
            self._transforms[key] = store_transform(
                self.store,
                live_mapping(source.channel),
                InputShape("json"),
                relation=LIVE_RELATION,
                source=source.name,
                import_id=self.run_id,
            )
        return self._transforms[key]

    def _count(self, name: str, result: BatchResult) -> None:
        self.stats.accepted += result.accepted
        self.stats.duplicates += result.duplicates + result.already_quarantined
        self.stats.quarantined += sum(result.quarantined.values())
        self.stats.by_source[name] += result.accepted

    def _release(self, group: list[_Request]) -> None:
        count = sum(len(r.messages) for r in group)
        self.stats.messages += count
        with self._pending_lock:
            self._pending -= count


def _succeed(future: asyncio.Future[BatchResult], result: BatchResult) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[BatchResult], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
