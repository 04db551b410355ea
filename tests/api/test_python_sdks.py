"""The vendors' own Python SDKs, unchanged but for host and key, against a real `parcours serve`.

Each SDK sends in its own way (Segment and RudderStack: /v1/batch with HTTP Basic; PostHog:
/batch/ with api_key in the body); every event it sends must be in the store with the right
type, name, ids, channel and timestamps.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from servers import Server

import parcours

PAST = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
"""A timestamp a client gives an event that happened before it was sent."""


def stored(server: Server) -> dict[str, dict[str, Any]]:
    server.stop()
    with parcours.connect(server.store, read_only=True) as p:
        rows = p.sql("SELECT * FROM events").to_pylist()
        quarantined = p.sql("SELECT reason FROM quarantine").column(0).to_pylist()
    assert quarantined == []
    return {row["event_id"]: row for row in rows}


MILLISECOND = dt.timedelta(milliseconds=1)
"""Times the SDKs and the server write to the millisecond are cut down: they may read up to
this much before the moment they stand for."""


class Calls:
    """This machine's clock, which the SDK and the server share, read before and after some
    SDK calls (sync mode: each returns once answered): whatever those calls stamped, sent or
    received happened between the two readings. (`received_at` is when the server stored
    the event, later: the skew correction uses the request's own receipt.)"""

    def __enter__(self) -> Calls:
        self.started = dt.datetime.now(dt.UTC)
        return self

    def __exit__(self, *_: object) -> None:
        self.ended = dt.datetime.now(dt.UTC)

    def made(self, moment: dt.datetime) -> bool:
        """`moment` falls within the calls."""
        return self.started - MILLISECOND <= moment <= self.ended


def test_segment_analytics_python(server: Server) -> None:
    from segment.analytics import Client

    client = Client(server.write_key, host=server.url, sync_mode=True, max_retries=0)
    with Calls() as calls:
        answers = [  # (success, the message sent)
            client.identify("user-1", {"email": "Jane@Example.com", "plan": "gold"}),
            client.track("user-1", "Order Completed", {"revenue": 45.9, "currency": "EUR"}),
            client.page("user-1", "Docs", "Getting started", {"url": "https://x/docs"}),
            client.screen("user-1", "App", "Home"),
            client.group("user-1", "acme", {"plan": "pro"}),
            client.alias("anon-9", "user-1"),
        ]
    with Calls() as past_call:
        answers.append(client.track(anonymous_id="anon-9", event="Product Viewed", timestamp=PAST))
    ids = [message["messageId"] for _, message in answers]
    events = stored(server)
    stored_by = dt.datetime.now(dt.UTC)
    assert set(events) == set(ids)
    identify, track, page, screen, group, alias, past = (events[i] for i in ids)
    events_now = (identify, track, page, screen, group, alias)
    assert [e["type"] for e in events_now] == [
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    ]
    assert (track["name"], float(track["amount"]), track["currency"]) == (
        "Order Completed",
        45.9,
        "EUR",
    )
    assert page["name"] == "Getting started" and screen["name"] == "Home"
    assert identify["identifiers"] == [{"type": "email", "value": "jane@example.com"}]
    assert alias["identifiers"] == [{"type": "previous_id", "value": "anon-9"}]
    assert all(e["user_id"] == "user-1" for e in events_now)
    assert past["anonymous_id"] == "anon-9" and past["user_id"] is None
    assert all(e["channel"] == "web" and e["source"] == "website" for e in events.values())
    # Skew-corrected: occurred = received − (sentAt − timestamp) = PAST + the message's time in
    # transit, read from the request's own times, and within the call (to the millisecond
    # receivedAt is written to).
    received = dt.datetime.fromisoformat(json.loads(past["raw"])["receivedAt"])
    in_transit = past["occurred_at"] - PAST
    assert in_transit == received - past["sent_at"]
    assert -MILLISECOND <= in_transit <= past_call.ended - past_call.started, in_transit
    assert all(calls.made(e["occurred_at"]) for e in events_now)
    assert all(calls.started <= e["received_at"] <= stored_by for e in events.values())


def test_rudder_sdk_python(server: Server) -> None:
    import rudderstack.analytics as rudder

    rudder.write_key, rudder.dataPlaneUrl, rudder.sync_mode = server.write_key, server.url, True
    rudder.max_retries = 0
    try:
        rudder.identify("user-2", {"email": "bob@example.org"})
        rudder.track("user-2", "Call Requested", {"channel": "call", "intent": "delivery"})
        rudder.page("user-2", "Shop", "Basket")
        rudder.screen("user-2", "App", "Cart")
    finally:
        rudder.default_client = None
    events = sorted(stored(server).values(), key=lambda e: e["occurred_at"])
    assert [e["type"] for e in events] == ["identify", "track", "page", "screen"]
    assert all(e["user_id"] == "user-2" for e in events)
    track = events[1]
    # An event may name its own channel (properties.channel); the others take the source's.
    assert (track["name"], track["channel"], track["intent"]) == (
        "Call Requested",
        "call",
        "delivery",
    )
    assert [e["channel"] for e in events if e is not track] == ["web", "web", "web"]
    assert events[0]["identifiers"] == [{"type": "email", "value": "bob@example.org"}]


@pytest.mark.parametrize("gzip", [False, True])
def test_posthog_python(server: Server, gzip: bool) -> None:
    from posthog import Posthog

    client = Posthog(server.write_key, host=server.url, sync_mode=True, max_retries=0, gzip=gzip)
    with Calls() as calls:
        client.capture("Signed Up", distinct_id="anon-3", properties={"plan": "free"})
        client.capture(
            "$pageview", distinct_id="anon-3", properties={"$current_url": "https://x/pricing"}
        )
        client.capture(
            "$identify", distinct_id="user-3", properties={"$anon_distinct_id": "anon-3"}
        )
        client.alias("user-3-old", "user-3")
        client.shutdown()
    events = sorted(stored(server).values(), key=lambda e: e["occurred_at"])
    stored_by = dt.datetime.now(dt.UTC)
    kinds = [(e["type"], e["name"]) for e in events]
    assert kinds == [
        ("track", "Signed Up"),
        ("page", "https://x/pricing"),
        ("identify", None),
        ("alias", None),
    ]
    signed_up, pageview, identify, alias = events
    assert signed_up["anonymous_id"] == "anon-3" and pageview["anonymous_id"] == "anon-3"
    assert (identify["user_id"], identify["anonymous_id"]) == ("user-3", "anon-3")
    assert alias["user_id"] is not None and alias["identifiers"][0]["type"] == "previous_id"
    assert all(e["channel"] == "web" for e in events)
    assert all(calls.made(e["occurred_at"]) for e in events)
    assert all(calls.started <= e["received_at"] <= stored_by for e in events)
