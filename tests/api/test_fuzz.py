"""The tracking API never answers 5xx and never drops a message silently, whatever it is sent.

Three kinds of checks, all against a real `parcours serve` on loopback with a DuckDB file:

* a schemathesis run over the app's own OpenAPI description, with the message bodies the
  routes read by hand added to it, sometimes with a valid write key, so generated requests
  reach the message handling and the store, not only the key check;
* each kind of malformed message inside an otherwise valid `/v1/batch` lands in quarantine
  with its reason code, while its good neighbours are stored and the request answers 200;
* malformed requests answer 400, a bad key 401, a too large body 413 (ingestion conventions,
  D1: SDKs retry 5xx and never 4xx, so a 5xx for a request that will never succeed makes
  them retry it forever).
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from servers import Server, add_source, start_server
from waiting import poll

import parcours
from parcours.collect.live.segment import MESSAGE_TYPES, PATH_TYPES
from parcours.store.schema import CHANNELS

FUZZ_EXAMPLES = 300
"""Generated requests in the schemathesis run: about 15 s on 2 cores."""

POSTHOG_EVENTS = ["$identify", "$create_alias", "$merge_dangerously", "$groupidentify"]
POSTHOG_EVENTS += ["$pageview", "$screen", "Order Completed"]


# --- servers ---------------------------------------------------------------------------------


class ServerLog:
    """The server's stderr (a file, see `servers.start_server`): it says why a request got a
    5xx, since uvicorn logs the traceback after sending the 500."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def mark(self) -> int:
        return len(self.server.log)

    def since(self, mark: int) -> str:
        time.sleep(0.3)
        return self.server.log[mark:] or "(nothing)"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, ServerLog]]:
    """One server for the request-level checks, which need no store of their own."""
    store = tmp_path_factory.mktemp("live") / "store.duckdb"
    running = start_server(store, add_source(store))
    log = ServerLog(running)
    yield running, log
    running.stop()


def _auth(key: str) -> tuple[str, str]:
    return (key, "")  # HTTP Basic `key:`, as Segment documents it


def _track(**fields: Any) -> dict[str, Any]:
    message = {
        "type": "track",
        "event": "Product Viewed",
        "userId": "user-1",
        "messageId": f"m-{uuid.uuid4().hex}",
        "timestamp": "2024-05-01T10:00:00.000Z",
        "properties": {"product_id": "sku-1", "price": 19.9},
    }
    message.update(fields)
    return {name: value for name, value in message.items() if value is not None}


def _still_answers(server: Server) -> None:
    assert server.process.poll() is None, "the server process exited"
    health = httpx.get(f"{server.url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


# --- the fuzzer ------------------------------------------------------------------------------


TEXT = {"type": "string", "pattern": "\\S"}  # not blank: the transform trims
INSTANT = {"type": "string", "format": "date-time"}


def _segment_message() -> dict[str, Any]:
    """A valid Segment message; negative generation breaks it in every way it can."""
    return {
        "type": "object",
        "required": ["type", "messageId", "event"],
        "anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}],
        "properties": {
            "type": {"enum": list(MESSAGE_TYPES)},
            "messageId": {"type": "string", "minLength": 1, "maxLength": 100},
            "userId": TEXT,
            "anonymousId": TEXT,
            "previousId": TEXT,
            "groupId": TEXT,
            "event": TEXT,
            "name": {"type": "string"},
            "timestamp": INSTANT,
            "originalTimestamp": INSTANT,
            "sentAt": INSTANT,
            "properties": {
                "type": "object",
                "properties": {
                    "revenue": {"type": "number"},
                    "currency": {"type": "string"},
                    "channel": {"enum": list(CHANNELS)},
                    "sessionId": {"type": "string"},
                },
            },
            "traits": {"type": "object", "properties": {"email": {"type": "string"}}},
            "context": {
                "type": "object",
                "properties": {"channel": {"enum": list(CHANNELS)}, "traits": {"type": "object"}},
            },
        },
    }


def _segment_batch() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "items": _segment_message(), "maxItems": 20},
            "context": {"type": "object"},
            "sentAt": INSTANT,
        },
    }


def _posthog_event() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "distinct_id"],
        "properties": {
            "event": {"enum": POSTHOG_EVENTS},
            "distinct_id": TEXT,
            "uuid": {"type": "string", "format": "uuid"},
            "timestamp": INSTANT,
            "$set": {"type": "object"},
            "properties": {
                "type": "object",
                "properties": {
                    "$anon_distinct_id": TEXT,
                    "$is_identified": {"type": "boolean"},
                    "alias": TEXT,
                    "$group_key": TEXT,
                    "$current_url": {"type": "string"},
                    "$screen_name": {"type": "string"},
                },
            },
        },
    }


def _posthog_body(write_key: str) -> dict[str, Any]:
    """A PostHog batch, or a single event, with the project key."""
    key = {"enum": [write_key]}
    batch = {
        "type": "object",
        "required": ["api_key", "batch"],
        "properties": {
            "api_key": key,
            "sent_at": INSTANT,
            "batch": {"type": "array", "items": _posthog_event(), "maxItems": 20},
        },
    }
    event = _posthog_event()
    event["required"] = [*event["required"], "api_key"]
    event["properties"]["api_key"] = key
    return {"anyOf": [batch, event]}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def with_message_bodies(openapi: dict[str, Any], write_key: str) -> dict[str, Any]:
    """The app's OpenAPI description, with the request bodies its routes read by hand.

    The tracking routes read the raw body themselves (gzip, base64, PostHog's form data), so
    FastAPI declares none and a fuzzer would send empty bodies, meeting only 400s. The schemas
    here describe valid requests, after the Segment and PostHog specs: positive generation
    reaches the store, negative generation breaks each part in turn.
    """
    described = copy.deepcopy(openapi)
    for path, operations in described["paths"].items():
        for method, operation in operations.items():
            posthog = operation.get("tags") == ["posthog"]
            if path in ("/v1/batch", "/v1/import"):
                operation["requestBody"] = _json_body(_segment_batch())
            elif path == "/v1/{kind}":
                operation["requestBody"] = _json_body(_segment_message())
                operation["parameters"][0]["schema"] = {"enum": sorted(PATH_TYPES)}
            elif path.startswith("/v1/projects/"):
                operation["parameters"][0]["schema"] = {"enum": [write_key]}
            elif posthog and method == "post":
                operation["requestBody"] = _json_body(_posthog_body(write_key))
            elif posthog and method == "get":
                data = {"application/json": {"schema": _posthog_body(write_key)}}
                operation["parameters"] = [
                    {"name": "data", "in": "query", "required": True, "content": data}
                ]
    return described


@pytest.mark.slow
def test_fuzzed_requests_never_answer_5xx_and_the_server_survives(server: Server) -> None:
    log = ServerLog(server)
    openapi = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(with_message_bodies(openapi, server.write_key))
    cases = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    keys = st.sampled_from([server.write_key, server.write_key, "not-a-write-key", None])

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=cases, key=keys)
    def answers_without_5xx(case: schemathesis.Case[Any], key: str | None) -> None:
        auth = _auth(key) if key else None
        mark = log.mark()
        response = case.call(base_url=server.url, auth=auth, timeout=15)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except BaseException as failure:  # schemathesis' FailureGroup is a BaseExceptionGroup
            failure.add_note("server log:\n" + log.since(mark))
            raise

    answers_without_5xx()
    _still_answers(server)


# --- malformed messages in a valid batch -----------------------------------------------------


def _malformed_messages() -> dict[str, Any]:
    """One message per refusal reason, each wrong in that one way only, keyed by the reason."""
    return {
        "missing_identity": _track(userId=None),
        "missing_name": _track(event=None),
        "bad_timestamp": _track(timestamp="yesterday at noon"),
        "unknown_type": _track(type="purchase"),
        "unknown_channel": _track(context={"channel": "carrier-pigeon"}),
        "oversize": _track(properties={"note": "x" * 33_000}),  # over 32 KB (max_record_bytes)
    }


def test_each_malformed_message_of_a_batch_is_quarantined_with_its_reason(
    server: Server,
) -> None:
    good = [_track(), _track(type="page", name="Home", event=None), _track(anonymousId="a-1")]
    malformed = _malformed_messages()
    batch = [good[0], "not a message", *malformed.values(), *good[1:]]

    response = httpx.post(
        f"{server.url}/v1/batch", json={"batch": batch}, auth=_auth(server.write_key), timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    server.stop()

    with parcours.connect(server.store, read_only=True) as p:
        stored = p.sql("SELECT event_id, source FROM events").to_pylist()
        quarantined = p.sql("SELECT source, reason_code, reason, raw FROM quarantine").to_pylist()
    assert sorted(row["event_id"] for row in stored) == sorted(m["messageId"] for m in good)
    reasons = {_message_id(row["raw"]): row["reason_code"] for row in quarantined}
    expected = {m["messageId"]: reason for reason, m in malformed.items()}
    assert reasons == {**expected, "not a message": "unparseable"}
    assert len(quarantined) == len(reasons), "each refused message is quarantined once"
    for row in quarantined:
        assert row["source"] == "website"
        assert row["reason"], f"no explanation for {row['reason_code']}"


def _message_id(raw: str) -> str:
    """The messageId of a quarantined raw message, or the raw value when it is no object."""
    value = orjson.loads(raw)
    return str(value["messageId"]) if isinstance(value, dict) else str(value)


# --- malformed requests ----------------------------------------------------------------------


def _post(server: Server, body: bytes, key: str | None, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/batch",
        content=body,
        headers={"content-type": "application/json", **headers},
        auth=_auth(key) if key else None,
        timeout=30,
    )


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe{}", b"{}", b"[]", b'{"batch": "x"}', b'{"batch": {"a": 1}}'],
    ids=[
        "not-json",
        "empty",
        "not-utf8",
        "no-batch",
        "a-list",
        "batch-a-string",
        "batch-an-object",
    ],
)
def test_a_malformed_request_answers_400(live: tuple[Server, ServerLog], body: bytes) -> None:
    server, _ = live
    response = _post(server, body, server.write_key)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "BadRequest"
    assert response.json()["fix"], "a 400 says how to fix the request"


@pytest.mark.parametrize("key", ["not-a-write-key", None], ids=["wrong-key", "no-key"])
def test_a_wrong_or_missing_write_key_answers_401(
    live: tuple[Server, ServerLog], key: str | None
) -> None:
    server, _ = live
    response = _post(server, orjson.dumps({"batch": [_track()]}), key)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "Unauthorized"


def test_a_body_over_4_mb_answers_413(live: tuple[Server, ServerLog]) -> None:
    server, _ = live
    body = orjson.dumps({"batch": [_track(properties={"note": "x" * 30_000})] * 150})
    assert len(body) > 4 * 1024 * 1024  # max_batch_bytes, RudderStack's limit
    response = _post(server, body, server.write_key)
    assert response.status_code == 413, response.text
    assert "4,194,304" in response.json()["message"]


def test_a_gzip_body_that_inflates_over_4_mb_answers_413(live: tuple[Server, ServerLog]) -> None:
    server, _ = live
    body = gzip.compress(b'{"batch": []' + b" " * (5 * 1024 * 1024) + b"}")
    assert len(body) < 64 * 1024
    response = _post(server, body, server.write_key, **{"content-encoding": "gzip"})
    assert response.status_code == 413, response.text


# --- odd but well-formed values: stored or quarantined, never a 5xx --------------------------
# Each of these answered 500 when written (the server log has the traceback). A 5xx for a
# message that can never succeed is the worst answer: SDKs retry 5xx, so they send it forever.


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"child": value}
    return value


ODD_MESSAGES = {
    # `amount` is DECIMAL(18,4): the transform's cast raises instead of refusing the record.
    "revenue-1e20": {"properties": {"revenue": 1e20}},
    "revenue-nan-text": {"properties": {"revenue": "NaN"}},
    "revenue-infinity-text": {"properties": {"total": "Infinity"}},
    # Valid ISO instants whose UTC time falls outside Python's years 1-9999 (OverflowError).
    "timestamp-year-1-east-of-utc": {"timestamp": "0001-01-01T00:00:00+01:00"},
    "timestamp-year-9999-west-of-utc": {"timestamp": "9999-12-31T23:59:59-01:00"},
    # receivedAt - (sentAt - timestamp) out of range (OverflowError in the skew correction).
    "clock-skew-of-9998-years": {
        "timestamp": "0001-01-02T00:00:00Z",
        "sentAt": "9999-12-30T00:00:00Z",
    },
    # orjson reads 1,024 levels but writes 254 (TypeError: Recursion limit reached).
    "properties-300-levels-deep": {"properties": _nested(300)},
}


def _counted(server: Server, at_least: int = 0) -> int:
    """Events stored plus records quarantined, once at least `at_least` are (a 200 means the
    journal has them; the loader stores them soon after)."""

    def counted() -> int:
        health = httpx.get(f"{server.url}/health", timeout=10).json()
        return int(health["accepted"]) + int(health["quarantined"])

    return poll(counted, until=lambda n: n >= at_least)


@pytest.mark.parametrize("fields", ODD_MESSAGES.values(), ids=ODD_MESSAGES.keys())
def test_an_odd_message_is_stored_or_quarantined_not_answered_5xx(
    live: tuple[Server, ServerLog], fields: dict[str, Any]
) -> None:
    server, log = live
    before, mark = _counted(server), log.mark()
    body = json.dumps({"batch": [_track(**fields)]}).encode()  # orjson writes 254 levels at most
    response = _post(server, body, server.write_key)
    assert response.status_code in (200, 400), f"{response.text}\n{log.since(mark)}"
    if response.status_code == 200:
        assert _counted(server, before + 1) == before + 1, "a 200 means stored or quarantined"
    _still_answers(server)


@pytest.mark.parametrize(
    "body",
    [[{"event": "x", "properties": "text"}], {"batch": [{"event": "x", "properties": [1]}]}],
    ids=["list-properties-text", "batch-properties-a-list"],
)
def test_a_posthog_request_without_a_key_answers_401_whatever_its_properties(
    live: tuple[Server, ServerLog], body: Any
) -> None:
    server, log = live
    mark = log.mark()
    response = httpx.post(f"{server.url}/batch/", json=body, timeout=30)
    assert response.status_code == 401, f"{response.text}\n{log.since(mark)}"


def test_a_failing_message_does_not_fail_the_requests_committed_with_it(
    live: tuple[Server, ServerLog],
) -> None:
    """The writer commits concurrent requests together: one bad message must not sink them."""
    server, _ = live

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(auth=_auth(server.write_key), timeout=30) as client:
            bad = {"batch": [_track(properties={"revenue": 1e20})]}
            requests = [client.post(f"{server.url}/v1/batch", json=bad)]
            requests += [
                client.post(f"{server.url}/v1/batch", json={"batch": [_track()]}) for _ in range(20)
            ]
            return await asyncio.gather(*requests)

    _, *neighbours = asyncio.run(send())
    statuses = [r.status_code for r in neighbours]
    assert statuses == [200] * 20, f"good requests answered {statuses}"
