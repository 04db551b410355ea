"""The tracking routes no vendor SDK in the test environment reaches, sent what the SDKs send.

`/v1/b` is analytics-next's batched mode (the key in a text/plain JSON body, one `sentAt` for
the batch); `/v1/import` is Segment's import of historical messages (HTTP Basic, a batch with
a shared context). The PostHog routes are posthog-js's: its request queue posts an array of
events, gzipped (`compression=gzip-js`, text/plain) or as a `data=` form of base64
(`compression=base64`), to `/e/` or, in newer versions, `/i/v0/e/`; an event sent at once
(`send_instantly`) goes alone; its token rides in each event's `properties.token`
(posthog-js `src/request.ts` and `posthog-core.ts`). `/capture/` is PostHog's documented HTTP
API (one event, `api_key`). Each test then reads the stored events back from the server's
snapshot and checks their fields against what was sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from servers import Server, add_source, start_server

import parcours
from parcours.sql import lit


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("tracking") / "store.duckdb"
    running = start_server(store, add_source(store))
    yield running
    running.stop()


def stored(server: Server, *event_ids: str) -> dict[str, dict[str, Any]]:
    """The events stored under these ids, read through the server's snapshot (as of every
    acknowledged request); none of them may be in quarantine."""
    ids = ", ".join(lit(i) for i in event_ids)
    mentioned = " OR ".join(f"contains(raw, {lit(i)})" for i in event_ids)
    with parcours.connect(server.store, read_only=True) as p:
        rows = p.sql(f"SELECT * FROM events WHERE event_id IN ({ids})").to_pylist()
        refused = p.sql(f"SELECT reason FROM quarantine WHERE {mentioned}")
    assert refused.num_rows == 0, refused.column(0).to_pylist()
    return {row["event_id"]: row for row in rows}


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _received(event: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(json.loads(event["raw"])["receivedAt"])


def _posthog_js_event(key: str, name: str, distinct_id: str, **properties: Any) -> dict[str, Any]:
    """An event as posthog-js builds it: the project token inside the properties."""
    return {
        "uuid": str(uuid.uuid4()),
        "event": name,
        "timestamp": "2026-02-10T08:30:00.000Z",
        "properties": {
            "token": key,
            "distinct_id": distinct_id,
            "$lib": "web",
            "$lib_version": "1.200.0",
            **properties,
        },
    }


POSTHOG_JS_QUERY = {"ip": "0", "_": "1770712200000", "ver": "1.200.0"}


def test_analytics_next_batches_to_v1_b_with_the_key_in_the_body(server: Server) -> None:
    """The browser's clock runs an hour fast: the batch's `sentAt` and the messages' own times
    are on it, and each stored time is `receivedAt − (sentAt − timestamp)`, to the millisecond."""
    client_now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    context = {"library": {"name": "analytics.js", "version": "npm:next-1.70.0"}}
    batch = [
        {
            "type": "page",
            "name": "Pricing",
            "properties": {"path": "/pricing", "url": "https://shop.example/pricing"},
            "anonymousId": "anon-b",
            "messageId": "ajs-next-b1",
            "timestamp": _iso(client_now - dt.timedelta(seconds=30)),
            "context": context,
            "integrations": {},
        },
        {
            "type": "track",
            "event": "Plan Chosen",
            "properties": {"plan": "pro"},
            "anonymousId": "anon-b",
            "messageId": "ajs-next-b2",
            "timestamp": _iso(client_now - dt.timedelta(seconds=10)),
            "context": context,
            "integrations": {},
        },
    ]
    body = {"writeKey": server.write_key, "batch": batch, "sentAt": _iso(client_now)}
    sent = httpx.post(
        f"{server.url}/v1/b",
        content=json.dumps(body),
        headers={"Content-Type": "text/plain"},
    )
    assert (sent.status_code, sent.json()) == (200, {"success": True})
    events = stored(server, "ajs-next-b1", "ajs-next-b2")
    page, track = events["ajs-next-b1"], events["ajs-next-b2"]
    assert (page["type"], page["name"], track["type"], track["name"]) == (
        "page",
        "Pricing",
        "track",
        "Plan Chosen",
    )
    assert {
        (e["anonymous_id"], e["user_id"], e["channel"], e["source"]) for e in events.values()
    } == {("anon-b", None, "web", "website")}
    # `receivedAt` is stamped on arrival and kept in the raw message.
    assert _received(page) - page["occurred_at"] == dt.timedelta(seconds=30)
    assert _received(track) - track["occurred_at"] == dt.timedelta(seconds=10)
    assert track["sent_at"] == client_now.replace(microsecond=client_now.microsecond // 1000 * 1000)
    assert json.loads(track["properties"])["plan"] == "pro"


def test_segment_import_keeps_historical_times_and_the_batch_context(server: Server) -> None:
    """A server library's import: no `sentAt`, so times are stored as given; the batch's
    context applies to every message, and a message's own context wins key by key."""
    batch = [
        {
            "type": "identify",
            "userId": "u-imp",
            "messageId": "imp-1",
            "timestamp": "2025-06-01T08:00:00Z",
            "traits": {"email": "Imp@Example.com"},
        },
        {
            "type": "track",
            "event": "Order Completed",
            "userId": "u-imp",
            "messageId": "imp-2",
            "timestamp": "2025-06-01T08:05:00Z",
            "properties": {"revenue": 19.5, "currency": "eur"},
        },
        {
            "type": "track",
            "event": "Call",
            "userId": "u-imp",
            "messageId": "imp-3",
            "timestamp": "2025-06-02T09:00:00Z",
            "context": {"channel": "call"},
            "properties": {"intent": "returns", "agent": "zoe"},
        },
    ]
    body = {"batch": batch, "context": {"channel": "store"}}
    sent = httpx.post(f"{server.url}/v1/import", json=body, auth=(server.write_key, ""))
    assert (sent.status_code, sent.json()) == (200, {"success": True})
    events = stored(server, "imp-1", "imp-2", "imp-3")
    utc = dt.UTC
    assert {i: (e["type"], e["channel"], e["occurred_at"]) for i, e in events.items()} == {
        "imp-1": ("identify", "store", dt.datetime(2025, 6, 1, 8, 0, tzinfo=utc)),
        "imp-2": ("track", "store", dt.datetime(2025, 6, 1, 8, 5, tzinfo=utc)),
        "imp-3": ("track", "call", dt.datetime(2025, 6, 2, 9, 0, tzinfo=utc)),
    }
    assert events["imp-1"]["identifiers"] == [{"type": "email", "value": "imp@example.com"}]
    order = events["imp-2"]
    assert (float(order["amount"]), order["currency"]) == (19.5, "EUR")
    assert (events["imp-3"]["intent"], events["imp-3"]["agent"]) == ("returns", "zoe")
    assert all(e["user_id"] == "u-imp" and e["sent_at"] is None for e in events.values())


def test_posthog_js_queues_gzipped_to_e_and_base64_forms_to_i_v0_e(server: Server) -> None:
    key = server.write_key
    gzipped = [
        _posthog_js_event(key, "$pageview", "anon-p", **{"$current_url": "https://x/pricing"}),
        _posthog_js_event(key, "Plan Chosen", "anon-p", plan="pro"),
    ]
    sent = httpx.post(
        f"{server.url}/e/",
        params={**POSTHOG_JS_QUERY, "compression": "gzip-js"},
        content=gzip.compress(json.dumps(gzipped).encode()),
        headers={"Content-Type": "text/plain"},
    )
    assert (sent.status_code, sent.json()) == (200, {"status": 1})
    # The fallback when the browser cannot gzip: `data=` + the URL-encoded base64 of the JSON.
    encoded = [_posthog_js_event(key, "Signed Up", "anon-p", plan="pro")]
    data = base64.b64encode(json.dumps(encoded).encode()).decode()
    sent = httpx.post(
        f"{server.url}/i/v0/e/",
        params={**POSTHOG_JS_QUERY, "compression": "base64"},
        content="data=" + urllib.parse.quote(data, safe=""),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (sent.status_code, sent.json()) == (200, {"status": 1}), sent.text
    ids = [e["uuid"] for e in (*gzipped, *encoded)]
    events = stored(server, *ids)
    assert [(events[i]["type"], events[i]["name"]) for i in ids] == [
        ("page", "https://x/pricing"),
        ("track", "Plan Chosen"),
        ("track", "Signed Up"),
    ]
    moment = dt.datetime(2026, 2, 10, 8, 30, tzinfo=dt.UTC)
    assert all(
        (e["anonymous_id"], e["user_id"], e["channel"], e["occurred_at"])
        == ("anon-p", None, "web", moment)
        for e in events.values()
    )


def test_a_posthog_js_event_sent_at_once_carries_its_token_in_its_properties(
    server: Server,
) -> None:
    """`capture(..., {send_instantly: true})` posts the event alone; an image request (GET
    `data=`, base64) does the same. The token is only in the event's properties."""
    key = server.write_key
    alone = _posthog_js_event(key, "Checkout Started", "anon-s", **{"$is_identified": False})
    sent = httpx.post(f"{server.url}/i/v0/e/", params=POSTHOG_JS_QUERY, json=alone)
    assert (sent.status_code, sent.json()) == (200, {"status": 1}), sent.text
    pixel = _posthog_js_event(key, "Newsletter Opened", "user-s", **{"$is_identified": True})
    data = base64.b64encode(json.dumps(pixel).encode()).decode()
    sent = httpx.get(f"{server.url}/track/", params={**POSTHOG_JS_QUERY, "data": data})
    assert (sent.status_code, sent.json()) == (200, {"status": 1}), sent.text
    events = stored(server, alone["uuid"], pixel["uuid"])
    assert (events[alone["uuid"]]["name"], events[alone["uuid"]]["anonymous_id"]) == (
        "Checkout Started",
        "anon-s",
    )
    assert (events[pixel["uuid"]]["name"], events[pixel["uuid"]]["user_id"]) == (
        "Newsletter Opened",
        "user-s",
    )


def test_the_posthog_capture_api_identify_links_the_anonymous_visitor(server: Server) -> None:
    message_id = str(uuid.uuid4())
    event = {
        "api_key": server.write_key,
        "event": "$identify",
        "distinct_id": "user-c",
        "uuid": message_id,
        "timestamp": "2026-02-11T09:00:00Z",
        "properties": {"$anon_distinct_id": "anon-c"},
        "$set": {"email": "Cap@Example.com", "plan": "pro"},
    }
    sent = httpx.post(f"{server.url}/capture/", json=event)
    assert (sent.status_code, sent.json()) == (200, {"status": 1})
    identify = stored(server, message_id)[message_id]
    assert (identify["type"], identify["user_id"], identify["anonymous_id"]) == (
        "identify",
        "user-c",
        "anon-c",
    )
    assert identify["identifiers"] == [{"type": "email", "value": "cap@example.com"}]
    assert json.loads(identify["raw"])["posthog"]["$set"]["plan"] == "pro"  # kept whole


@pytest.mark.parametrize("path", ["/batch", "/capture", "/e", "/i/v0/e", "/track"])
def test_every_posthog_path_stores_with_or_without_its_slash(server: Server, path: str) -> None:
    """PostHog's clients differ in the trailing slash and in GET (`data=` in the query) or
    POST: each spelling of each path, both ways, stores its event."""
    sent = {}
    for spelling in (path, path + "/"):
        for method in ("POST", "GET"):
            event = {
                "api_key": server.write_key,
                "event": f"Hit {method} {spelling}",
                "distinct_id": "anon-h",
                "uuid": str(uuid.uuid4()),
            }
            url = f"{server.url}{spelling}"
            answer = (
                httpx.post(url, json=event)
                if method == "POST"
                else httpx.get(url, params={"data": json.dumps(event)})
            )
            assert (answer.status_code, answer.json()) == (200, {"status": 1}), (method, spelling)
            sent[event["uuid"]] = event["event"]
    events = stored(server, *sent)
    assert {i: e["name"] for i, e in events.items()} == sent
    refused = httpx.post(f"{server.url}{path}", json={**event, "api_key": "not-a-key"})
    assert refused.status_code == 401


def test_the_settings_document_points_analytics_js_at_this_server(server: Server) -> None:
    """analytics.js loads `/v1/projects/{key}/settings` and sends to its `apiHost`: the host
    it asked, under /v1, with the key it was given."""
    answer = httpx.get(f"{server.url}/v1/projects/{server.write_key}/settings")
    assert answer.status_code == 200, answer.text
    segment = answer.json()["integrations"]["Segment.io"]
    host = server.url.removeprefix("http://")
    assert (segment["apiKey"], segment["apiHost"], segment["protocol"]) == (
        server.write_key,
        f"{host}/v1",
        "http",
    )
    assert httpx.get(f"{server.url}/v1/projects/not-a-key/settings").status_code == 401


def test_the_api_describes_itself_at_openapi_json_and_docs(server: Server) -> None:
    """docs/tracking-api.md: "The OpenAPI description is at /openapi.json, the browsable one
    at /docs"; its routes table names these paths."""
    described = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    documented = {
        "/v1/batch",
        "/v1/import",
        "/v1/{kind}",
        "/v1/projects/{write_key}/settings",
        "/batch/",
        "/capture/",
        "/e/",
        "/i/v0/e/",
        "/track/",
        "/health",
    }
    assert documented <= set(described)
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{server.url}{page}")
        assert html.status_code == 200 and "/openapi.json" in html.text, page
    redirect = httpx.get(f"{server.url}/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "oauth2" in redirect.text
