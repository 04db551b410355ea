"""End to end, as a shop would run it: a sign-up sent with Segment's own Python SDK to a real
`parcours serve` → the welcome automation (runtime) → one welcome email at a real SMTP server
(aiosmtpd on loopback) with the customer's name and a working unsubscribe link; following the
link records the withdrawal, and the automation's next marketing email is held for it.

The automation is published by writing its `automations` row (version 1, live)."""

from __future__ import annotations

import datetime as dt
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from automation_world import ledger, publish
from receivers import SmtpReceiver
from servers import add_source, free_port, start_server
from waiting import HANG_GUARD, poll

import parcours

WELCOME = [
    {"id": "hello", "send": {"channel": "email", "purpose": "marketing", "template": "welcome"}},
    {
        "id": "back",
        "wait_for": {"event": {"name": "Came Back"}, "timeout": "30d", "on_timeout": "end"},
    },
    {
        "id": "again",
        "send": {
            "channel": "email",
            "purpose": "marketing",
            "subject": "Good to see you again, {{ traits.first_name }}",
            "body": "Here is what is new since your last visit.",
        },
    },
    {"id": "end", "exit": {"reason": "done"}},
]


def _ledger(store: Path) -> dict[str, dict[str, Any]]:
    """The send ledger, read beside the server (through its snapshot)."""
    with parcours.connect(store, read_only=True) as p:
        return {r["step"]: r for r in ledger(p.store).values()}


def test_a_signup_through_an_sdk_gets_one_welcome_email_and_its_unsubscribe_link_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segment.analytics import Client

    store, port = tmp_path / "store.duckdb", free_port()
    with SmtpReceiver() as smtp:
        settings = {
            "smtp": smtp.settings,
            "public_url": f"http://127.0.0.1:{port}",
            "quiet_hours": None,
            "tick_s": 0.2,
        }
        monkeypatch.setenv("PARCOURS_AUTOMATIONS", json.dumps(settings))
        key = add_source(store)
        with parcours.connect(store) as p:
            definition = {
                "trigger": {"event": {"name": "Signed Up"}},
                "entry": {"re_entry": "never"},
            }
            publish(p.store, "welcome", WELCOME, at=dt.datetime.now(dt.UTC), extra=definition)
        server = start_server(store, key, port=port)
        client = Client(key, host=server.url, sync_mode=True, max_retries=0)
        client.identify("ada-1", {"email": "Ada@Example.com", "first_name": "Ada"})
        client.track("ada-1", "Consent Given", {"channel": "email", "purpose": "marketing"})
        client.track("ada-1", "Signed Up", {"plan": "free"})

        messages = poll(smtp.mailbox.messages, until=lambda m: len(m) >= 1)
        assert len(messages) == 1, server.log
        [welcome] = messages
        assert welcome["To"] == "ada@example.com"
        assert welcome["Subject"] == "Welcome, Ada!"
        assert "Hello Ada," in welcome.get_body(("plain",)).get_content()
        unsubscribe = welcome["List-Unsubscribe"].strip("<>")
        assert unsubscribe.startswith(f"{server.url}/u/")

        followed = httpx.get(unsubscribe, timeout=HANG_GUARD)
        assert followed.status_code == 200 and "not receive" in followed.text
        forged = httpx.get(unsubscribe[:-3] + "AAA", timeout=HANG_GUARD)
        assert forged.status_code == 404

        # The customer comes back: the automation's next step is a marketing email, which
        # the withdrawal now stops.
        client.track("ada-1", "Came Back", {})
        sends = poll(
            lambda: _ledger(store), until=lambda s: s.get("again", {}).get("state") == "held"
        )
        server.stop(signal.SIGTERM)

    assert sends["hello"]["state"] == "sent"
    assert (sends["again"]["state"], sends["again"]["reason"]) == (
        "held",
        "no consent for marketing on email",
    )
    assert len(smtp.mailbox.messages()) == 1 and sum(smtp.mailbox.offered.values()) == 1
    with parcours.connect(store, read_only=True) as p:
        withdrawn = p.sql(
            "SELECT json_extract_string(properties, '$.channel') AS channel, "
            "json_extract_string(properties, '$.purpose') AS purpose FROM customer_events "
            "WHERE name = 'Consent Withdrawn'"
        ).to_pylist()
    assert withdrawn == [{"channel": "email", "purpose": "marketing"}]
