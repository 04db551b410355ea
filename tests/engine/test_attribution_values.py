"""Attribution read from a store, each figure worked out by hand from docs/journeys.md.

The models themselves are checked on ready-made paths in tests/unit/test_attribution.py; here
the events go through the real import into a DuckDB file, so what is checked is what happens
before the models: the lookback, the path each conversion closes, the touches that count once,
and the two models computed in the store (position-based shares, time decay). Touchpoints are
channels (the default); the conversion is "Order Completed".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from event_log import Event, import_log

import parcours

CONVERSION_AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DAY, SECOND = dt.timedelta(days=1), dt.timedelta(seconds=1)
ORDER = "Order Completed"


def _credit(result: Any, model: str) -> dict[str, float]:
    return {row["touchpoint"]: row[model] for row in result.by_touchpoint}


def test_the_lookback_keeps_a_touch_30_days_before_and_drops_one_a_second_earlier(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """Lookback 30 days: a touch exactly 30 days before the conversion is within it; one
    30 days and 1 second before is not, so the path is email → web and email is its first
    touch (with a lookback that drops the boundary, web would be; with none, social)."""
    import_log(
        p,
        tmp_path,
        [
            Event("u1", CONVERSION_AT - 30 * DAY - SECOND, "social", "Ad Clicked"),
            Event("u1", CONVERSION_AT - 30 * DAY, "email", "Email Opened"),
            Event("u1", CONVERSION_AT, "web", ORDER),
        ],
    )
    result = p.journeys.attribution(ORDER)
    assert (result.conversions, result.paths) == (1, 1)
    assert _credit(result, "first_touch") == {"email": 1.0, "web": 0.0}
    assert _credit(result, "last_touch") == {"email": 0.0, "web": 1.0}

    shorter = p.journeys.attribution(ORDER, lookback="29d")  # the email is 30 days out
    assert _credit(shorter, "first_touch") == {"web": 1.0}


def test_each_conversion_closes_the_path_since_the_one_before(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """u2 converts twice, then posts on social: three paths, [email, web] and [app, store]
    converting, [social] not. u3's two web views are consecutive touches of one touchpoint
    and count once, and the app order is the path's last touch: [web, app]."""
    d0 = CONVERSION_AT - 10 * DAY
    import_log(
        p,
        tmp_path,
        [
            Event("u2", d0, "email", "Email Opened"),
            Event("u2", d0 + DAY, "web", ORDER),
            Event("u2", d0 + 3 * DAY, "app", "Product Viewed"),
            Event("u2", d0 + 4 * DAY, "store", ORDER),
            Event("u2", d0 + 9 * DAY, "social", "Post"),
            Event("u3", d0, "web", "Product Viewed"),
            Event("u3", d0 + dt.timedelta(hours=1), "web", "Product Viewed"),
            Event("u3", d0 + dt.timedelta(hours=2), "app", ORDER),
        ],
    )
    result = p.journeys.attribution(ORDER)
    assert (result.conversions, result.paths) == (3, 4)
    # First touches of the converting paths: email, app, web; last: web, store, app.
    assert _credit(result, "first_touch") == {
        "email": 1.0, "app": 1.0, "web": 1.0, "store": 0.0, "social": 0.0
    }  # fmt: skip
    assert _credit(result, "last_touch") == {
        "email": 0.0, "app": 1.0, "web": 1.0, "store": 1.0, "social": 0.0
    }  # fmt: skip
    # Linear, half of each two-touch path: web 1/2 + 1/2 (u3's web counted once, not 2/3).
    assert _credit(result, "linear") == {
        "email": 0.5, "app": 1.0, "web": 1.0, "store": 0.5, "social": 0.0
    }  # fmt: skip
    # The chain: START goes to email, app, social, web a quarter each; web converts or goes
    # to app (1/2 each), app goes to store or converts, store converts, social goes to NULL:
    # every state but social converts for sure, so P(conversion) = 3/4. Without the trailing
    # non-converting [social] path it would be 1.
    assert result.conversion_probability == pytest.approx(0.75)


def test_position_based_gives_40_20_40_and_a_single_touch_all_of_it(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """Position-based: 40 % to the first touch, 40 % to the last, 20 % shared by the middle
    ones; a path of two touches is split 50/50 and a path of one touch gets the whole
    conversion (the usual U-shaped convention: nothing is left over for anyone else)."""
    at = CONVERSION_AT
    hour = dt.timedelta(hours=1)
    import_log(
        p,
        tmp_path,
        [
            # a: one touch, the store order itself: store 1.
            Event("a", at, "store", ORDER),
            # b: two touches: email 0.5, web 0.5.
            Event("b", at - hour, "email", "Email Opened"),
            Event("b", at, "web", ORDER),
            # c: four touches: email 0.4, social 0.1, app 0.1, web 0.4.
            Event("c", at - 3 * hour, "email", "Email Opened"),
            Event("c", at - 2 * hour, "social", "Ad Clicked"),
            Event("c", at - hour, "app", "Product Viewed"),
            Event("c", at, "web", ORDER),
            # d: three touches: social 0.4, email 0.2, app 0.4.
            Event("d", at - 2 * hour, "social", "Ad Clicked"),
            Event("d", at - hour, "email", "Email Opened"),
            Event("d", at, "app", ORDER),
        ],
    )
    result = p.journeys.attribution(ORDER)
    expected = {
        "store": 1.0,
        "email": 0.5 + 0.4 + 0.2,
        "web": 0.5 + 0.4,
        "social": 0.1 + 0.4,
        "app": 0.1 + 0.4,
    }
    assert _credit(result, "position_based") == pytest.approx(expected, abs=1e-6)
    shares = {tp: credit / 4 for tp, credit in expected.items()}  # of the four conversions
    assert _credit(result, "position_based_share") == pytest.approx(shares, abs=1e-6)


def test_time_decay_halves_a_touch_s_weight_every_half_life(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """Time decay: a touch's weight is 0.5 ** (time before the conversion / half-life),
    and each conversion's weights add up to one. e: email 14 days before, web 7 days before,
    the app order: weights 1/4, 1/2, 1 (sum 7/4), so 1/7, 2/7, 4/7. f: the store order alone
    gets 1. With a half-life of 14 days, e's weights are 0.5 ** (14/14), 0.5 ** (7/14), 1."""
    at = CONVERSION_AT
    import_log(
        p,
        tmp_path,
        [
            Event("e", at - 14 * DAY, "email", "Email Opened"),
            Event("e", at - 7 * DAY, "web", "Product Viewed"),
            Event("e", at, "app", ORDER),
            Event("f", at, "store", ORDER),
        ],
    )
    week = p.journeys.attribution(ORDER)
    assert _credit(week, "time_decay") == pytest.approx(
        {"email": 1 / 7, "web": 2 / 7, "app": 4 / 7, "store": 1.0}, abs=1e-6
    )

    fortnight = p.journeys.attribution(ORDER, half_life="14d")
    weights = {"email": 0.5 ** (14 / 14), "web": 0.5 ** (7 / 14), "app": 1.0}
    total = sum(weights.values())
    assert _credit(fortnight, "time_decay") == pytest.approx(
        {**{tp: w / total for tp, w in weights.items()}, "store": 1.0}, abs=1e-6
    )
