"""Tiers against a plain pandas computation on the store's export, and the ladder's rules on a
hand-made timeline with hand-computed moves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from purchase_log import Row, at_day, generated, import_rows

import parcours
from parcours.segments.ladder import Ladder, LadderError, ladder_of, load_ladder
from parcours.segments.tiers import tiers

AS_OF = dt.date(2026, 8, 20)
DAY_US = 86_400_000_000


def brute_force_moves(events: pd.DataFrame, ladder: Ladder, as_of: dt.date) -> pd.DataFrame:
    """The ladder's definition, review by review: at every review t (each midnight UTC, or
    each Monday), the measure over [t - window, t), the level it qualifies for, and the tier:
    the highest level qualified at any review in [t - grace, t]. A move is a review whose tier
    differs from the one before. Amounts in ten-thousandths, so sums are exact integers."""
    anchor = 0 if ladder.review == "day" else 4  # 1970-01-05 is a Monday
    step = ladder.review_days
    end_day = (as_of + dt.timedelta(days=1) - dt.date(1970, 1, 1)).days
    buys = events[events["name"] == ladder.purchase]
    first_day = int(buys["us"].min() // DAY_US)
    reviews = np.arange(anchor + ((first_day - anchor) // step) * step, end_day + 1, step)
    reviews_us = reviews.astype(np.int64) * DAY_US
    window_us = ladder.window_days * DAY_US
    grace = ladder.grace_days // step
    rows = []
    for customer, own in buys.groupby("customer_id"):
        own = own.sort_values("us")
        times = own["us"].to_numpy()
        units = np.ones(len(own), dtype=np.int64) if ladder.measure == "orders" else own["units"]
        totals = np.concatenate([[0], np.cumsum(np.asarray(units, dtype=np.int64))])
        upper = np.searchsorted(times, reviews_us, side="left")
        lower = np.searchsorted(times, reviews_us - window_us, side="left")
        measure = totals[upper] - totals[lower]  # in units: 1 per order, or 1/10000 of money
        scale = 1 if ladder.measure == "orders" else 10_000
        qualified = np.zeros(len(reviews), dtype=int)
        for index, level in enumerate(ladder.levels, start=1):
            need = round(level.min * ladder.window_days * scale)
            qualified[measure * ladder.per_days >= need] = index
        tier = pd.Series(qualified).rolling(grace + 1, min_periods=1).max().astype(int).to_numpy()
        before = np.concatenate([[0], tier[:-1]])
        for i in np.flatnonzero(tier != before):
            at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=int(reviews[i]))
            rows.append((customer, at, int(before[i]), int(tier[i])))
    return pd.DataFrame(rows, columns=["customer_id", "at", "previous", "tier"])


def exported(p: parcours.Parcours, tmp_path: Path) -> pd.DataFrame:
    """The store's export (events with their customer_id), read by pandas."""
    path = tmp_path / "export.parquet"
    p.export(path)
    events = pd.read_parquet(path)
    events["us"] = events["occurred_at"].map(lambda t: int(t.timestamp() * 1_000_000))
    events["units"] = events["amount"].map(
        lambda a: 0 if a is None or pd.isna(a) else int(Decimal(a) * 10_000)
    )
    return events


@pytest.fixture
def shop(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    import_rows(p, tmp_path, generated())
    return p


@pytest.mark.parametrize("name", ["orders", "spend"])
def test_tier_history_equals_pandas_on_the_export(
    shop: parcours.Parcours, tmp_path: Path, name: str
) -> None:
    """Both shipped ladders (orders a week reviewed daily; spend reviewed weekly): every move
    written as history, and the current tier, equal the review-by-review pandas computation on
    the export."""
    ladder = load_ladder(name)
    if name == "spend":  # a shorter window and grace, so the eight months see downgrades
        ladder = ladder.model_copy(update={"window": "56d", "grace": "14d"})
    result = tiers(shop.store, ladder=ladder, as_of=AS_OF)
    expected = brute_force_moves(exported(shop, tmp_path), ladder, AS_OF)
    assert expected["tier"].gt(expected["previous"]).any()
    assert expected["tier"].lt(expected["previous"]).any(), "the log should have downgrades"
    history = shop.sql(
        'SELECT customer_id, computed_at AS "at", CAST(previous_value AS INT) AS previous, '
        "CAST(value AS INT) AS tier, label, previous_label FROM customer_score_changes "
        "WHERE score = 'tier' ORDER BY customer_id, computed_at"
    ).to_pandas()
    pd.testing.assert_frame_equal(
        history[["customer_id", "at", "previous", "tier"]],
        expected.sort_values(["customer_id", "at"]).reset_index(drop=True),
        check_dtype=False,
    )
    assert set(history["label"]) <= {level.name for level in ladder.levels} | {ladder.base}
    current = expected.groupby("customer_id")["tier"].last()
    stored = shop.sql("SELECT customer_id, value FROM customer_scores WHERE score = 'tier'")
    stored_tiers = dict(zip(*stored.to_pydict().values(), strict=True))
    assert len(stored_tiers) == 300  # every customer, the browsers at the base
    assert {c: t for c, t in stored_tiers.items() if t} == {c: t for c, t in current.items() if t}
    # the result's distribution and monthly moves are the same counts
    counts = pd.Series(stored_tiers).value_counts()
    assert [d["customers"] for d in result.distribution] == [
        int(counts.get(level, 0)) for level in range(len(ladder.levels) + 1)
    ]
    monthly = expected.assign(month=expected["at"].map(lambda t: t.strftime("%Y-%m")))
    per_month = monthly.groupby(["month", "previous", "tier"]).size()
    assert {(m["month"], m["from_level"], m["to_level"]): m["customers"] for m in result.moves} == {
        key: int(n) for key, n in per_month.items()
    }
    # and the stored history, read back month by month, says the same
    stored_moves = shop.scores.tier_moves()
    assert {
        (m["month"], m["from_tier"], m["to_tier"]): m["customers"] for m in stored_moves.months
    } == {(m["month"], m["from_tier"], m["to_tier"]): m["customers"] for m in result.moves}
    assert stored_moves.upgrades == int(expected["tier"].gt(expected["previous"]).sum())
    assert stored_moves.downgrades == int(expected["tier"].lt(expected["previous"]).sum())
    assert shop.scores.tier_moves(since=dt.date(2026, 8, 1)).months == [
        m for m in stored_moves.months if m["month"] == "2026-08"
    ]


HAND = {
    "name": "hand",
    "measure": "orders",
    "window": "7d",
    "review": "day",
    "grace": "3d",
    "levels": [{"name": "Silver", "min": 2}, {"name": "Gold", "min": 3}],
}


def test_ladder_rules_on_a_hand_made_timeline(p: parcours.Parcours, tmp_path: Path) -> None:
    """Orders in the last 7 days at each midnight; Silver from 2, Gold from 3; grace 3 days.
    x buys on Jan 1, 2, 3 (10:00) and Jan 14, 15: Silver at the Jan 3 review (2 in the window),
    Gold at Jan 4 (3) — upgrades at once; the Jan 1 order leaves at the Jan 9 review (Silver
    qualified), so Gold, last qualified at Jan 8, holds to Jan 11 and drops to Silver at Jan 12
    (the best level qualified in [Jan 9, Jan 12]); Silver, last qualified Jan 9, drops at
    Jan 13; the Jan 14-15 orders make Silver at Jan 16. y buys on Jan 1, 2, 9, 10: below
    Silver at the Jan 9 and 10 reviews only — a dip shorter than the grace, no move — and
    Silver, last qualified Jan 16, drops at Jan 20."""
    days = {"x": (1, 2, 3, 14, 15), "y": (1, 2, 9, 10)}
    rows = [Row(u, at_day(d), "Order Completed", amount="10") for u, ds in days.items() for d in ds]
    import_rows(p, tmp_path, rows)
    tiers(p.store, ladder=ladder_of(HAND), as_of=dt.date(2026, 1, 20))
    moves = p.sql(
        "SELECT m.value AS customer, strftime(c.computed_at, '%d') AS day, c.previous_label, "
        "c.label FROM customer_score_changes c JOIN identity_map m USING (customer_id) "
        "WHERE c.score = 'tier' AND m.type = 'user_id' ORDER BY customer, c.computed_at"
    ).to_pylist()
    assert [(m["customer"], m["day"], m["previous_label"], m["label"]) for m in moves] == [
        ("x", "03", "Member", "Silver"),
        ("x", "04", "Silver", "Gold"),
        ("x", "12", "Gold", "Silver"),
        ("x", "13", "Silver", "Member"),
        ("x", "16", "Member", "Silver"),
        ("y", "03", "Member", "Silver"),
        ("y", "20", "Silver", "Member"),
    ]
    current = p.sql(
        "SELECT m.value AS customer, s.label, s.details->>'since' AS since "
        "FROM customer_scores s JOIN identity_map m USING (customer_id) "
        "WHERE s.score = 'tier' AND m.type = 'user_id' ORDER BY customer"
    ).to_pylist()
    assert current == [
        {"customer": "x", "label": "Silver", "since": "2026-01-16"},
        {"customer": "y", "label": "Member", "since": "2026-01-20"},
    ]


def test_incremental_tiers_equal_full_for_touched_customers(
    shop: parcours.Parcours, tmp_path: Path
) -> None:
    """A tier depends on the customer's own purchases: recomputing a few customers after new
    purchases gives them what a full recompute gives, and leaves the others as they were."""
    tiers(shop.store, as_of=AS_OF)
    before = shop.sql("SELECT * FROM customer_score_changes WHERE score = 'tier'").num_rows
    extra = [Row("u0001", at_day(200 + d), "Order Completed", amount="20") for d in range(0, 28, 2)]
    import_rows(shop, tmp_path, extra, source="more")
    touched = "SELECT customer_id FROM identity_map WHERE value = 'u0001'"
    tiers(shop.store, as_of=AS_OF, customers=touched)
    incremental = shop.sql(
        "SELECT * EXCLUDE (computed_at) FROM customer_scores WHERE score = 'tier' ORDER BY 1"
    )
    history = shop.sql(
        "SELECT * FROM customer_score_changes WHERE score = 'tier' ORDER BY 1, computed_at"
    )
    assert history.num_rows > before  # u0001 climbed
    tiers(shop.store, as_of=AS_OF)
    assert incremental == shop.sql(
        "SELECT * EXCLUDE (computed_at) FROM customer_scores WHERE score = 'tier' ORDER BY 1"
    )
    assert history == shop.sql(
        "SELECT * FROM customer_score_changes WHERE score = 'tier' ORDER BY 1, computed_at"
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"window": "28h"}, "window: the duration '28h' is not a whole number of days"),
        ({"levels": [{"name": "A", "min": 3}, {"name": "B", "min": 2}]}, "levels must go up"),
        ({"review": "week", "grace": "10d"}, "not a whole number of reviews"),
        ({"measure": "visits"}, "measure: Input should be 'orders' or 'spend'"),
        ({"levels": [{"name": "Member", "min": 1}]}, "level names must differ"),
    ],
)
def test_a_bad_ladder_is_refused_saying_what_to_fix(
    change: dict[str, object], problem: str
) -> None:
    with pytest.raises(LadderError) as error:
        ladder_of({**HAND, **change}, "ladder.yaml")
    assert problem in error.value.message
    assert "Where: ladder.yaml" in error.value.message
