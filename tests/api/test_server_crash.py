"""Nothing acknowledged is lost: SIGKILL the server while a client sends; after a restart every
event that got a 200 is in the store exactly once, and resending (as SDKs retry) adds nothing."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from pathlib import Path

import httpx
from servers import add_source, start_server
from waiting import HANG_GUARD

import parcours


def _batch(prefix: str, n: int) -> tuple[list[str], dict[str, object]]:
    ids = [f"{prefix}-{i}" for i in range(n)]
    return ids, {
        "batch": [
            {"type": "track", "event": "Product Viewed", "anonymousId": "anon", "messageId": m}
            for m in ids
        ]
    }


KILL_AFTER = 5_000
"""Acknowledged events, counted by the client, after which the server is killed."""


def test_every_acknowledged_event_survives_a_sigkill(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    key = add_source(store)
    server = start_server(store, key)
    acknowledged: list[str] = []
    sent: list[dict[str, object]] = []
    enough, stop = threading.Event(), threading.Event()

    def send() -> None:
        with httpx.Client(auth=(key, ""), timeout=HANG_GUARD) as client:
            while not stop.is_set():
                ids, body = _batch(uuid.uuid4().hex[:8], 100)
                sent.append(body)
                try:
                    if client.post(f"{server.url}/v1/batch", json=body).status_code == 200:
                        acknowledged.extend(ids)
                except httpx.TransportError:
                    return  # the server is gone: what was not acknowledged may be lost
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()

    senders = [threading.Thread(target=send) for _ in range(4)]
    for sender in senders:
        sender.start()
    # The kill follows the acknowledgements, however long they take; the senders keep
    # sending meanwhile. (Should every sender end first, the assertion below says so.)
    while not enough.wait(0.05) and any(sender.is_alive() for sender in senders):
        pass
    server.stop(signal.SIGKILL)
    stop.set()
    for sender in senders:
        sender.join()
    assert len(acknowledged) >= KILL_AFTER, f"the senders ended first: {server.log}"

    # Reopening the store (as any writing command or the next `parcours serve` does) loads
    # what the killed server had acknowledged to its journal but not yet into the events.
    with parcours.connect(store) as p:
        ids = p.sql("SELECT event_id FROM events").column(0).to_pylist()
    assert len(ids) == len(set(ids)), "stored once"
    assert set(acknowledged) <= set(ids), "every acknowledged event survived the kill"

    # SDKs retry what was not acknowledged: resending everything stores each event once.
    restarted = start_server(store, key)
    with httpx.Client(auth=(key, ""), timeout=30) as client:
        for body in sent:
            assert client.post(f"{restarted.url}/v1/batch", json=body).status_code == 200
    restarted.stop()
    with parcours.connect(store, read_only=True) as p:
        total, distinct = (
            p.sql("SELECT count(*), count(DISTINCT event_id) FROM events").to_pylist()[0].values()
        )
    assert total == distinct == 100 * len(sent)


def test_read_commands_answer_beside_the_server_and_writes_say_what_to_do(
    tmp_path: Path,
) -> None:
    """While `parcours serve` holds the store, read commands answer from the server's snapshot,
    which holds every event acknowledged before they asked; a command that writes says how to
    proceed; the snapshot route wants the marker's token."""
    import subprocess
    import sys

    store = tmp_path / "store.duckdb"
    key = add_source(store)
    store.chmod(0o600)  # the store holds personal data: so does its snapshot
    server = start_server(store, key)
    snapshot = store.with_name(store.name + ".snapshot.duckdb")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "parcours", *args, "--store", str(store)]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    try:
        batch = {"batch": [_track(f"m-{i}") for i in range(25)]}
        with httpx.Client(auth=(key, ""), timeout=30) as client:
            assert client.post(f"{server.url}/v1/batch", json=batch).status_code == 200
        stats = run("stats", "--format", "json")
        snapshot_mode = snapshot.stat().st_mode & 0o777
        sources = run("sources", "list", "--format", "json")
        added = run("sources", "add", "app", "--channel", "app")
        forged = httpx.post(
            f"{server.url}/v1/store/snapshot", headers={"Authorization": "Bearer guess"}
        )
        more = {"batch": [_track(f"n-{i}") for i in range(5)]}
        with httpx.Client(auth=(key, ""), timeout=30) as client:
            assert client.post(f"{server.url}/v1/batch", json=more).status_code == 200
        again = run("stats", "--format", "json")
    finally:
        server.stop()
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["totals"]["events"] == 25, (
        "every acknowledged event is in the snapshot"
    )
    assert json.loads(again.stdout)["totals"]["events"] == 30, (
        "a snapshot is made again after a change"
    )
    assert [s["name"] for s in json.loads(sources.stdout)] == ["website"]
    assert added.returncode == 2
    assert "held by `parcours serve`" in added.stderr and server.url in added.stderr
    assert "Traceback" not in added.stderr
    assert forged.status_code == 401
    assert snapshot_mode == 0o600, "readable as the store is, by its owner only"
    assert not snapshot.exists(), "removed at stop"


def _track(message_id: str) -> dict[str, object]:
    return {
        "type": "track",
        "event": "Page Viewed",
        "userId": "u-1",
        "messageId": message_id,
        "timestamp": "2026-03-01T10:00:00Z",
    }
