"""The demo's mail server: an SMTP server on loopback (aiosmtpd), started for the demo's
automations to send into, that keeps every message it accepts — once per Message-ID, as a
provider honouring the idempotency key would.

The demo's customers read their mail here: a welcome that arrived is one the customer can
act on (demo/automations.py), one that did not (held out, no consent, no first name) is not.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Mail:
    """One message as it arrived: its Message-ID, recipient, subject and text."""

    message_id: str
    to: str
    subject: str
    text: str


class _Handler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived: dict[str, Mail] = {}
        self.offered = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        message = email.message_from_bytes(
            raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        mail = Mail(
            message_id=str(message["Message-ID"]),
            to=",".join(envelope.rcpt_tos),
            subject=str(message["Subject"] or ""),
            text=body.get_content() if body is not None else "",
        )
        with self.lock:
            self.offered += 1
            self.arrived.setdefault(mail.message_id, mail)
        return "250 Message accepted"


class Mailbox:
    """An SMTP server on 127.0.0.1 at a free port while in use (`with Mailbox() as box`)."""

    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = _free_port()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._read = 0

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._controller.stop()

    def new(self) -> list[Mail]:
        """The messages that arrived since the last call."""
        with self.handler.lock:
            mails = list(self.handler.arrived.values())
        fresh, self._read = mails[self._read :], len(mails)
        return fresh

    @property
    def received(self) -> int:
        with self.handler.lock:
            return len(self.handler.arrived)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
