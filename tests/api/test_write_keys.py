"""Write keys: `parcours sources list|disable|enable|rotate` run as a user runs them, and what a
running `parcours serve` then accepts.

A source's state is in the store, which `parcours serve` holds for writing while it runs: the
commands that change a source say so and ask for the server to be stopped (docs/tracking-api.md),
and the server reads the sources when it starts. So each change here is made with the server
stopped and checked on the next one. A refused key is answered 401 (routes.py, and the status
table of docs/tracking-api.md), and nothing it sent is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from cli_process import run
from servers import Server, start_server

import parcours


def _sources(store: Path, *args: str) -> list[dict[str, Any]]:
    """`parcours sources ARGS -f json` in the store's folder: its JSON rows."""
    done = run("sources", *args, "--store", str(store), "-f", "json", cwd=store.parent)
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _send(server: Server, key: str, message_id: str) -> httpx.Response:
    track = {"event": "Opened", "userId": "u1", "messageId": message_id}
    return httpx.post(f"{server.url}/v1/track", json=track, auth=(key, ""), timeout=30)


def _stored(store: Path) -> dict[str, str]:
    """Every stored event's id and the source it was stored under."""
    with parcours.connect(store, read_only=True) as p:
        rows = p.sql("SELECT event_id, source FROM events").to_pylist()
    return {row["event_id"]: row["source"] for row in rows}


def test_sources_list_shows_each_source_with_its_key_channel_and_state(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    [website] = _sources(store, "add", "website", "--channel", "web")
    [shop] = _sources(store, "add", "shop", "--channel", "store")
    # What the two `add` commands printed, in name order.
    assert _sources(store, "list") == [shop, website]
    assert (shop["channel"], shop["enabled"], website["enabled"]) == ("store", True, True)
    assert shop["write_key"] != website["write_key"]
    table = run("sources", "list", "--store", str(store), cwd=tmp_path, columns=80)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    for source in (shop, website):
        row = next(line for line in lines if line.startswith(source["name"]))
        assert row.split() == [source["name"], source["write_key"], source["channel"], "yes"]
    assert all(len(line) <= 80 for line in lines)


def test_a_disabled_key_is_refused_until_the_source_is_enabled_again(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    [website] = _sources(store, "add", "website", "--channel", "web")
    [shop] = _sources(store, "add", "shop", "--channel", "store")
    key = website["write_key"]

    server = start_server(store, key)
    try:
        assert _send(server, key, "before").status_code == 200
        # While serving: the list answers (from the server's snapshot), a change is refused
        # with the reason and the fix, and the key still works.
        assert _sources(store, "list") == [shop, website]
        held = run("sources", "disable", "website", "--store", str(store), cwd=tmp_path)
        assert held.returncode == 2
        assert "held by `parcours serve`" in held.stderr and "stop it" in held.stderr
    finally:
        server.stop()

    assert _sources(store, "disable", "website") == [{**website, "enabled": False}]
    server = start_server(store, key)
    try:
        refused = _send(server, key, "while-disabled")
        assert refused.status_code == 401
        assert "the source is disabled" in refused.json()["message"]
        settings = httpx.get(f"{server.url}/v1/projects/{key}/settings", timeout=30)
        assert settings.status_code == 401
        assert _send(server, shop["write_key"], "from-the-shop").status_code == 200
    finally:
        server.stop()

    assert _sources(store, "enable", "website") == [website]
    server = start_server(store, key)
    try:
        assert _send(server, key, "after").status_code == 200
    finally:
        server.stop()
    assert _stored(store) == {"before": "website", "from-the-shop": "shop", "after": "website"}


def test_a_rotated_key_is_refused_and_the_new_one_accepted(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    [website] = _sources(store, "add", "website", "--channel", "web")
    [rotated] = _sources(store, "rotate", "website")
    old, new = website["write_key"], rotated["write_key"]
    assert new != old and rotated == {**website, "write_key": new}
    assert _sources(store, "list") == [rotated]
    misspelt = run("sources", "rotate", "webiste", "--store", str(store), cwd=tmp_path)
    assert misspelt.returncode == 2
    assert "No source named 'webiste'" in misspelt.stderr and "sources list" in misspelt.stderr

    server = start_server(store, new)
    try:
        refused = _send(server, old, "with-the-old-key")
        assert refused.status_code == 401
        assert refused.json()["message"] == "Invalid write key"
        assert _send(server, new, "with-the-new-key").status_code == 200
    finally:
        server.stop()
    assert _stored(store) == {"with-the-new-key": "website"}
