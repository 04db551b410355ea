"""Customers over HTTP: lookup by any identifier, the profile, the timeline paged to the end."""

from __future__ import annotations

import httpx
from servers import ADMIN, Server, start_server
from waiting import poll

import parcours
from parcours.identity.resolve import resolve_full

admin = httpx.Client(headers=ADMIN, timeout=10)
"""Customer routes need the admin token."""


def test_lookup_profile_and_whole_timeline(server: Server) -> None:
    auth = (server.write_key, "")
    batch = [
        {
            "type": "identify",
            "userId": "u1",
            "anonymousId": "ck1",
            "messageId": "i1",
            "traits": {"email": "Jane@Example.com"},
            "timestamp": "2026-01-01T10:00:00Z",
        },
        *[
            {
                "type": "track",
                "event": "Viewed",
                "anonymousId": "ck1",
                "messageId": f"t{i}",
                "timestamp": f"2026-01-{2 + i:02d}T10:00:00Z",
            }
            for i in range(25)
        ],
    ]
    assert httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, auth=auth).status_code == 200
    server.stop()  # resolve runs on the store (a background resolve is the next step)
    with parcours.connect(server.store) as p:
        assert resolve_full(p.store).customers == 1
    served = start_server(server.store, server.write_key)
    try:
        found = admin.get(f"{served.url}/v1/customers/lookup", params={"email": "jane@example.com"})
        assert found.status_code == 200, found.text
        profile = found.json()
        assert profile["events"] == 26
        assert {i["type"] for i in profile["identifiers"]} == {"user_id", "anonymous_id", "email"}
        # The whole history, 10 at a time: never truncated to recent days.
        seen, after = [], None
        while True:
            page = admin.get(
                f"{served.url}/v1/customers/{profile['customer_id']}/timeline",
                params={"limit": 10, **({"after": after} if after else {})},
            ).json()
            seen += [e["event_id"] for e in page["events"]]
            if not (after := page["next"]):
                break
        assert seen == ["i1", *(f"t{i}" for i in range(25))]
        missing = admin.get(f"{served.url}/v1/customers/lookup", params={"email": "no@x.com"})
        assert missing.status_code == 404 and "No customer" in missing.json()["message"]
        both = admin.get(
            f"{served.url}/v1/customers/lookup", params={"email": "a@b.c", "phone": "1"}
        )
        assert both.status_code == 400
    finally:
        served.stop()


def test_a_merge_shows_in_the_profile_api_with_no_manual_resolve(server: Server) -> None:
    """An anonymous visitor logs in: the identify that links the cookie to the user shows
    through the lookup API after its acknowledgement, with no resolve run by anyone (the
    loader updates the customers it touches). The wait is for the loader; its speed is not
    tested here."""
    auth = (server.write_key, "")
    visit = {"type": "page", "anonymousId": "ck-77", "messageId": "p1", "name": "Home"}
    assert httpx.post(f"{server.url}/v1/page", json=visit, auth=auth).status_code == 200
    login = {
        "type": "identify",
        "anonymousId": "ck-77",
        "userId": "u-77",
        "messageId": "i1",
        "traits": {"email": "max@example.com"},
    }
    assert httpx.post(f"{server.url}/v1/identify", json=login, auth=auth).status_code == 200

    def lookup() -> httpx.Response:
        return admin.get(f"{server.url}/v1/customers/lookup", params={"anonymous_id": "ck-77"})

    def kinds(found: httpx.Response) -> set[str]:
        return {i["type"] for i in found.json()["identifiers"]} if found.is_success else set()

    found = poll(lookup, until=lambda found: {"user_id", "email"} <= kinds(found))
    assert kinds(found) == {"user_id", "email", "anonymous_id"}
    assert found.json()["events"] == 2


def test_identity_and_privacy_over_http(server: Server) -> None:
    """Explain, split, forced merge, full resolve, access and erasure through the HTTP API,
    each checked in its answer and then in the store."""
    auth = (server.write_key, "")
    batch = [
        {
            "type": "identify",
            "userId": "u1",
            "anonymousId": "ck1",
            "messageId": "a",
            "traits": {"email": "ann@example.com"},
        },
        {"type": "identify", "userId": "u2", "anonymousId": "ck2", "messageId": "b"},
    ]
    assert httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, auth=auth).status_code == 200
    url = server.url
    assert httpx.get(f"{url}/v1/customers/lookup", params={"user_id": "u1"}).status_code == 401
    assert admin.post(f"{url}/v1/identity/resolve").json()["customers"] == 2

    why = admin.get(
        f"{url}/v1/identity/explain", params={"type": "email", "value": "ann@example.com"}
    )
    assert why.status_code == 200
    # The customer's anchor is its user id (the most trusted kind); the identify that carried
    # it carried the email too: one step, the link that message made.
    (step,) = why.json()["path"]
    assert (step["from"], step["to"]) == (
        {"type": "user_id", "value": "u1"},
        {"type": "email", "value": "ann@example.com"},
    )
    assert (step["evidence"]["kind"], step["evidence"]["event_id"]) == ("linked", "a")

    def pair(a: str, b: str, reason: str) -> dict[str, object]:
        (ta, va), (tb, vb) = a.split(":"), b.split(":")
        return {
            "left": {"type": ta, "value": va},
            "right": {"type": tb, "value": vb},
            "reason": reason,
        }

    merged = admin.post(
        f"{url}/v1/identity/merge", json=pair("user_id:u1", "user_id:u2", "same person")
    )
    assert merged.status_code == 200 and merged.json()["customers"] == 1
    split = admin.post(
        f"{url}/v1/identity/split", json=pair("user_id:u1", "anonymous_id:ck1", "shared pc")
    )
    assert split.status_code == 200 and split.json()["customers"] == 2

    held = admin.post(f"{url}/v1/privacy/access", json={"type": "user_id", "value": "u1"}).json()
    assert {e["event_id"] for e in held["events"]} == {"a", "b"}
    erased = admin.post(
        f"{url}/v1/privacy/erase",
        json={"identifier": {"type": "user_id", "value": "u1"}, "reason": "ticket 7"},
    )
    assert erased.status_code == 200 and erased.json()["counts"]["events"] == 2
    gone = admin.get(f"{url}/v1/customers/lookup", params={"user_id": "u1"})
    assert gone.status_code == 404
    # The erased person's app sends again: acknowledged, but withheld when loaded.
    again = {"batch": [{"type": "track", "event": "Opened", "userId": "u1", "messageId": "c"}]}
    assert httpx.post(f"{url}/v1/batch", json=again, auth=auth).status_code == 200

    server.stop()
    with parcours.connect(server.store, read_only=True) as p:
        kinds = p.sql("SELECT kind FROM identity_overrides").column(0).to_pylist()
        log = p.sql("SELECT kind FROM privacy_log ORDER BY carried_out_at").column(0).to_pylist()
        left = p.sql("SELECT count(*) FROM events WHERE user_id = 'u1'").column(0)[0].as_py()
        withheld = p.sql("SELECT reason_code FROM quarantine").column(0).to_pylist()
    assert kinds == [] and log == ["access", "erasure"] and left == 0
    assert withheld == ["erased"]
