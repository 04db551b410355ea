"""Real receivers on loopback for the automations' channels: an SMTP server (aiosmtpd) and an
HTTP receiver standing for an SMS gateway (the connector's documented request).

Both count what arrives by its idempotency key (Message-ID; the message's `key`) and honour
it as a real provider would: a key seen before is acknowledged again but delivered once. So
`delivered` holds each message once, and `offered` counts every attempt, repeats included.
They run in the test's process, in threads, so a test can kill the server under test and
keep counting.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from servers import free_port


@dataclass
class Mailbox:
    """What the SMTP server received, by Message-ID."""

    delivered: dict[str, EmailMessage] = field(default_factory=dict)
    offered: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay_s: float = 0.0
    refuse: set[str] = field(default_factory=set)
    """Recipients answered 550 (no such mailbox): a bounce."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay_s:
            time.sleep(self.delay_s)  # a slow server: holds this connection, as one would
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(
            raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default
        )
        key = str(message["Message-ID"])
        with self.lock:
            self.offered[key] += 1
            self.delivered.setdefault(key, message)  # type: ignore[arg-type]
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.delivered.values())


class SmtpReceiver:
    def __init__(self, mailbox: Mailbox | None = None) -> None:
        self.mailbox = mailbox or Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def settings(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "sender": "hello@shop.example"}


@dataclass
class Gateway:
    """What the HTTP receiver received, by message key; and how it behaves."""

    secret: str
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    offered: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    bad_signatures: int = 0
    down: bool = False
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real gateway
        # The headers and the body go out in two writes: without this, Nagle's algorithm
        # holds the body until the client's delayed ACK, 40 ms a request on loopback.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if gateway.delay_s:
                time.sleep(gateway.delay_s)
            if gateway.down:
                return self._answer(503, b'{"error": "down for maintenance"}')
            mac = hmac.new(gateway.secret.encode(), body, hashlib.sha256).hexdigest()
            if self.headers.get("X-Parcours-Signature") != f"sha256={mac}":
                with gateway.lock:
                    gateway.bad_signatures += 1
                return self._answer(401, b'{"error": "bad signature"}')
            parsed = json.loads(body)
            # The connector's batch, or a webhook: one message keyed by its Idempotency-Key.
            messages = parsed.get("messages") or [
                {**parsed, "key": self.headers.get("Idempotency-Key")}
            ]
            with gateway.lock:
                gateway.requests += 1
                for message in messages:
                    gateway.offered[message["key"]] += 1
                    gateway.delivered.setdefault(message["key"], message)
            results = [
                {"key": m["key"], "status": "accepted", "id": f"gw-{m['key'][:8]}"}
                for m in messages
            ]
            self._answer(200, json.dumps({"results": results}).encode())

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class HttpReceiver:
    def __init__(self, secret: str = "gateway-secret") -> None:
        self.gateway = Gateway(secret)
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self.gateway))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/messages"

    @property
    def settings(self) -> dict[str, Any]:
        return {"url": self.url, "secret": self.gateway.secret, "batch": 50}
