"""The vendors' own Python SDKs, unchanged but for host and key, against a real `parcours serve`.

Each SDK sends in its own way (Segment and RudderStack: /v1/batch with HTTP Basic; PostHog:
/batch/ with api_key in the body); every event it sends must be in the store with the right
type, name, ids, channel and timestamps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from servers import Server

import parcours

NOW = dt.datetime.now(dt.UTC)


def stored(server: Server) -> dict[str, dict[str, Any]]:
    server.stop()
    with parcours.connect(server.store, read_only=True) as p:
        rows = p.sql("SELECT * FROM events").to_pylist()
        quarantined = p.sql("SELECT reason FROM quarantine").column(0).to_pylist()
    assert quarantined == []
    return {row["event_id"]: row for row in rows}


def _recent(moment: dt.datetime) -> bool:
    return abs(moment - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_segment_analytics_python(server: Server) -> None:
    from segment.analytics import Client

    client = Client(server.write_key, host=server.url, sync_mode=True, max_retries=0)
    ids = [
        client.identify("user-1", {"email": "Jane@Example.com", "plan": "gold"})[1]["messageId"],
        client.track("user-1", "Order Completed", {"revenue": 45.9, "currency": "EUR"})[1][
            "messageId"
        ],
        client.page("user-1", "Docs", "Getting started", {"url": "https://x/docs"})[1]["messageId"],
        client.screen("user-1", "App", "Home")[1]["messageId"],
        client.group("user-1", "acme", {"plan": "pro"})[1]["messageId"],
        client.alias("anon-9", "user-1")[1]["messageId"],
        client.track(
            anonymous_id="anon-9",
            event="Product Viewed",
            timestamp=dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC),
        )[1]["messageId"],
    ]
    events = stored(server)
    assert set(events) == set(ids)
    identify, track, page, screen, group, alias, past = (events[i] for i in ids)
    assert [e["type"] for e in (identify, track, page, screen, group, alias)] == [
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
    assert all(e["user_id"] == "user-1" for e in (identify, track, page, screen, group, alias))
    assert past["anonymous_id"] == "anon-9" and past["user_id"] is None
    assert all(e["channel"] == "web" and e["source"] == "website" for e in events.values())
    # The client's clock is this machine's: corrected timestamps stay within the second.
    assert abs(past["occurred_at"] - dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)) < dt.timedelta(
        seconds=2
    )
    assert all(_recent(e["occurred_at"]) and _recent(e["received_at"]) for e in (identify, track))


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
    client.capture("Signed Up", distinct_id="anon-3", properties={"plan": "free"})
    client.capture(
        "$pageview", distinct_id="anon-3", properties={"$current_url": "https://x/pricing"}
    )
    client.capture("$identify", distinct_id="user-3", properties={"$anon_distinct_id": "anon-3"})
    client.alias("user-3-old", "user-3")
    client.shutdown()
    events = sorted(stored(server).values(), key=lambda e: e["occurred_at"])
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
    assert all(e["channel"] == "web" and _recent(e["occurred_at"]) for e in events)
