"""HTTP: the links in the messages (`/u/`, `/o/`, `/c/`) and the SMS gateway's delivery
receipts (`/v1/automations/receipts/{channel}`).

The links are public — recipients follow them from their mailbox — and trusted only for what
their signature says (automations.tracking). What they record goes through the store's one
writer, as the events of the send's customer.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from parcours.automations.channels.http import SIGNATURE, signature
from parcours.automations.events import RECEIPTS, SEND_KEY
from parcours.automations.settings import AutomationSettings, automation_settings
from parcours.automations.tracking import (
    BadLink,
    Link,
    link_secret,
    record_link,
    verify,
    write_events,
)
from parcours.errors import BadRequest, Unauthorized
from parcours.serving.deps import ReaderDep, WriterDep
from parcours.store.store import Store

router = APIRouter(tags=["automations: links and receipts"])

PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
"""A transparent 1x1 GIF."""


def _secret(request: Request, store: Store) -> bytes:
    kept: bytes | None = getattr(request.app.state, "link_secret", None)
    if kept is None:
        kept = link_secret(store, _settings(request))
        request.app.state.link_secret = kept
    return kept


def _settings(request: Request) -> AutomationSettings:
    return automation_settings(request.app.state.settings)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # the recipient's real click, not a simulated instant


async def _record(writer: WriterDep, link: Link) -> None:
    at = _now()
    await writer.call(lambda store: record_link(store, link, at=at))


@router.get("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe (a signed link)")
async def unsubscribe(token: str, request: Request, store: ReaderDep, writer: WriterDep) -> str:
    """Records the withdrawal of the consent the message used (its channel and purpose): the
    next message that needs it is not sent."""
    link = verify(token, _secret(request, store), "u")
    await _record(writer, link)
    return (
        "<!doctype html><meta charset=utf-8><title>Unsubscribed</title>"
        f"<p>You will not receive these {link.channel} messages any more.</p>"
    )


@router.post("/u/{token}", summary="Unsubscribe in one click (RFC 8058)")
async def unsubscribe_one_click(
    token: str, request: Request, store: ReaderDep, writer: WriterDep
) -> dict[str, str]:
    link = verify(token, _secret(request, store), "u")
    await _record(writer, link)
    return {"unsubscribed": link.channel, "purpose": link.purpose}


@router.get("/o/{token}.gif", summary="Open pixel (a signed link)")
async def opened(token: str, request: Request, store: ReaderDep, writer: WriterDep) -> Response:
    try:
        link = verify(token, _secret(request, store), "o")
    except BadLink:  # a mail client showing a mangled image gets the image all the same
        return Response(PIXEL, media_type="image/gif")
    await _record(writer, link)
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get("/c/{token}", summary="A tracked link: recorded, then redirected")
async def clicked(
    token: str, request: Request, store: ReaderDep, writer: WriterDep
) -> RedirectResponse:
    """Redirects only to the URL the token signs: one the rendered message contained."""
    link = verify(token, _secret(request, store), "c")
    if not link.url or not link.url.startswith(("http://", "https://")):
        raise BadLink
    await _record(writer, link)
    return RedirectResponse(link.url, status_code=302)


@router.post("/v1/automations/receipts/{channel}", summary="A gateway's delivery receipts")
async def receipts(channel: str, request: Request, writer: WriterDep) -> dict[str, int]:
    """`{"receipts": [{"key": "<send key>", "status": "delivered" | "failed", "error"}]}`,
    signed like the connector's requests (`X-Parcours-Signature`, the channel's secret).
    Each delivered message comes back as `SMS Delivered` (`Push Delivered`)."""
    if channel not in RECEIPTS:
        raise BadRequest(f"No receipts for {channel!r}", "post to .../receipts/sms or /push")
    provider = getattr(_settings(request), channel)
    body = await request.body()
    expected = signature(body, provider.secret)
    given = request.headers.get(SIGNATURE, "")
    if expected is None or not hmac.compare_digest(expected, given):
        raise Unauthorized(
            "Missing or wrong receipt signature",
            f"sign the body with the [parcours.automations.{channel}] secret (HMAC-SHA256)",
        )
    try:
        parsed = json.loads(body)
        items = [r for r in parsed["receipts"] if isinstance(r, dict) and r.get("key")]
    except (ValueError, KeyError, TypeError):
        fix = 'send {"receipts": [{"key": "<send key>", "status": "delivered"}]}'
        raise BadRequest("The receipts are not readable", fix) from None
    at = _now()
    name, event_channel = RECEIPTS[channel]

    def work(store: Store) -> int:
        keys = [str(r["key"]) for r in items if r.get("status", "delivered") == "delivered"]
        if not keys:
            return 0
        sends = store.engine.query(
            "SELECT send_key, customer_id, automation, version, step FROM automation_sends "
            f"WHERE send_key IN ({', '.join('?' for _ in keys)}) AND 'delivered:' || send_key "
            "NOT IN (SELECT event_id FROM events WHERE source = 'parcours' "
            "AND event_id LIKE 'delivered:%')",
            keys,
        ).to_pylist()
        rows: list[dict[str, Any]] = [
            {
                "customer_id": s["customer_id"],
                "event_id": f"delivered:{s['send_key']}",
                "name": name,
                "channel": event_channel,
                "occurred_at": at,
                "properties": {
                    SEND_KEY: s["send_key"],
                    "automation": s["automation"],
                    "version": s["version"],
                    "step": s["step"],
                },
            }
            for s in sends
        ]
        with store.engine.transaction():
            return write_events(store, rows)

    return {"recorded": int(await writer.call(work))}
