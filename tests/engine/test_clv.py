"""Lifetime value: the BG/NBD and Gamma-Gamma models and the purchase summary they read, against
the papers' own CDNOW figures, `lifetimes` (a peer) on the same summary, and a small log whose
summary is counted by hand.

CDNOW is the raw transaction log `lifetimes` ships (CDNOW_sample.txt: 6,919 purchases of the
2,357 customers of the papers' 1/10 cohort), imported through parcours's own import
(tests/cdnow.py). validation-data.md §2.1 gives the papers' preparation, which parcours's
summary must reproduce: same-day purchases merged, calibration ending 1997-09-30, recency and T
from daily data, in weeks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from cdnow import import_cdnow, raw_log
from peers import peer

import parcours
from parcours.segments.clv import BetaGeo, GammaGamma
from parcours.segments.purchases import purchase_summary
from parcours.segments.scored import latest_model, scores_of

CALIBRATION_END, OBSERVATION_END = dt.date(1997, 9, 30), dt.date(1998, 6, 30)


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[parcours.Parcours]:
    peer("lifetimes")  # the data ships in it
    folder = tmp_path_factory.mktemp("cdnow")
    with parcours.connect(folder / "store.duckdb") as p:
        assert import_cdnow(p, folder) == 6919  # every transaction of the log, as an event
        yield p


@pytest.fixture(scope="module")
def weekly(cdnow: parcours.Parcours) -> dict[str, np.ndarray[Any, Any]]:
    """parcours's summary of CDNOW in weeks, with each customer's id in the log."""
    summary = purchase_summary(
        cdnow.store,
        calibration_end=CALIBRATION_END,
        observation_end=OBSERVATION_END,
        unit="weeks",
    )
    ids = cdnow.store.engine.query(
        "SELECT customer_id, CAST(value AS INTEGER) AS id FROM identity_map WHERE type = 'user_id'"
    )
    joined = summary.join(ids, "customer_id").sort_by("id")
    return {name: joined.column(name).to_numpy() for name in joined.column_names}


def test_cdnow_summary_reproduces_the_papers_summary(weekly: dict[str, Any]) -> None:
    # The summary shipped with lifetimes (cdnow_customers_summary_with_transactions.csv: x, t_x,
    # T in weeks to 2 decimals, zbar the mean repeat spend) is the papers' own data.
    pd = peer("pandas")
    shipped = pd.read_csv(raw_log("cdnow_customers_summary_with_transactions.csv"))
    assert len(weekly["id"]) == len(shipped) == 2357
    assert (weekly["id"] == shipped["ID"].to_numpy()).all()
    assert (weekly["frequency"] == shipped["x"].to_numpy()).all()
    assert np.abs(weekly["recency"] - shipped["t_x"].to_numpy()).max() < 0.006
    assert np.abs(weekly["T"] - shipped["T"].to_numpy()).max() < 0.006
    assert np.abs(weekly["monetary"] - shipped["zbar"].to_numpy()).max() < 0.006
    # validation-data.md §2.1: 2,457 repeat purchases in calibration, 1,882 in weeks 40-78.
    assert weekly["frequency"].sum() == 2457
    assert weekly["frequency_holdout"].sum() == 1882
    assert (weekly["duration_holdout"] == 39).all()


def test_bgnbd_matches_fader_hardie_lee_2005_on_cdnow(weekly: dict[str, Any]) -> None:
    model = BetaGeo().fit(weekly["frequency"], weekly["recency"], weekly["T"])
    # Fader, Hardie & Lee (2005), Marketing Science 24(2), §5: r = 0.243, α = 4.414,
    # a = 0.793, b = 2.426, LL = -9582.4.
    assert model.r == pytest.approx(0.243, abs=5e-4)
    assert model.alpha == pytest.approx(4.414, abs=5e-3)
    assert model.a == pytest.approx(0.793, abs=5e-4)
    assert model.b == pytest.approx(2.426, abs=5e-3)
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert model.customers_ == 2357


def test_gamma_gamma_matches_fader_hardie_2013_on_cdnow(weekly: dict[str, Any]) -> None:
    model = GammaGamma().fit(weekly["frequency"], weekly["monetary"])
    # Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": the 946 customers with
    # repeat purchases; p = 6.25, q = 3.74, γ = 15.44 (LL -4055.9 as CLVTools quotes it).
    assert model.customers_ == 946
    assert model.p == pytest.approx(6.25, abs=5e-3)
    assert model.q == pytest.approx(3.74, abs=5e-3)
    assert model.v == pytest.approx(15.44, abs=5e-3)
    assert model.log_likelihood_ == pytest.approx(-4055.9, abs=0.05)


def test_fits_and_predictions_equal_lifetimes_on_the_same_summary(weekly: dict[str, Any]) -> None:
    lifetimes = peer("lifetimes")
    x, t_x, age, money = (weekly[c] for c in ("frequency", "recency", "T", "monetary"))
    theirs = lifetimes.BetaGeoFitter().fit(x, t_x, age)
    repeat = x > 0
    their_spend = lifetimes.GammaGammaFitter().fit(x[repeat], money[repeat])
    ours, our_spend = BetaGeo().fit(x, t_x, age), GammaGamma().fit(x, money)
    for name, value in ours.params.items():  # both maximise the same likelihood
        assert value == pytest.approx(theirs.params_[name], rel=1e-4), name
    for name, value in our_spend.params.items():
        assert value == pytest.approx(their_spend.params_[name], rel=1e-4), name

    # The predictions, on lifetimes' own parameters, to 1e-6 relative.
    bg, gg = theirs.params_, their_spend.params_
    same = BetaGeo(r=bg["r"], alpha=bg["alpha"], a=bg["a"], b=bg["b"])
    spend = GammaGamma(p=gg["p"], q=gg["q"], v=gg["v"])
    close = 1e-6
    alive = theirs.conditional_probability_alive(x, t_x, age)
    np.testing.assert_allclose(same.probability_alive(x, t_x, age), alive, rtol=close, atol=0.0)
    for weeks in (1, 13, 39, 104):
        expected = theirs.conditional_expected_number_of_purchases_up_to_time(weeks, x, t_x, age)
        np.testing.assert_allclose(
            same.expected_purchases(weeks, x, t_x, age), expected, rtol=close, atol=0.0
        )
    horizons = np.array([1.0, 39.0, 78.0])
    np.testing.assert_allclose(
        same.expected_purchases_new_customer(horizons),
        theirs.expected_number_of_purchases_up_to_time(horizons),
        rtol=close,
        atol=0.0,
    )
    average = their_spend.conditional_expected_average_profit(x, money)
    np.testing.assert_allclose(
        spend.expected_average_spend(x, money), average, rtol=close, atol=0.0
    )
    # lifetimes' CLV: 12 months of 4.345 weeks, 1 % a month, each month's purchases
    # discounted from its end.
    pd = peer("pandas")
    value = their_spend.customer_lifetime_value(
        theirs, *(pd.Series(c) for c in (x, t_x, age, money)), time=12, discount_rate=0.01, freq="W"
    )
    ours_value = spend.customer_lifetime_value(
        same, x, t_x, age, money, horizon=12 * 4.345, period=4.345, discount_rate=0.01
    )
    np.testing.assert_allclose(ours_value, value.to_numpy(), rtol=close, atol=0.0)


def test_predictions_stay_finite_and_right_for_very_frequent_buyers() -> None:
    # From the model (FHL 2005 §3): an alive customer's rate given x purchases in T is
    # gamma(r + x, α + T), so over a short time dt they buy P(alive) (r + x) / (α + T) dt.
    model = BetaGeo(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x = np.array([10.0, 1_000.0, 100_000.0])
    t_x, age, step = np.full(3, 51.0), np.full(3, 52.0), 1e-4
    alive = model.probability_alive(x, t_x, age)
    expected = model.expected_purchases(step, x, t_x, age)
    assert np.isfinite(expected).all() and ((alive >= 0) & (alive <= 1)).all()
    rate = alive * (model.r + x) / (model.alpha + age)
    np.testing.assert_allclose(expected / step, rate, rtol=1e-3)


# A small log, its summary counted by hand (calibration to 2026-02-28, observation to 03-31).
LOG = [
    # ann: two orders on 01-05 (one purchase day worth 50), then 01-20, 02-10; 03-15 later.
    ("ann", "2026-01-05T10:00:00Z", "Order Completed", "40"),
    ("ann", "2026-01-05T18:00:00Z", "Order Completed", "10"),
    ("ann", "2026-01-20T09:00:00Z", "Order Completed", "30"),
    ("ann", "2026-02-10T09:00:00Z", "Order Completed", "20"),
    ("ann", "2026-03-15T09:00:00Z", "Order Completed", "25"),
    # bob: one order, and a view the same day (not a purchase).
    ("bob", "2026-02-01T23:30:00Z", "Order Completed", "15"),
    ("bob", "2026-02-01T23:40:00Z", "Product Viewed", ""),
    # eve: two orders two seconds apart, on either side of midnight UTC: two days.
    ("eve", "2026-01-10T23:59:59Z", "Order Completed", "10"),
    ("eve", "2026-01-11T00:00:01Z", "Order Completed", "12"),
    # cat buys only after the calibration; dan never buys.
    ("cat", "2026-03-02T12:00:00Z", "Order Completed", "99"),
    ("dan", "2026-01-03T12:00:00Z", "Product Viewed", ""),
]
MAPPING = """
name: orders
event: {field: event}
channel: {value: web}
occurred_at: {field: at}
user_id: user
amount: amount
"""


def import_orders(p: parcours.Parcours, folder: Path, rows: Sequence[tuple[str, ...]]) -> None:
    (folder / "orders.yaml").write_text(MAPPING)
    data = folder / f"orders{len(list(folder.glob('orders*.csv')))}.csv"
    data.write_text("\n".join(["user,at,event,amount", *(",".join(r) for r in rows)]) + "\n")
    summary = p.import_file(data, source="orders", mapping=folder / "orders.yaml")
    assert not summary.quarantined, summary.quarantined


def customer(p: parcours.Parcours, user: str) -> str:
    return str(
        p.store.engine.scalar(
            "SELECT customer_id FROM identity_map WHERE type = 'user_id' AND value = ?", [user]
        )
    )


def by_user(p: parcours.Parcours, table: pa.Table) -> dict[str, dict[str, Any]]:
    users = {customer(p, u): u for u in ("ann", "bob", "cat", "dan", "eve")}
    return {users[row.pop("customer_id")]: row for row in table.to_pylist()}


def test_purchase_summary_merges_days_and_splits_calibration_from_holdout(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    import_orders(p, tmp_path, LOG)
    summary = purchase_summary(
        p.store, calibration_end=dt.date(2026, 2, 28), observation_end=dt.date(2026, 3, 31)
    )
    assert by_user(p, summary) == {
        # repeat days 01-20 and 02-10; 36 and 54 days after 01-05; (30 + 20) / 2
        "ann": {
            "frequency": 2,
            "recency": 36,
            "T": 54,
            "monetary": 25,
            "frequency_holdout": 1,
            "duration_holdout": 31,
        },
        "bob": {
            "frequency": 0,
            "recency": 0,
            "T": 27,
            "monetary": 0,
            "frequency_holdout": 0,
            "duration_holdout": 31,
        },
        "eve": {
            "frequency": 1,
            "recency": 1,
            "T": 49,
            "monetary": 12,
            "frequency_holdout": 0,
            "duration_holdout": 31,
        },
    }
    only_ann = "SELECT customer_id FROM identity_map WHERE value = 'ann'"
    weeks = purchase_summary(
        p.store, calibration_end=dt.date(2026, 2, 28), unit="weeks", customers=only_ann
    )
    assert by_user(p, weeks) == {
        "ann": {"frequency": 2, "recency": 36 / 7, "T": 54 / 7, "monetary": 25}
    }


def test_lifetime_value_says_when_nobody_had_bought_yet(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    import_orders(p, tmp_path, LOG)  # the first purchase is on 2026-01-05, the last event 03-15
    with pytest.raises(parcours.ParcoursError, match=r"by 2026-01-04.*runs to 2026-03-15"):
        p.scores.lifetime_value(as_of=dt.date(2026, 1, 4))
    with pytest.raises(parcours.ParcoursError, match="No event named 'Order'"):
        p.scores.lifetime_value(purchase_event="Order")


def simulated_orders(customers: int, seed: int) -> list[tuple[str, ...]]:
    """Orders drawn from the BG/NBD story (rate gamma(1, 20 days), drop-out beta(1, 4)),
    customers arriving over January and February 2026, the log ending 2026-04-30."""
    random = np.random.default_rng(seed)
    start, end = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), 120.0
    rows: list[tuple[str, ...]] = []
    for i in range(customers):
        rate, drop = random.gamma(1.0, 1 / 20), random.beta(1.0, 4.0)
        day = float(random.uniform(0, 59))
        while day < end:
            at = (start + dt.timedelta(days=day)).isoformat()
            rows.append((f"u{i}", at, "Order Completed", f"{random.gamma(4, 10):.2f}"))
            if random.random() < drop:
                break
            day += random.exponential(1 / rate)
    return rows


def test_lifetime_value_scores_touched_customers_with_the_kept_model(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    # 150 customers who buy as the BG/NBD model says (seeded), so that both models can be
    # fitted; then one of them buys again and only they are rescored.
    rows = simulated_orders(150, seed=3)
    import_orders(p, tmp_path, rows)
    first = p.scores.lifetime_value(as_of=dt.date(2026, 4, 30))
    assert first.model["refitted"] and first.scored == 150
    kept = latest_model(p.store.engine, "clv")
    assert kept is not None

    import_orders(p, tmp_path, [("u3", "2026-04-29T12:00:00Z", "Order Completed", "80")])
    u3 = f"SELECT customer_id FROM identity_map WHERE value = {'u3'!r}"
    others_before = {
        c: scores_of(p.store.engine, c) for c in (customer(p, "u1"), customer(p, "u7"))
    }
    again = p.scores.lifetime_value(as_of=dt.date(2026, 4, 30), customers=u3)
    assert not again.model["refitted"] and again.scored == 1
    assert latest_model(p.store.engine, "clv") == kept  # no refit, no new model kept
    assert again.model["version"] == kept["version"]

    # u3's new scores: the kept model on u3's summary as it is now (recomputed here by hand
    # from the rows: purchase days, first, last, and the new order).
    days = sorted({r[1][:10] for r in rows if r[0] == "u3"} | {"2026-04-29"})
    first_day, last_day = (dt.date.fromisoformat(d) for d in (days[0], days[-1]))
    x = len(days) - 1
    t_x, age = (last_day - first_day).days, (dt.date(2026, 4, 30) - first_day).days
    model = BetaGeo(**kept["parameters"]["bg_nbd"])
    mine = scores_of(p.store.engine, customer(p, "u3"))
    alive = float(model.probability_alive([x], [t_x], [age])[0])
    assert mine["p_alive"]["value"] == pytest.approx(alive, abs=1e-6)
    assert mine["churn_risk"]["value"] == pytest.approx(1 - alive, abs=1e-6)
    expected = float(model.expected_purchases(365, [x], [t_x], [age])[0])
    assert mine["expected_purchases"]["value"] == pytest.approx(expected, abs=1e-6)
    assert mine["clv"]["details"]["frequency"] == x
    assert mine["clv"]["version"] == kept["version"]
    for c, before in others_before.items():  # the others are left as they were
        assert scores_of(p.store.engine, c) == before


def test_expected_purchases_when_drop_out_barely_varies() -> None:
    # With a and b large, p is about a / (a + b) for everyone. From the model (FHL 2005 §3 and
    # appendix): an alive customer with posterior rate gamma(r + x, α + T) who drops out with
    # a fixed p buys (1 - ((α + T) / (α + T + p t))^(r + x)) / p in the next t.
    r, alpha, share = 0.72, 21.7, 0.1
    x, t_x, age = np.array([0.0, 1, 3, 11]), np.array([0.0, 30, 60, 100]), np.full(4, 110.0)

    def model(size: float) -> BetaGeo:
        return BetaGeo(r=r, alpha=alpha, a=share * size, b=(1 - share) * size)

    fixed = model(1e9)
    limit = (
        fixed.probability_alive(x, t_x, age)
        * (1 - ((alpha + age) / (alpha + age + share * 365)) ** (r + x))
        / share
    )
    np.testing.assert_allclose(fixed.expected_purchases(365, x, t_x, age), limit, rtol=1e-6)
    # Either side of where the integral takes over from 2F1, the answer moves continuously.
    below, above = (model(s).expected_purchases(365, x, t_x, age) for s in (999.0, 1001.0))
    np.testing.assert_allclose(below, above, rtol=1e-4)


def test_spend_falls_back_to_each_customers_own_when_gamma_gamma_has_no_mean() -> None:
    """Customers' mean spends with a tail so heavy (Pareto, shape 0.6: no finite mean) that
    the Gamma-Gamma fit has q ≤ 1, an infinite population mean: each customer's expected spend
    is then their own mean repeat spend, and the mean of those for one-time buyers (computed
    here from the arrays)."""
    from parcours.segments.clv import EmpiricalSpend, GammaGamma, spend_model

    rng = np.random.default_rng(3)
    repeat_spend = 10 * (1 + rng.pareto(0.6, 400))
    frequency = np.concatenate([rng.integers(1, 6, 400).astype(float), np.zeros(50)])
    spend = np.concatenate([repeat_spend, np.zeros(50)])
    fitted = GammaGamma().fit(frequency, spend)
    assert fitted.q <= 1
    chosen = spend_model(frequency, spend, fitted)
    assert isinstance(chosen, EmpiricalSpend) and "q =" in chosen.because
    expected = chosen.expected_average_spend(frequency, spend)
    assert np.allclose(expected[:400], repeat_spend)
    assert np.allclose(expected[400:], repeat_spend.mean())
