"""Repeat contacts, first-contact resolution and effort from a store, worked out by hand from
the definitions in docs/journeys.md ("Contacts, cases, repeats and effort").

A case is a customer's contacts on one intent, each within 7 days of the one before; every
contact after the first is a repeat, a switch when its channel differs from the contact's
before. A case is settled by its last contact unless that contact's outcome is unresolved,
abandoned, transferred, escalated or pending; no outcome counts as settled. Effort of a case:
contacts + repeats + switches + 0.1 x minutes waited.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from event_log import Event, import_log

import parcours
from parcours.sql import lit

T0 = dt.datetime(2026, 2, 2, 10, 0, tzinfo=dt.UTC)
DAY, SECOND = dt.timedelta(days=1), dt.timedelta(seconds=1)


def _contact(
    user: str, days: float, channel: str, intent: str, outcome: str = "", wait: int = 0
) -> Event:
    return Event(user, T0 + days * DAY, channel, "Contact", intent, outcome, wait)


def _customer(p: parcours.Parcours, user: str) -> str:
    """The customer identity resolution made of this user id."""
    query = f"SELECT customer_id FROM identity_map WHERE type = 'user_id' AND value = {lit(user)}"
    return str(p.sql(query).column(0)[0])


# Six cases, one per customer, with what the definitions make of each:
#   a  call resolved, 2 min wait                    1 contact   settled at once  effort 1.2
#   b  chat unresolved                              1 contact   unsettled        effort 1.0
#   c  call with no outcome, 10 min wait            1 contact   settled at once  effort 2.0
#   d  call unresolved (5 min), 5 days later chat   2 contacts  settled after 5 days
#      resolved (1 min): 1 repeat, 1 switch                                      effort 4.6
#   e  call abandoned (15 min), a day later call    2 contacts  unsettled
#      escalated: 1 repeat, no switch                                            effort 4.5
#   f  chat unresolved, a day later video           3 contacts  settled after 4 days
#      unresolved (30 s), 3 days later call with
#      no outcome (90 s): 2 repeats, 2 switches                                  effort 7.2
CASES = [
    _contact("a", 0, "call", "delivery", "resolved", 120),
    _contact("b", 0, "chat", "billing", "unresolved"),
    _contact("c", 0, "call", "returns", "", 600),
    _contact("d", 0, "call", "account", "unresolved", 300),
    _contact("d", 5, "chat", "account", "resolved", 60),
    _contact("e", 0, "call", "billing", "abandoned", 900),
    _contact("e", 1, "call", "billing", "escalated"),
    _contact("f", 0, "chat", "order_status", "unresolved"),
    _contact("f", 1, "video", "order_status", "unresolved", 30),
    _contact("f", 4, "call", "order_status", "", 90),
]


@pytest.fixture
def cases(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    # A purchase is no contact: it has no intent, and changes none of the figures.
    import_log(p, tmp_path, [*CASES, Event("a", T0 - DAY, "web", "Order Completed")])
    return p


def test_first_contact_resolution_and_contacts_per_resolution(cases: parcours.Parcours) -> None:
    result = cases.journeys.repeats()
    assert (result.contacts, result.cases, result.repeats) == (10, 6, 4)
    # Settled by their one contact: a and c, of 6 cases (b is one contact, unsettled).
    assert result.first_contact_resolution == pytest.approx(2 / 6, abs=1e-4)
    # Settled cases: a, c, d, f; 10 contacts for them all.
    assert result.contacts_per_resolution == pytest.approx(10 / 4, abs=1e-3)
    # First contact to the settling one: a 0, c 0, d 5 days, f 4 days; median of 0, 0, 4, 5
    # days is the mean of the middle two, 2 days (from the contact before, f's would be 3
    # days and the median 1.5).
    assert result.median_seconds_to_resolution == 2 * 86_400


def test_effort_counts_contacts_repeats_switches_and_minutes_waited(
    cases: parcours.Parcours,
) -> None:
    result = cases.journeys.repeats()
    assert result.mean_effort == pytest.approx((1.2 + 1.0 + 2.0 + 4.6 + 4.5 + 7.2) / 6, abs=1e-3)
    listed = cases.journeys.repeaters()  # the cases with a repeat, most effort first
    assert [(c["customer_id"], c["effort"]) for c in listed] == [
        (_customer(cases, "f"), 7.2),
        (_customer(cases, "d"), 4.6),
        (_customer(cases, "e"), 4.5),
    ]
    assert [(c["contacts"], c["repeats"], c["switches"]) for c in listed] == [
        (3, 2, 2),
        (2, 1, 1),
        (2, 1, 0),
    ]
    assert [c["resolved"] for c in listed] == [True, True, False]


def test_repeat_rate_and_resolution_by_channel(cases: parcours.Parcours) -> None:
    """Per channel: the share of its contacts followed by a repeat, the switches into it,
    and the share of the cases opened there that their first contact settled."""
    by_channel = {r["channel"]: r for r in cases.journeys.repeats().by_channel}
    # call: a, c, d1, e1, e2, f3; followed by a repeat: d1, e1. Opened there: a, c, d, e;
    # settled at once: a, c. Switched into: f3 (from video).
    assert by_channel["call"]["contacts"] == 6
    assert by_channel["call"]["repeat_rate"] == pytest.approx(2 / 6, abs=1e-4)
    assert by_channel["call"]["first_contact_resolution"] == pytest.approx(2 / 4, abs=1e-4)
    assert by_channel["call"]["switched_to"] == 1
    # chat: b, d2, f1; followed by a repeat: f1. Opened: b, f, neither settled at once.
    assert by_channel["chat"]["repeat_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert by_channel["chat"]["first_contact_resolution"] == 0
    assert by_channel["chat"]["switched_to"] == 1  # d2, from call
    # video: f2, followed by f3; opened no case.
    assert by_channel["video"]["repeat_rate"] == 1
    assert by_channel["video"]["first_contact_resolution"] is None


def test_a_contact_7_days_after_the_one_before_repeats_it_and_7_days_and_a_second_does_not(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """The repeat window is 7 days, inclusive: g's second call, exactly 7 days after the
    first, is a repeat; the third, 7 days and 1 second after the second, opens a new case.
    Another intent (h) or another customer (i) never repeats a case."""
    import_log(
        p,
        tmp_path,
        [
            _contact("g", 0, "call", "billing", "unresolved"),
            _contact("g", 7, "call", "billing", "unresolved"),
            Event("g", T0 + 14 * DAY + SECOND, "call", "Contact", "billing", "resolved"),
            _contact("h", 0, "call", "billing", "unresolved"),
            _contact("h", 0.5, "chat", "delivery", "resolved"),
            _contact("i", 0.5, "call", "billing", "resolved"),
        ],
    )
    result = p.journeys.repeats()
    # Cases: g [day 0, day 7], g [day 14 + 1 s], h billing, h delivery, i billing.
    assert (result.contacts, result.cases, result.repeats) == (6, 5, 1)
    listed = p.journeys.repeaters()
    assert [(c["customer_id"], c["contacts"]) for c in listed] == [(_customer(p, "g"), 2)]
    # Settled at once: g's second case, h's delivery, i's; not g's first, not h's billing.
    assert result.first_contact_resolution == pytest.approx(3 / 5, abs=1e-4)
    shorter = p.journeys.repeats(window="6d")  # g's second call now opens its own case
    assert (shorter.cases, shorter.repeats) == (6, 0)
