"""The tracking API's HTTP surface: Segment/RudderStack `/v1/...` and PostHog capture routes.

Routes stay short: read the body (bounded, gzip or base64), find the source by its write key,
turn the body into messages (`segment`, `posthog`), and wait for the group commit. Status codes
follow what the SDKs expect: 200 only once every message is durably stored or quarantined, 400
for a malformed request, 401 for a bad key, 413 for too large, 429 with Retry-After when the
store is behind, 5xx only for transient faults (SDKs retry 5xx and never 4xx).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from parcours.collect.live import posthog, segment
from parcours.collect.live.segment import RequestError
from parcours.collect.live.writer import GroupCommitWriter
from parcours.collect.sources import Source
from parcours.config import Settings
from parcours.engine import Engine
from parcours.errors import BadRequest, ParcoursError, Unauthorized

router = APIRouter()

JSON = "application/json"
SEGMENT_OK = b'{"success":true}'
POSTHOG_OK = b'{"status":1}'
"""Answers written once: the routes return them as they are, with nothing to validate."""


class SegmentOk(BaseModel):
    success: bool


class PosthogOk(BaseModel):
    status: int


class PayloadTooLarge(ParcoursError):
    http_status = 413


@dataclass
class SourceKeys:
    """Write key → source, cached; a miss asks the store again (at most once a second)."""

    engine: Engine
    by_key: dict[str, Source] = field(default_factory=dict)
    refreshed: float = 0.0

    def find(self, key: str | None) -> Source:
        if not key:
            raise Unauthorized(
                "No write key in the request",
                "send it as HTTP Basic (the key as user name), or writeKey / api_key in the body",
            )
        if key not in self.by_key and time.monotonic() - self.refreshed > 1.0:
            self.refresh()
        source = self.by_key.get(key)
        if source is None or not source.enabled:
            raise Unauthorized(
                "Invalid write key" + (" (the source is disabled)" if source else ""),
                "copy the key from `parcours sources list`, or enable the source",
            )
        return source

    def refresh(self) -> None:
        rows = self.engine.query("SELECT name, write_key, channel, enabled FROM sources")
        self.by_key = {row["write_key"]: Source(**row) for row in rows.to_pylist()}
        self.refreshed = time.monotonic()


@dataclass
class Live:
    """What the routes need, held by the app for its lifetime."""

    settings: Settings
    writer: GroupCommitWriter
    keys: SourceKeys


async def get_live(request: Request) -> Live:  # async: no thread-pool hop per request
    live: Live = request.app.state.live
    return live


LiveDep = Annotated[Live, Depends(get_live)]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed, refusing more than `limit` bytes either way."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    compression = request.query_params.get("compression", "")
    if request.headers.get("content-encoding", "").lower() == "gzip" or compression.startswith(
        "gzip"
    ):
        body = _gunzip(body, limit)
    if body.startswith(b"data=") and "form-urlencoded" in request.headers.get("content-type", ""):
        # PostHog's `data=<json or base64>` form: with `compression=base64` the base64 is the
        # form's value, not the body.
        return _form_data(body)
    if compression == "base64":
        body = _base64(body)
    return body


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(
            f"The body is not JSON: {error}", "send the messages as a JSON object (UTF-8)"
        ) from error


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request is {size:,} bytes, more than the {limit:,} accepted",
        "send smaller batches (SDKs split them by themselves), or raise max_batch_bytes",
    )


def _gunzip(body: bytes, limit: int) -> bytes:
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise BadRequest(
            f"The body is not valid gzip: {error}", "send gzip or plain JSON"
        ) from error
    if len(data) > limit or inflater.unconsumed_tail:
        raise _too_large(len(data), limit)
    return data


def _base64(body: bytes) -> bytes:
    try:
        return base64.b64decode(body, validate=False)
    except (binascii.Error, ValueError) as error:
        raise BadRequest("The body is not valid base64", "send plain JSON") from error


def _form_data(body: bytes) -> bytes:
    fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    data = fields.get("data", [""])[0].encode()
    return data if data.lstrip().startswith((b"{", b"[")) else _base64(data)


def _basic_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    # `key:` as Segment documents it; `key` alone as older clients send it.
    return decoded.split(":", 1)[0] or None


def journal_lines(messages: list[Any], received: str) -> bytes:
    """The messages as JSON lines, each completed with `receivedAt`: what the journal appends."""
    return b"".join(
        _dumps(segment.complete(m, received) if isinstance(m, dict) else m) + b"\n"
        for m in messages
    )


def _dumps(message: Any) -> bytes:
    try:
        return orjson.dumps(message)
    except TypeError:
        pass  # orjson writes at most 254 levels of nesting; the standard library goes deeper
    try:
        return json.dumps(message, ensure_ascii=False).encode()
    except (RecursionError, ValueError) as error:
        raise BadRequest(
            "A message is nested too deeply to store", "keep properties under 500 levels deep"
        ) from error


@dataclass(frozen=True)
class Arrived:
    """A request's messages, journal-ready: the parsed body is gone by the time it waits."""

    source: Source
    lines: bytes
    count: int


def arrived(source: Source, messages: list[Any]) -> Arrived:
    return Arrived(source, journal_lines(messages, segment.iso_now()), len(messages))


async def _store(live: Live, batch: Arrived) -> None:
    if batch.count:
        await live.writer.write(batch.source, batch.lines, batch.count)


# --- Segment / RudderStack -------------------------------------------------------------------


@router.post(
    "/v1/batch", tags=["segment"], summary="A batch of Segment messages", response_model=SegmentOk
)
@router.post("/v1/b", tags=["segment"], include_in_schema=False)
@router.post(
    "/v1/import",
    tags=["segment"],
    summary="Historical messages (same shape as batch)",
    response_model=SegmentOk,
)
async def segment_batch(request: Request, live: LiveDep) -> Response:
    body = await read_body(request, live.settings.max_batch_bytes)
    await _store(live, _segment_batch(live, body, _basic_key(request)))
    return Response(SEGMENT_OK, media_type=JSON)


def _segment_batch(live: Live, raw: bytes, basic_key: str | None) -> Arrived:
    body = parse_json(raw)
    source = live.keys.find(basic_key or segment.write_key_in_body(body))
    try:
        messages = segment.batch_messages(body)
    except RequestError as error:
        raise BadRequest(str(error), "see the Segment HTTP API's /v1/batch") from error
    return arrived(source, messages)


@router.post(
    "/v1/{kind}", tags=["segment"], summary="One Segment message", response_model=SegmentOk
)
async def segment_message(kind: str, request: Request, live: LiveDep) -> Response:
    if kind not in segment.PATH_TYPES:
        raise BadRequest(
            f"Unknown message type {kind!r}",
            "post to /v1/identify, track, page, screen, group, alias or batch",
        )
    body = await read_body(request, live.settings.max_batch_bytes)
    await _store(live, _segment_message(live, body, _basic_key(request), kind))
    return Response(SEGMENT_OK, media_type=JSON)


def _segment_message(live: Live, raw: bytes, basic_key: str | None, kind: str) -> Arrived:
    body = parse_json(raw)
    source = live.keys.find(basic_key or segment.write_key_in_body(body))
    try:
        message = segment.single_message(body, kind)
    except RequestError as error:
        raise BadRequest(str(error), "send one message as a JSON object") from error
    return arrived(source, [message])


@router.get("/v1/projects/{write_key}/settings", tags=["segment"])
async def segment_settings(write_key: str, request: Request, live: LiveDep) -> dict[str, Any]:
    """The settings document analytics.js and the mobile SDKs load before sending."""
    live.keys.find(write_key)
    host = request.headers.get("host", f"{live.settings.host}:{live.settings.port}")
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{host}/v1",
                "protocol": request.url.scheme,
                "unbundledIntegrations": [],
                "addBundledMetadata": False,
            }
        },
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


# --- PostHog ---------------------------------------------------------------------------------

POSTHOG_PATHS = ["/batch", "/capture", "/e", "/i/v0/e", "/track"]


async def posthog_capture(request: Request, live: LiveDep) -> Response:
    if request.method == "GET":
        raw = request.query_params.get("data", "")
        body = _base64(raw.encode()) if raw and not raw.startswith("{") else raw.encode()
    else:
        body = await read_body(request, live.settings.max_batch_bytes)
    await _store(live, _posthog_capture(live, body))
    return Response(POSTHOG_OK, media_type=JSON)


def _posthog_capture(live: Live, raw: bytes) -> Arrived:
    body = parse_json(raw)
    source = live.keys.find(posthog.api_key(body))
    try:
        events = posthog.events_of(body)
    except RequestError as error:
        raise BadRequest(str(error), "see PostHog's capture API") from error
    sent_at = body.get("sent_at") if isinstance(body, dict) else None
    return arrived(source, [posthog.to_message(e, sent_at) for e in events])


for path in POSTHOG_PATHS:
    for suffix in ("", "/"):
        router.add_api_route(
            path + suffix,
            posthog_capture,
            methods=["GET", "POST"],
            response_model=PosthogOk,
            tags=["posthog"],
            include_in_schema=(suffix == "/"),
            name=f"posthog{path.replace('/', '_')}{'_slash' if suffix else ''}",
        )
