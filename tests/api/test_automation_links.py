"""The links in the messages and the gateway's receipts, against a real `parcours serve`: a
click redirects only where the message pointed, an open is a pixel, unsubscribing works in one
click (RFC 8058), and a signed receipt is an `SMS Delivered` event. Each is an event of the
customer afterwards. The messages were sent beforehand, to aiosmtpd and an HTTP receiver."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import signal
from pathlib import Path

import httpx
import pytest
from automation_world import import_people, person, plan, publish
from receivers import HttpReceiver, SmtpReceiver
from servers import add_source, free_port, start_server
from waiting import HANG_GUARD

import parcours
from parcours.automations.clock import SystemClock
from parcours.automations.delivery import Delivery

OFFER = [
    {
        "id": "offer",
        "send": {
            "channel": "email",
            "purpose": "marketing",
            "subject": "Offer",
            "body": "Hello {{ traits.first_name }}, see https://shop.example/offer?a=1&b=2",
        },
    },
    {"id": "text", "send": {"channel": "sms", "purpose": "service", "body": "Your order ships"}},
]


def test_links_and_receipts_come_back_as_the_customers_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, port = tmp_path / "store.duckdb", free_port()
    with SmtpReceiver() as smtp, HttpReceiver() as gateway:
        settings = {
            "smtp": smtp.settings,
            "sms": gateway.settings,
            "public_url": f"http://127.0.0.1:{port}",
            "quiet_hours": None,
        }
        monkeypatch.setenv("PARCOURS_AUTOMATIONS", json.dumps(settings))
        key = add_source(store)
        now = dt.datetime.now(dt.UTC)
        ada = person(
            "ada",
            traits={"email": "ada@example.com", "first_name": "Ada", "phone": "+33612345678"},
            consents=[("email", "marketing"), ("sms", "service")],
        )
        with parcours.connect(store) as p:
            import_people(p, tmp_path, [ada])
            publish(p.store, "offer", OFFER, at=now)
            plan(p.store, "offer", "offer", ["ada"], channel="email", at=now)
            [text] = plan(
                p.store,
                "offer",
                "text",
                ["ada"],
                channel="sms",
                at=now,
                priority="service",
                purpose="service",
            )
            assert Delivery(p.store, clock=SystemClock()).run_once().sent == 2
        [message] = smtp.mailbox.messages()
        html = message.get_body(("html",)).get_content()
        server = start_server(store, key, port=port)
        with httpx.Client(base_url=server.url, timeout=HANG_GUARD) as client:
            [click] = re.findall(rf'href="({server.url}/c/[^"]+)"', html)
            answer = client.get(click)
            assert answer.status_code == 302
            assert answer.headers["location"] == "https://shop.example/offer?a=1&b=2"
            # Another URL under the same signature is refused: no open redirect.
            body, mac = click.rsplit("/", 1)[1].split(".")
            payload = json.loads(base64.urlsafe_b64decode(body + "=="))
            payload[5] = "https://evil.example/"
            forged = (
                __import__("base64")
                .urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
                .rstrip(b"=")
                .decode()
            )
            assert client.get(f"/c/{forged}.{mac}").status_code == 404

            [pixel] = re.findall(rf'src="({server.url}/o/[^"]+)"', html)
            opened = client.get(pixel)
            assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"

            one_click = client.post(
                message["List-Unsubscribe"].strip("<>"), content=b"List-Unsubscribe=One-Click"
            )
            assert one_click.status_code == 200

            receipt = json.dumps({"receipts": [{"key": text, "status": "delivered"}]}).encode()
            mac = hmac.new(gateway.gateway.secret.encode(), receipt, hashlib.sha256).hexdigest()
            unsigned = client.post("/v1/automations/receipts/sms", content=receipt)
            assert unsigned.status_code == 401
            signed = client.post(
                "/v1/automations/receipts/sms",
                content=receipt,
                headers={"X-Parcours-Signature": f"sha256={mac}"},
            )
            assert signed.json() == {"recorded": 1}
        server.stop(signal.SIGTERM)

    with parcours.connect(store, read_only=True) as p:
        events = p.sql(
            "SELECT name, channel, properties->>'$.url' AS url FROM customer_events "
            "WHERE source = 'parcours' ORDER BY name"
        ).to_pylist()
    assert events == [
        {"name": "Consent Withdrawn", "channel": "email", "url": None},
        {"name": "Email Clicked", "channel": "email", "url": "https://shop.example/offer?a=1&b=2"},
        {"name": "Email Opened", "channel": "email", "url": None},
        {"name": "Email Sent", "channel": "email", "url": None},
        {"name": "SMS Delivered", "channel": "sms", "url": None},
        {"name": "SMS Sent", "channel": "sms", "url": None},
    ]
