"""Touchpoint lifts and the moments of truth from a store, worked out by hand from
docs/journeys.md ("Touchpoints, agents, cohorts").

For each touchpoint (channel:name): its reach, the share of those customers converting within
30 days after their first time there (strictly after it, up to 30 days inclusive), the share
churning (no event in the last 90 days of the data), and the lifts: those shares minus the
shares among all customers. The moments of truth are the touchpoints reaching at least 30
customers, by their largest lift either way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from event_log import Event, import_log

import parcours

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DAY, SECOND = dt.timedelta(days=1), dt.timedelta(seconds=1)
END = 200  # the last day of the data: churned means no event after day 110
HOME, DEMO, COMPLAINT, NEWSLETTER, ORDER = (
    "web:Home",
    "web:Demo Booked",
    "call:Complaint",
    "email:Newsletter",
    "web:Order Completed",
)


def _at(user: str, day: float, touchpoint: str) -> Event:
    channel, name = touchpoint.split(":")
    return Event(user, START + day * DAY, channel, name)


def _world() -> list[Event]:
    """100 customers, every one at Home on day 0, in four groups."""
    events: list[Event] = []
    # 40 book a demo on day 1 and come back on day 200. 20 order on day 5 (5 of them again
    # on day 10), 10 order on day 31, exactly 30 days after the demo, 10 never order.
    for n in range(40):
        user = f"demo{n}"
        events += [_at(user, 0, HOME), _at(user, 1, DEMO), _at(user, END, HOME)]
        if n < 20:
            events.append(_at(user, 5, ORDER))
        if n < 5:
            events.append(_at(user, 10, ORDER))
        if 20 <= n < 30:
            events.append(_at(user, 31, ORDER))
    # 30 complain by phone on day 2. 24 churn: no event after it, or (3 of them) an order
    # 30 days and 1 second after the complaint, then nothing. 5 come back on day 200, and one
    # on day 110, exactly 90 days before the end: not churned.
    for n in range(30):
        user = f"complaint{n}"
        events += [_at(user, 0, HOME), _at(user, 2, COMPLAINT)]
        if n < 3:
            events.append(Event(user, START + 32 * DAY + SECOND, "web", "Order Completed"))
        if n >= 24:
            events.append(_at(user, END if n < 29 else END - 90, HOME))
    # 29 open the newsletter on day 3 and all order on day 4: a large lift, but one customer
    # short of the reach a moment of truth needs.
    for n in range(29):
        user = f"newsletter{n}"
        events += [_at(user, 0, HOME), _at(user, 3, NEWSLETTER), _at(user, 4, ORDER)]
        events.append(_at(user, END, HOME))
    # 1 only looks, on day 0 and day 200.
    events += [_at("visitor", 0, HOME), _at("visitor", END, HOME)]
    return events


@pytest.fixture
def world(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    import_log(p, tmp_path, _world())
    return p


# Everyone: 100 customers; converted 20 + 10 + 3 + 29 = 62; churned 24.
CONVERSION, CHURN = 0.62, 0.24
# Per touchpoint: customers, converting within 30 days after the first time, churned.
#   Home: 100, converting by day 30: 20 (day 5) + 29 (day 4) = 49 (day 31 and 32 are
#         later); churned 24.
#   Demo Booked: 40, converting: 20 (day 5) + 10 (day 31 = day 1 + 30 days) = 30; churned 0.
#   Complaint: 30, converting: 0 (day 32 + 1 s is past day 2 + 30 days); churned 24.
#   Newsletter: 29, converting 29; churned 0.
#   Order Completed: 62, converting again within 30 days: 5; churned 3.
EXPECTED = {
    HOME: (100, 49 / 100, 24 / 100),
    DEMO: (40, 30 / 40, 0.0),
    COMPLAINT: (30, 0.0, 24 / 30),
    NEWSLETTER: (29, 29 / 29, 0.0),
    ORDER: (62, 5 / 62, 3 / 62),
}


def test_touchpoint_reach_conversion_and_churn_after_and_their_lifts(
    world: parcours.Parcours,
) -> None:
    result = world.journeys.touchpoints()
    assert (result.customers, result.conversion_rate, result.churn_rate) == (100, 0.62, 0.24)
    ours = {
        r["touchpoint"]: (
            r["customers"],
            r["conversion_after"],
            r["conversion_lift"],
            r["churn_after"],
            r["churn_lift"],
        )
        for r in result.touchpoints
    }
    expected = {
        touchpoint: pytest.approx(
            (reach, converted, converted - CONVERSION, churned, churned - CHURN), abs=1e-4
        )
        for touchpoint, (reach, converted, churned) in EXPECTED.items()
    }
    assert ours == expected


def test_moments_of_truth_are_the_largest_lifts_among_touchpoints_reaching_30(
    world: parcours.Parcours,
) -> None:
    """By the largest lift either way: Complaint (conversion -0.62), Order Completed
    (conversion 5/62 - 0.62 = -0.539), Demo Booked (churn -0.24), Home (conversion -0.13).
    Newsletter's lift (+0.38) would rank third, but it reaches 29 customers, not 30;
    Complaint reaches exactly 30 and is in."""
    result = world.journeys.touchpoints()
    ranked = [r["touchpoint"] for r in result.moments_of_truth]
    assert ranked == [COMPLAINT, ORDER, DEMO, HOME]
    assert [r["touchpoint"] for r in world.journeys.touchpoints(top=2).moments_of_truth] == [
        COMPLAINT,
        ORDER,
    ]
