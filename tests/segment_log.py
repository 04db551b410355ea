"""A small hand-made log for the segment tests: four customers' Segment-spec messages, at times
counted back from now, imported through the shipped `tracking` mapping. What each customer did
is written beside their messages, for the tests to read their expected members off."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _message(user: str, days_ago: float, kind: str, channel: str, n: int, **more: Any) -> str:
    at = NOW - dt.timedelta(days=days_ago)
    return json.dumps(
        {
            "type": kind,
            "userId": user,
            "messageId": f"{user}-{n}",
            "timestamp": at.isoformat(),
            "context": {"channel": channel},
            **more,
        }
    )


def order(user: str, days_ago: float, revenue: float, n: int) -> str:
    return _message(
        user,
        days_ago,
        "track",
        "store",
        n,
        event="Order Completed",
        properties={"revenue": revenue},
    )


def _page(user: str, days_ago: float, n: int) -> str:
    return _message(user, days_ago, "page", "web", n, name="Home")


def _consent(user: str, days_ago: float, given: bool, n: int) -> str:
    name = "Consent Given" if given else "Consent Withdrawn"
    properties = {"channel": "email", "purpose": "marketing"}
    return _message(user, days_ago, "track", "other", n, event=name, properties=properties)


def _call(user: str, days_ago: float, n: int) -> str:
    properties = {"intent": "delivery", "outcome": "unresolved"}
    return _message(user, days_ago, "track", "call", n, event="Call", properties=properties)


LOG = [
    # u1: Lyon, an email, consent given; two orders (300 + 250) 5 and 10 days ago in store;
    # one web page 100 days ago.
    _message("u1", 200, "identify", "other", 1, traits={"city": "Lyon", "email": "u1@x.com"}),
    order("u1", 5, 300, 2),
    order("u1", 10, 250, 3),
    _consent("u1", 20, True, 4),
    _page("u1", 100, 5),
    # u2: Paris; one order (100) 5 days ago; a web page 3 days ago; two calls on the same
    # intent a day apart (one case, one repeat); consent never recorded.
    _message("u2", 200, "identify", "other", 1, traits={"city": "Paris"}),
    order("u2", 5, 100, 2),
    _page("u2", 3, 3),
    _call("u2", 2, 4),
    _call("u2", 1, 5),
    # u3: Lyon, no email; three orders of 200 40, 45 and 50 days ago; consent given, then
    # withdrawn.
    _message("u3", 200, "identify", "other", 1, traits={"city": "Lyon"}),
    order("u3", 40, 200, 2),
    order("u3", 45, 200, 3),
    order("u3", 50, 200, 4),
    _consent("u3", 60, True, 5),
    _consent("u3", 30, False, 6),
    # u4: four web visits (a day apart) in the last 10 days, nothing else.
    *(_page("u4", days, i) for i, days in enumerate((1, 2, 3, 4))),
]
