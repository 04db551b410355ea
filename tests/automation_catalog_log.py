"""A small hand-made log for the automation catalogue's tests: three customers' Segment-spec
messages (at times counted back from now) naming every event, trait and consent purpose the
shipped automations use, imported through the shipped `tracking` mapping.

- u1: first_name Ada, email, city Lyon, renewal_date; signed up, enrolled in the loyalty
  programme, ordered; consents to email for marketing and for service.
- u2: first_name Bob, email; requested a quote on the web; posted on a social network (negative),
  had a case resolved, answered a survey, renewed a subscription.
- u3: email only; nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import parcours

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _message(user: str, days_ago: float, n: int, **fields: Any) -> str:
    at = NOW - dt.timedelta(days=days_ago)
    return json.dumps(
        {"userId": user, "messageId": f"{user}-{n}", "timestamp": at.isoformat(), **fields}
    )


def _track(user: str, days_ago: float, n: int, event: str, where: str, **props: Any) -> str:
    return _message(
        user, days_ago, n, type="track", event=event, context={"channel": where}, properties=props
    )


def _identify(user: str, days_ago: float, n: int, **traits: Any) -> str:
    return _message(user, days_ago, n, type="identify", context={"channel": "other"}, traits=traits)


def _consent(user: str, days_ago: float, n: int, purpose: str) -> str:
    # The consent's channel is a property; the event's own channel comes from the context.
    return _message(
        user,
        days_ago,
        n,
        type="track",
        event="Consent Given",
        context={"channel": "other"},
        properties={"channel": "email", "purpose": purpose},
    )


LOG = [
    _identify(
        "u1",
        100,
        1,
        first_name="Ada",
        email="ada@example.com",
        city="Lyon",
        renewal_date="2027-03-01",
        birth_date="1990-05-04",
    ),
    _track("u1", 30, 2, "Signed Up", "web"),
    _track("u1", 29, 3, "Loyalty Enrolled", "app"),
    _track("u1", 20, 4, "Order Completed", "store", revenue=40),
    _consent("u1", 20, 5, "marketing"),
    _consent("u1", 20, 6, "service"),
    _identify("u2", 90, 1, first_name="Bob", email="bob@example.com"),
    _track("u2", 10, 2, "Quote Requested", "web", quote_id="q1"),
    _track("u2", 9, 3, "Social Post", "social", sentiment="negative"),
    _track("u2", 8, 4, "Case Resolved", "call", case_id="k1"),
    _track("u2", 7, 5, "Survey Answered", "email", score=4),
    _track("u2", 6, 6, "Subscription Renewed", "web"),
    _identify("u3", 50, 1, email="cy@example.com"),
]


def import_log(p: parcours.Parcours, folder: Path, lines: list[str] | None = None) -> None:
    path = folder / "automation_log.jsonl"
    path.write_text("\n".join(lines or LOG) + "\n")
    summary = p.import_file(path, source="log", mapping="tracking")
    assert not summary.quarantined, summary
