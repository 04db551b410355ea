"""SMS and push through the HTTP connector, and webhooks (docs/automations-providers.md).

The connector is one documented request, so that any gateway can be wired with a few lines of
glue: a JSON POST of up to `batch` messages,

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <the batch's key: sha256 of its messages' keys>
    X-Parcours-Signature: sha256=<hex HMAC-SHA256 of the body under the connector's secret>

    {"messages": [{"key": "<send key>", "channel": "sms", "to": "+33612345678",
                   "body": "...", "customer_id": "...", "automation": "...", "step": "..."}]}

Each message's `key` is its idempotency key: the same message sent again (after a crash, or a
retry) has the same key, and a gateway that honours it delivers it once. A 2xx answer accepts
every message unless its JSON says otherwise per message (`{"results": [{"key", "status":
"accepted" | "rejected" | "retry", "id", "error"}]}`); 429 and 5xx (or no answer) mean retry
them all later; another 4xx refuses them all for good.

A webhook step posts the instance's data (`{key, automation, step, customer_id, data}`) to its
URL with the same headers (signed when `webhook_secret` is set), one request per message.

Why the standard library's http.client and not httpx: the connector makes one kind of call —
a POST of a JSON body on a kept-alive connection, from a worker thread — and needs nothing
httpx adds (async, HTTP/2, cookies, redirects: a gateway must not redirect a signed body). No
new runtime dependency, and the same code runs wherever Python does.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from parcours.automations.channels import Outcome, Outgoing
from parcours.automations.settings import HttpProvider

SIGNATURE = "X-Parcours-Signature"
CONNECTIONS = 4
"""Requests in flight at once to one gateway."""


def signature(body: bytes, secret: SecretStr | None) -> str | None:
    """`sha256=<hex>` of `body` under `secret` (none without a secret)."""
    if secret is None:
        return None
    digest = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def batch_key(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


class _Connections:
    """Kept-alive connections per scheme, host and port, for one round of sends."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.open: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        where = (parts.scheme, parts.hostname or "", parts.port or (443 if secure else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):  # a kept-alive connection the server closed: once more, anew
            connection = self.open.get(where)
            if connection is None:
                kind = http.client.HTTPSConnection if secure else http.client.HTTPConnection
                connection = kind(where[1], where[2], timeout=self.timeout_s)
                self.open[where] = connection
            try:
                connection.request("POST", path, body=body, headers=headers)
                answer = connection.getresponse()
                return answer.status, answer.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                del self.open[where]
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        for connection in self.open.values():
            connection.close()


def _headers(body: bytes, key: str, secret: SecretStr | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    signed = signature(body, secret)
    if signed:
        headers[SIGNATURE] = signed
    return headers


class HttpConnector:
    """SMS or push through a gateway that speaks the documented request."""

    def __init__(self, settings: HttpProvider, *, channel: str) -> None:
        if not settings.url:
            raise ValueError(f"the {channel} connector has no url")
        self.settings, self.channel, self.url = settings, channel, settings.url

    def send(self, messages: list[Outgoing]) -> list[Outcome]:
        """The messages in requests of up to `batch`, over up to CONNECTIONS connections at
        once (a gateway answers one while parcours prepares the next)."""
        size = self.settings.batch
        batches = [messages[start : start + size] for start in range(0, len(messages), size)]
        ways = min(CONNECTIONS, len(batches))
        if ways <= 1:
            return self._batches(batches)
        with ThreadPoolExecutor(ways, thread_name_prefix=f"parcours-{self.channel}") as pool:
            parts = pool.map(self._batches, [batches[i::ways] for i in range(ways)])
            return [outcome for part in parts for outcome in part]

    def _batches(self, batches: list[list[Outgoing]]) -> list[Outcome]:
        connections = _Connections(self.settings.timeout_s)
        outcomes: list[Outcome] = []
        try:
            for batch in batches:
                outcomes += self._batch(connections, batch)
        finally:
            connections.close()
        return outcomes

    def _batch(self, connections: _Connections, batch: list[Outgoing]) -> list[Outcome]:
        body = json.dumps(
            {
                "messages": [
                    {
                        "key": m.key,
                        "channel": self.channel,
                        "to": m.to,
                        "body": m.body,
                        "customer_id": m.customer_id,
                        "automation": m.automation,
                        "step": m.step,
                    }
                    for m in batch
                ]
            }
        ).encode()
        key = batch_key([m.key for m in batch])
        try:
            status, answer = connections.post(
                self.url, body, _headers(body, key, self.settings.secret)
            )
        except (OSError, http.client.HTTPException) as error:
            reason = f"{self.channel} gateway unreachable: {error or type(error).__name__}"
            return [Outcome(m.key, "retry", reason) for m in batch]
        return _read_answer(batch, status, answer, f"{self.channel} gateway")


def _read_answer(batch: list[Outgoing], status: int, answer: bytes, who: str) -> list[Outcome]:
    if status == 429 or status >= 500:
        return [Outcome(m.key, "retry", f"{who} answered {status}") for m in batch]
    if status >= 300:
        text = answer[:200].decode(errors="replace")
        return [Outcome(m.key, "failed", f"{who} refused ({status}): {text}") for m in batch]
    results: dict[str, dict[str, Any]] = {}
    try:
        parsed = json.loads(answer) if answer else {}
        if isinstance(parsed, dict) and isinstance(parsed.get("results"), list):
            results = {str(r.get("key")): r for r in parsed["results"] if isinstance(r, dict)}
    except ValueError:
        pass  # a 2xx without JSON accepts everything
    outcomes = []
    for m in batch:
        result = results.get(m.key, {})
        said = result.get("status", "accepted")
        ref = str(result["id"]) if result.get("id") is not None else None
        if said == "rejected":
            outcomes.append(Outcome(m.key, "failed", f"{who}: {result.get('error', 'rejected')}"))
        elif said == "retry":
            outcomes.append(Outcome(m.key, "retry", f"{who}: {result.get('error', 'busy')}"))
        else:
            outcomes.append(Outcome(m.key, "sent", None, ref))
    return outcomes


class Webhooks:
    """Webhook steps: the instance's data posted to the step's URL, one request each."""

    def __init__(self, secret: SecretStr | None, timeout_s: float = 10.0) -> None:
        self.secret, self.timeout_s = secret, timeout_s

    def send(self, messages: list[Outgoing]) -> list[Outcome]:
        connections = _Connections(self.timeout_s)
        outcomes = []
        try:
            for m in messages:
                payload = {
                    "key": m.key,
                    "automation": m.automation,
                    "step": m.step,
                    "customer_id": m.customer_id,
                    "data": m.data or {},
                }
                body = json.dumps(payload, default=str).encode()
                try:
                    status, answer = connections.post(
                        m.url or m.to, body, _headers(body, m.key, self.secret)
                    )
                except (OSError, http.client.HTTPException) as error:
                    outcomes.append(Outcome(m.key, "retry", f"webhook unreachable: {error}"))
                    continue
                outcomes += _read_answer([m], status, answer, "webhook")
        finally:
            connections.close()
        return outcomes
