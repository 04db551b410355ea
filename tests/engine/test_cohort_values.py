"""Cohorts from a store, worked out by hand from docs/journeys.md ("Touchpoints, agents,
cohorts") and the module's docstring.

A customer's cohort is the month of their first event (UTC), or its channel: the acquisition
channel. Per cohort and month since first seen, among the customers the data shows that far
(first seen at least that many calendar months before the month the data ends): active that
month (retention), bought at least once by then, and at least twice by then (repeat purchase).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from event_log import Event, import_log

import parcours

VIEW, ORDER = "Product Viewed", "Order Completed"


def _at(user: str, when: str, channel: str, name: str) -> Event:
    return Event(user, dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC), channel, name)


# The data runs from January to the end of April 2026.
EVENTS = [
    # w1: first seen on the web in January; orders in January and March.
    _at("w1", "2026-01-10 10:00", "web", VIEW),
    _at("w1", "2026-01-12 10:00", "web", ORDER),
    _at("w1", "2026-03-03 10:00", "web", ORDER),
    # w2: first seen on the web in January; orders twice in February, once in the app.
    _at("w2", "2026-01-20 10:00", "web", VIEW),
    _at("w2", "2026-02-05 10:00", "app", ORDER),
    _at("w2", "2026-02-20 10:00", "web", ORDER),
    # w3: seen once, on the last second of January.
    _at("w3", "2026-01-31 23:59:59", "web", VIEW),
    # s1: first seen at a store at the first second of February, buying; again in February.
    _at("s1", "2026-02-01 00:00:00", "store", ORDER),
    _at("s1", "2026-02-28 12:00", "store", ORDER),
    # s2: first seen in the app in February; buys at a store in April.
    _at("s2", "2026-02-14 10:00", "app", VIEW),
    _at("s2", "2026-04-30 10:00", "store", ORDER),
    # a1: first seen in the app at the very end of the data.
    _at("a1", "2026-04-30 23:00", "app", VIEW),
]


@pytest.fixture
def store(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    import_log(p, tmp_path, EVENTS)
    return p


def _table(result: Any) -> dict[tuple[str, int], tuple[int, int, int, int]]:
    return {
        (r["cohort"], r["month"]): (r["observed"], r["active"], r["buyers"], r["repeat_buyers"])
        for r in result.cohorts
    }


def test_monthly_cohorts_count_repeat_buyers_among_those_observed(
    store: parcours.Parcours,
) -> None:
    # (cohort, months since first seen): (observed, active, bought once+, bought twice+)
    assert _table(store.journeys.cohorts(months=12)) == {
        # January: w1, w2, w3, observable up to April (3 months on).
        ("2026-01", 0): (3, 3, 1, 0),  # w1 bought in January
        ("2026-01", 1): (3, 1, 2, 1),  # w2 active and twice a buyer by February
        ("2026-01", 2): (3, 1, 2, 2),  # w1's second order, in March
        ("2026-01", 3): (3, 0, 2, 2),  # nobody active in April; the purchases stay counted
        # February: s1 (its first second) and s2, observable up to 2 months on.
        ("2026-02", 0): (2, 2, 1, 1),  # s1 bought twice in February
        ("2026-02", 1): (2, 0, 1, 1),
        ("2026-02", 2): (2, 1, 2, 1),  # s2's April order: a buyer, not a repeat buyer
        # April: a1, observable for its first month only.
        ("2026-04", 0): (1, 1, 0, 0),
    }
    rates = {(r["cohort"], r["month"]): r for r in store.journeys.cohorts().cohorts}
    assert rates[("2026-01", 2)]["repeat_purchase_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert rates[("2026-01", 1)]["retention"] == pytest.approx(1 / 3, abs=1e-4)


def test_cohorts_by_acquisition_channel_follow_each_customers_first_event(
    store: parcours.Parcours,
) -> None:
    """The cohort is the channel of the first event, whatever the channel of later purchases
    (w2 orders in the app, s2 at a store: they stay web and app customers). Months are counted
    from each customer's own first month, and a customer is observed only as far as the data
    goes from there: a1, first seen in April, is in the app cohort's month 0 only."""
    assert _table(store.journeys.cohorts(by="channel")) == {
        # web: w1, w2, w3, all from January, as the January cohort.
        ("web", 0): (3, 3, 1, 0),
        ("web", 1): (3, 1, 2, 1),
        ("web", 2): (3, 1, 2, 2),
        ("web", 3): (3, 0, 2, 2),
        # store: s1, from February.
        ("store", 0): (1, 1, 1, 1),
        ("store", 1): (1, 0, 1, 1),
        ("store", 2): (1, 0, 1, 1),
        # app: s2 from February, a1 from April.
        ("app", 0): (2, 2, 0, 0),
        ("app", 1): (1, 0, 0, 0),
        ("app", 2): (1, 1, 1, 0),
    }
