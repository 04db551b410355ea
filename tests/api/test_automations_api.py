"""Automations over HTTP on a real `parcours serve` (the store holds the hand-made log of
tests/automation_catalog_log.py): every route with the admin token, none without it, the
same JSON as the command line's, and mistakes answered with their status, place and fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from automation_catalog_log import import_log
from cli_process import run
from servers import ADMIN, Server, add_source, start_server

import parcours
from parcours.identity.customers import customer_of

admin = httpx.Client(headers=ADMIN, timeout=30)

QUOTE: dict[str, Any] = {
    "name": "quote",
    "description": "A quote entered by HTTP, followed up by email and by the store",
    "trigger": {"http": {}},
    "entry": {"re_entry": "every_time", "key": "quote_id"},
    "steps": [
        {
            "id": "hello",
            "send": {"channel": "email", "purpose": "marketing", "subject": "Hi", "body": "Hi"},
        },
        {"id": "call", "task": {"title": "Call back", "priority": "high", "due_in": "1h"}},
        {"id": "pause", "wait": "3d"},
    ],
}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    store = tmp_path / "store.duckdb"
    with parcours.connect(store) as p:
        import_log(p, tmp_path)
        ada = customer_of(p.store, "email", "ada@example.com")
    server = start_server(store, add_source(store))
    yield server, ada
    server.stop()


def test_automation_routes_need_the_admin_token(served: tuple[Server, str]) -> None:
    server, _ = served
    for method, path in (
        ("GET", "/v1/automations"),
        ("POST", "/v1/automations"),
        ("GET", "/v1/automations/sends"),
        ("GET", "/v1/automations/quote"),
        ("POST", "/v1/automations/quote/entries"),
    ):
        answer = httpx.request(method, f"{server.url}{path}", json={}, timeout=30)
        assert answer.status_code == 401, (method, path, answer.text)
        wrong = httpx.request(
            method, f"{server.url}{path}", json={}, headers={"Authorization": "Bearer no"}
        )
        assert wrong.status_code == 401
    assert httpx.get(f"{server.url}/v1/automations").json()["fix"] == (
        "send Authorization: Bearer <token>"
    )


def test_every_automation_route(served: tuple[Server, str], tmp_path: Path) -> None:
    server, ada = served
    url = f"{server.url}/v1/automations"
    published = admin.post(url, json=QUOTE)
    assert published.status_code == 200, published.text
    assert (published.json()["version"], published.json()["changed"]) == (1, True)
    longer = {**QUOTE, "steps": [*QUOTE["steps"][:2], {"id": "pause", "wait": "4d"}]}
    moved = admin.post(url, json=longer, params={"on_publish": "move"})
    assert (moved.json()["version"], moved.json()["on_publish"]) == (2, "move")

    listed = admin.get(url).json()
    assert [(a["name"], a["version"], a["status"]) for a in listed] == [("quote", 2, "live")]
    shown = admin.get(f"{url}/quote").json()
    assert shown["definition"]["steps"][2] == {"id": "pause", "wait": "4d"}
    # The same JSON as the command line's (a read beside the server runs on its snapshot).
    cli = run(
        "automations",
        "show",
        "quote",
        "--format",
        "json",
        "--store",
        str(server.store),
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == shown

    entry = {
        "identifier": {"type": "email", "value": "ada@example.com"},
        "properties": {"quote_id": "q1"},
    }
    entered = admin.post(f"{url}/quote/entries", json=entry)
    assert entered.status_code == 200, entered.text
    assert entered.json() == {"automation": "quote", "customer_id": ada, "entered": 1}
    instances = admin.get(f"{url}/quote/instances").json()
    assert [(i["customer_id"], i["step"], i["state"]) for i in instances] == [
        (ada, "pause", "waiting")
    ]
    sends = admin.get(f"{url}/sends", params={"automation": "quote"}).json()
    assert [(s["customer_id"], s["step"], s["channel"]) for s in sends] == [(ada, "hello", "email")]
    tasks = admin.get(f"{url}/tasks", params={"automation": "quote"}).json()
    assert [(t["customer_id"], t["title"], t["priority"]) for t in tasks] == [
        (ada, "Call back", "high")
    ]

    assert admin.post(f"{url}/quote/pause").json()["status"] == "paused"
    assert admin.post(f"{url}/quote/resume").json()["status"] == "live"
    retired = admin.post(f"{url}/quote/retire").json()
    assert (retired["retired"], retired["exited"]) == (True, 1)
    assert admin.get(url).json() == []


def test_mistakes_over_http(served: tuple[Server, str]) -> None:
    server, _ = served
    url = f"{server.url}/v1/automations"
    unknown = {**QUOTE, "audience": {"trait": {"name": "frist_name"}}}
    refused = admin.post(url, json=unknown)
    assert refused.status_code == 400
    assert "audience.trait.name: unknown trait 'frist_name'" in refused.json()["message"]
    assert "closest: 'first_name'" in refused.json()["message"]
    assert refused.json()["fix"]
    shapeless = admin.post(url, json={"name": "x", "trigger": {"event": {}}, "steps": []})
    assert shapeless.status_code == 400 and "steps" in shapeless.json()["message"]
    admin.post(url, json=QUOTE)
    missing = admin.get(f"{url}/qoute")
    assert missing.status_code == 404 and "closest: 'quote'" in missing.json()["fix"]
    nobody = admin.post(
        f"{url}/quote/entries", json={"identifier": {"type": "email", "value": "no@x.org"}}
    )
    assert nobody.status_code == 404
    bad_state = admin.get(f"{url}/sends", params={"state": "lost"})
    assert bad_state.status_code == 400
