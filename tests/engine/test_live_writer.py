"""The live writer's loads: what arrives while the loader is busy waits in one open segment.

A real store in tmp_path and a real `GroupCommitWriter` (journal on disk, fsync, loader thread);
the loader is kept busy by a task that waits for the test's signal, as a long load would.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from parcours.collect.live.routes import journal_lines
from parcours.collect.live.writer import GroupCommitWriter
from parcours.collect.sources import Source
from parcours.config import load_settings
from parcours.store.store import Store

SOURCE = Source("website", "key", "web", True)
RECEIVED = "2026-02-01T09:00:00.000Z"


def _message(number: int) -> bytes:
    message = {
        "type": "track",
        "event": "Viewed",
        "messageId": f"m-{number}",
        "anonymousId": "a-1",
        "timestamp": RECEIVED,
    }
    return journal_lines([message], RECEIVED)


def _three_writes_while_the_loader_is_busy(store: Store, **options: Any) -> GroupCommitWriter:
    """Three single-message requests, each committed after the load interval has passed, while
    a task holds the loader; then everything is loaded and the writer stopped."""
    writer = GroupCommitWriter(store, load_interval_s=0.01, **options)
    writer.start()
    release = threading.Event()

    async def scenario() -> None:
        held = asyncio.ensure_future(writer.call(lambda _: release.wait(10), writes=False))
        await asyncio.sleep(0)  # the task is queued first: the writes come after it
        for number in range(3):
            await writer.write(SOURCE, _message(number), 1)
            await asyncio.sleep(0.05)  # past the load interval: a free loader would take it
        release.set()
        await held
        await writer.call(lambda _: None, writes=False)  # runs once all before it is loaded

    asyncio.run(scenario())
    writer.stop()
    return writer


def _stored(store: Store) -> int:
    return int(store.engine.scalar("SELECT count(*) FROM events WHERE source = 'website'"))


def test_messages_that_arrive_during_a_load_are_stored_by_one_load(tmp_path: Path) -> None:
    store = Store.open(load_settings(store=tmp_path / "store.duckdb"))
    writer = _three_writes_while_the_loader_is_busy(store)
    # One segment: the three commits went to the segment left open while the loader was busy.
    assert (writer.stats.segments_loaded, writer.stats.accepted, _stored(store)) == (1, 3, 3)
    store.close()


def test_a_segment_that_reaches_the_size_cap_is_loaded_without_waiting(tmp_path: Path) -> None:
    store = Store.open(load_settings(store=tmp_path / "store.duckdb"))
    # A cap below one message's line: every commit closes its segment, busy loader or not.
    writer = _three_writes_while_the_loader_is_busy(store, max_segment_bytes=len(_message(0)))
    assert (writer.stats.segments_loaded, writer.stats.accepted, _stored(store)) == (3, 3, 3)
    store.close()


def test_a_journal_folder_linked_to_another_disk_is_written_and_recovered_there(
    tmp_path: Path,
) -> None:
    """The journal goes on another disk when its folder is a symbolic link there
    (docs/tracking-api.md): acknowledged messages are written and synced there, and a journal
    a stopped server left there is loaded when the store is next opened for writing."""
    from parcours.collect.live.writer import recover_journal

    elsewhere = tmp_path / "other-disk" / "journal"
    elsewhere.mkdir(parents=True)
    (tmp_path / "store.duckdb.journal").symlink_to(elsewhere)
    store = Store.open(load_settings(store=tmp_path / "store.duckdb"))
    writer = GroupCommitWriter(store, load_interval_s=0.01)
    writer.start()
    release = threading.Event()
    written: list[bytes] = []

    async def scenario() -> None:
        held = asyncio.ensure_future(writer.call(lambda _: release.wait(10), writes=False))
        await asyncio.sleep(0)
        await writer.write(SOURCE, _message(1), 1)  # acknowledged: on the other disk by now
        written.extend(p.read_bytes() for p in elsewhere.glob("website/*.jsonl"))
        release.set()
        await held

    asyncio.run(scenario())
    writer.stop()
    assert written == [_message(1)]
    # A segment a killed server left there is loaded by the next writable open.
    (elsewhere / "website" / "000000000099.web.jsonl").write_bytes(_message(2))
    assert recover_journal(store) == 1
    assert _stored(store) == 2
    store.close()
