"""Nothing acknowledged is lost: SIGKILL the server while a client sends; after a restart every
event that got a 200 is in the store exactly once, and resending (as SDKs retry) adds nothing."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
from servers import add_source, start_server

import parcours


def _batch(prefix: str, n: int) -> tuple[list[str], dict[str, object]]:
    ids = [f"{prefix}-{i}" for i in range(n)]
    return ids, {
        "batch": [
            {"type": "track", "event": "Product Viewed", "anonymousId": "anon", "messageId": m}
            for m in ids
        ]
    }


def test_every_acknowledged_event_survives_a_sigkill(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    key = add_source(store)
    server = start_server(store, key)
    acknowledged: list[str] = []
    sent: list[dict[str, object]] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(auth=(key, ""), timeout=5) as client:
            while not stop.is_set():
                ids, body = _batch(uuid.uuid4().hex[:8], 100)
                sent.append(body)
                try:
                    if client.post(f"{server.url}/v1/batch", json=body).status_code == 200:
                        acknowledged.extend(ids)
                except httpx.TransportError:
                    return  # the server is gone: what was not acknowledged may be lost

    senders = [threading.Thread(target=send) for _ in range(4)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 5_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    stop.set()
    for sender in senders:
        sender.join()
    assert len(acknowledged) >= 5_000, "the kill must land while the client is sending"

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


def test_commands_on_a_served_store_say_what_to_do(tmp_path: Path) -> None:
    import subprocess
    import sys

    store = tmp_path / "store.duckdb"
    server = start_server(store, add_source(store))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "parcours", "stats", "--store", str(store)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        server.stop()
    assert done.returncode == 2
    assert "held by `parcours serve`" in done.stderr and server.url in done.stderr
    assert "Traceback" not in done.stderr
