"""Signed links in the messages, and what following them records.

Three links, each a token signed with HMAC-SHA256 under the link secret (the `link_secret`
setting, else one derived from the store's own random secret), so that nobody can forge an
unsubscribe for someone else or make parcours redirect where a message did not point:

- `GET /u/{token}` (and the one-click `POST`, RFC 8058): unsubscribe — a `Consent Withdrawn`
  event for the send's channel and purpose, which stops the next message that needs it;
- `GET /o/{token}.gif`: the open pixel of an HTML email — `Email Opened`;
- `GET /c/{token}`: a link of the message — `Email Clicked`, then a redirect to the URL the
  token signs (only URLs present in the rendered message are ever signed: no open redirect).

Each event comes back through `identity.own_events` with the send's key in
`properties.send_key`, so the timeline, the journeys and the funnels see it at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from parcours.automations.events import EMAIL_CLICKED, EMAIL_OPENED, SEND_KEY, SMS_CLICKED
from parcours.automations.settings import AutomationSettings
from parcours.errors import ParcoursError
from parcours.identity.own_events import write_own_events
from parcours.store.store import Store

IMPORT_ID = "automations"
"""The `import_id` of every event delivery and tracking write."""


class BadLink(ParcoursError):
    http_status = 404

    def __init__(self) -> None:
        super().__init__("This link is not valid", "use the link exactly as the message gave it")


@dataclass(frozen=True)
class Link:
    """What a token says: its kind (u, o, c), the send, and for a click the URL."""

    kind: str
    key: str
    customer_id: str
    channel: str
    purpose: str
    url: str | None = None


def link_secret(store: Store, settings: AutomationSettings) -> bytes:
    """The key links are signed with: the setting, else derived from the store's salt (made
    once per store at random), so that links keep working across restarts."""
    if settings.link_secret is not None:
        return settings.link_secret.get_secret_value().encode()
    salt = store.engine.scalar("SELECT salt FROM erasure_salt LIMIT 1") or ""
    return hashlib.sha256(f"parcours links:{salt}".encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(link: Link, secret: bytes) -> str:
    payload = [link.kind, link.key, link.customer_id, link.channel, link.purpose]
    if link.url is not None:
        payload.append(link.url)
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16]
    return f"{body}.{_b64(mac)}"


def verify(token: str, secret: bytes, kind: str) -> Link:
    """The link `token` signs, or BadLink (a forged, altered or other kind of token)."""
    body, _, mac = token.partition(".")
    try:
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise BadLink
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        raise BadLink from None
    if not isinstance(payload, list) or len(payload) < 5 or payload[0] != kind:
        raise BadLink
    return Link(*[str(p) for p in payload[:6]])


class Links:
    """Builds the signed URLs of one store's messages."""

    def __init__(self, public_url: str, secret: bytes) -> None:
        self.base, self.secret = public_url.rstrip("/"), secret

    def unsubscribe(self, key: str, customer_id: str, channel: str, purpose: str) -> str:
        token = sign(Link("u", key, customer_id, channel, purpose), self.secret)
        return f"{self.base}/u/{token}"

    def pixel(self, key: str, customer_id: str, channel: str, purpose: str) -> str:
        token = sign(Link("o", key, customer_id, channel, purpose), self.secret)
        return f"{self.base}/o/{token}.gif"

    def click(self, key: str, customer_id: str, channel: str, purpose: str, url: str) -> str:
        token = sign(Link("c", key, customer_id, channel, purpose, url), self.secret)
        return f"{self.base}/c/{token}"


def write_events(store: Store, rows: list[dict[str, Any]]) -> int:
    """Write `rows` (customer_id, event_id, name, channel, occurred_at, properties) as track
    events of their customers through `write_own_events`, in the caller's transaction."""
    if not rows:
        return 0
    table = pa.table(
        {
            "customer_id": [r["customer_id"] for r in rows],
            "event_id": [r["event_id"] for r in rows],
            "name": [r["name"] for r in rows],
            "channel": [r["channel"] for r in rows],
            "occurred_at": pa.array([r["occurred_at"] for r in rows], pa.timestamp("us", "UTC")),
            "properties": [json.dumps(r["properties"], default=str) for r in rows],
        }
    )
    with store.engine.registered("_automation_events", table) as name:
        return write_own_events(
            store,
            f"SELECT customer_id, event_id, 'track' AS type, name, channel, occurred_at, "
            f"properties::JSON AS properties FROM {name}",
            import_id=IMPORT_ID,
        )


def _send_of(store: Store, key: str) -> dict[str, Any] | None:
    rows = store.engine.query(
        "SELECT automation, version, step, customer_id FROM automation_sends WHERE send_key = ?",
        [key],
    ).to_pylist()
    return rows[0] if rows else None


def record_link(store: Store, link: Link, *, at: dt.datetime) -> bool:
    """Record what following `link` means (an unsubscribe, an open, a click) as an event of
    the customer. An unsubscribe is recorded once per send however often it is followed.
    Returns whether an event was written."""
    send = _send_of(store, link.key)
    if send is None:  # the send is gone (the customer was erased): nothing to say
        return False
    properties: dict[str, Any] = {
        SEND_KEY: link.key,
        "automation": send["automation"],
        "step": send["step"],
    }
    channel = link.channel if link.channel in ("email", "sms") else "other"
    if link.kind == "u":
        name, event_id = "Consent Withdrawn", f"unsubscribe:{link.key}"
        properties |= {"channel": link.channel, "purpose": link.purpose, "via": "unsubscribe"}
        if store.engine.scalar(
            "SELECT count(*) FROM events WHERE source = 'parcours' AND event_id = ?", [event_id]
        ):
            return False
    elif link.kind == "o":
        name = EMAIL_OPENED
        event_id = f"open:{link.key}:{at.isoformat()}"
    else:
        name = EMAIL_CLICKED if link.channel == "email" else SMS_CLICKED
        event_id = f"click:{link.key}:{at.isoformat()}"
        properties["url"] = link.url
    row = {
        "customer_id": send["customer_id"],
        "event_id": event_id,
        "name": name,
        "channel": channel,
        "occurred_at": at,
        "properties": properties,
    }
    with store.engine.transaction():
        return write_events(store, [row]) > 0
