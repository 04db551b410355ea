"""Journeys over HTTP, on events sent live: a funnel, the customers behind it, the map.

The events go in through the tracking API of a real `parcours serve`; the server resolves
identities as it loads them, so the analyses see each customer's journey across cookie and
login. Expected counts are written by hand from the events below.
"""

from __future__ import annotations

from typing import Any

import httpx
from servers import ADMIN, Server
from waiting import poll

admin = httpx.Client(headers=ADMIN, timeout=10)


def _track(user: str, cookie: str, event: str, day: int, message: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": event,
        "anonymousId": cookie,
        **({"userId": user} if user else {}),
        "messageId": message,
        "timestamp": f"2026-03-{day:02d}T10:00:00Z",
    }


def _wait_for(url: str, params: dict[str, Any], check: Any) -> dict[str, Any]:
    """The route's answer once `check` holds for it (the loader stores, then resolves)."""

    def answer() -> dict[str, Any]:
        got = admin.get(url, params=params)
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body

    return poll(answer, until=check, every=0.2)


def test_funnel_and_its_customers_over_http(server: Server) -> None:
    batch = [
        # Jane browses anonymously, then logs in on the same cookie and buys.
        _track("", "ck-jane", "Product Viewed", 1, "m1"),
        _track("", "ck-jane", "Product Added", 1, "m2"),
        _track("jane", "ck-jane", "Order Completed", 2, "m3"),
        # Bob views and adds, never buys.
        _track("bob", "ck-bob", "Product Viewed", 1, "m4"),
        _track("bob", "ck-bob", "Product Added", 3, "m5"),
        # Ann only views.
        _track("", "ck-ann", "Product Viewed", 4, "m6"),
    ]
    sent = httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, auth=(server.write_key, ""))
    assert sent.status_code == 200
    steps = {"steps": ["Product Viewed", "Product Added", "Order Completed"], "window": "7d"}
    url = f"{server.url}/v1/journeys/funnel"
    result = _wait_for(url, steps, lambda b: b["customers"] == 3)
    assert [s["customers"] for s in result["steps"]] == [3, 2, 1]
    assert result["steps"][1]["dropped"] == 1

    dropped = admin.get(f"{url}/customers", params={**steps, "step": 3, "dropped": True}).json()
    assert len(dropped["customers"]) == 1  # Bob, who added but never bought
    bob = dropped["customers"][0]
    profile = admin.get(f"{server.url}/v1/customers/lookup", params={"user_id": "bob"}).json()
    assert profile["customer_id"] == bob

    journeys = admin.get(f"{server.url}/v1/journeys/map").json()
    edges = {(e["source"], e["target"]): e["count"] for e in journeys["edges"]}
    assert edges == {
        ("Product Viewed", "Product Added"): 2,
        ("Product Added", "Order Completed"): 1,
    }

    only_bob = admin.get(url, params={**steps, "customer": bob}).json()
    assert [s["customers"] for s in only_bob["steps"]] == [1, 1, 0]


def test_journeys_need_the_admin_token_and_say_what_is_wrong(server: Server) -> None:
    url = f"{server.url}/v1/journeys/funnel"
    assert httpx.get(url, params={"steps": ["A", "B"]}).status_code == 401
    bad = admin.get(url, params={"steps": ["A", "B"], "order": "sideways"})
    assert bad.status_code == 400
    assert "Unknown funnel order" in bad.text and "ordered" in bad.text
    bad = admin.get(f"{server.url}/v1/journeys/paths", params={"anchor": "A", "depth": 51})
    assert bad.status_code == 422
