"""The channels a send goes out through: email over SMTP (`smtp.py`), SMS and push through the
documented HTTP connector, and webhooks (`http.py`).

A channel only talks to its provider: it receives rendered messages (`Outgoing`, everything
the store knew, worked out by `Delivery.claim`) and answers one `Outcome` per message. It never
reads or writes the store, so that provider I/O runs outside the store's one writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from parcours.automations.settings import AutomationSettings

Status = Literal["sent", "retry", "failed", "bounced"]
"""sent: the provider accepted it; retry: try again later (the provider is down, busy, or
answered a temporary error); failed: the provider refused it for good; bounced: the address
does not exist (a permanent refusal of the recipient)."""


@dataclass(frozen=True)
class Outgoing:
    """A message ready to go: its idempotency key (the ledger's `send_key`), the recipient's
    address and the rendered content. Webhooks carry `url` and `data` instead of a body."""

    key: str
    channel: str
    customer_id: str
    automation: str
    step: str
    purpose: str
    to: str
    body: str = ""
    subject: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    """What the provider answered for one message."""

    key: str
    status: Status
    reason: str | None = None
    provider_ref: str | None = None


class Channel(Protocol):
    def send(self, messages: list[Outgoing]) -> list[Outcome]:
        """Hand `messages` (all of this channel) to the provider: one outcome each, in any
        order. Never raises for a provider's failure: that is an outcome."""
        ...


def channels_from_settings(settings: AutomationSettings) -> dict[str, Channel]:
    """The channels the settings configure: email always (SMTP has a default host), SMS and
    push when their connector has a URL, webhooks always (each step names its URL)."""
    from parcours.automations.channels.http import HttpConnector, Webhooks
    from parcours.automations.channels.smtp import SmtpChannel

    found: dict[str, Channel] = {
        "email": SmtpChannel(settings.smtp),
        "webhook": Webhooks(settings.webhook_secret),
    }
    if settings.sms.url:
        found["sms"] = HttpConnector(settings.sms, channel="sms")
    if settings.push.url:
        found["push"] = HttpConnector(settings.push, channel="push")
    return found
