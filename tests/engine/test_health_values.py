"""Health scores on small hand-made logs and hand-made signals: every expected value is
hand-computed from the fixture (the comment beside it shows the sum), or scikit-learn's own
prediction where the JSON model must reproduce it."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

import parcours
from parcours.engine.duckdb import DuckDBEngine
from parcours.errors import BadRequest
from parcours.segments.features import (
    SIGNAL_NAMES,
    Features,
    churn_labels_query,
    read_features,
)
from parcours.segments.health_details import (
    health_rows_sql,
    health_table,
    rules_rows_sql,
    rules_table,
)
from parcours.segments.health_model import MODEL_SIGNALS, HealthModel, design
from parcours.segments.health_rules import Scorecard, load_scorecard, score_rules
from parcours.segments.scored import latest_model, scores_of, write_scores

MAPPING = """
name: h
event: {field: event}
channel: {field: channel}
occurred_at: {field: at}
user_id: user
intent: intent
outcome: outcome
amount: amount
text: text
"""
UTC = dt.UTC


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


Row = tuple[str, dt.datetime, str, str, str, str, str, str]


def ev(user: str, when: dt.datetime, channel: str, name: str, **more: str) -> Row:
    return (
        user,
        when,
        channel,
        name,
        more.get("intent", ""),
        more.get("outcome", ""),
        more.get("amount", ""),
        more.get("text", ""),
    )


def import_rows(p: parcours.Parcours, tmp_path: Path, rows: list[Row], source: str) -> None:
    (tmp_path / "h.yaml").write_text(MAPPING)
    data = tmp_path / f"{source}.csv"
    with data.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["user", "at", "channel", "event", "intent", "outcome", "amount", "text"])
        for user, when, *rest in rows:
            out.writerow([user, when.isoformat(), *rest])
    summary = p.import_file(data, source=source, mapping=tmp_path / "h.yaml")
    assert not summary.quarantined, summary.quarantined


ALICE = [
    ev("alice", at(2, 10), "web", "Product Viewed"),  # the 60 days before: 1 visit
    ev("alice", at(3, 10), "call", "Call", intent="billing", outcome="unresolved"),
    ev("alice", at(3, 12), "social", "Social Post", intent="billing", text="C'est honteux"),
    ev("alice", at(3, 14), "chat", "Conversation", intent="billing", outcome="unresolved"),
    ev("alice", at(3, 1), "email", "Email Sent"),
    ev("alice", at(3, 15), "email", "Email Sent"),
    ev("alice", at(3, 15, 12), "email", "Email Opened"),
    ev("alice", at(3, 15, 13), "email", "Email Clicked"),
    ev("alice", at(3, 25), "web", "Product Viewed"),  # visit 1 of the last 30 days
    ev("alice", at(3, 25, 10, 10), "web", "Product Viewed"),  # same visit (10 min later)
    ev("alice", at(3, 28), "web", "Product Viewed"),  # visit 2
    ev("alice", at(3, 28, 10, 5), "web", "Order Completed", amount="120.5"),
    ev("alice", at(4, 5), "web", "Product Viewed"),  # after as_of: never read
]
BOB = [ev("bob", at(1, 5), "web", "Product Viewed"), ev("bob", at(3, 20), "email", "Email Sent")]
AS_OF = dt.datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def small(tmp_path: Path) -> parcours.Parcours:
    p = parcours.connect(tmp_path / "h.duckdb")
    import_rows(p, tmp_path, ALICE + BOB, "h")
    return p


def test_signals_as_of_a_date_count_only_what_came_before(small: parcours.Parcours) -> None:
    f = read_features(small.store.engine, AS_OF)
    assert sorted(f.ids) == sorted([_id(small, "alice"), _id(small, "bob")])
    row = {name: f.values[name][f.ids.index(_id(small, "alice"))] for name in SIGNAL_NAMES}
    # A contact is a visit (journeys/visits.py): the call, the chat, the post, then 25 March
    # (two views 10 min apart: one visit) and 28 March; 5 April is after as_of.
    assert row["visits_30d"] == 5
    assert row["visits_prior_60d"] == 1  # 10 February
    assert row["visit_trend"] == 4.5  # 5 − 1 / 2
    assert row["days_since_activity"] == 3  # 28 March 10:05 → 1 April: 3.6 days
    assert row["tenure_days"] == 49  # 10 February 10:00 → 1 April: 49.6 days
    assert row["purchases_90d"] == 1 and row["spend_90d"] == 120.5
    assert row["days_since_purchase"] == 3
    assert row["contacts_90d"] == 3  # call, chat, post on billing within 7 days of each other
    assert row["repeat_contacts_90d"] == 2  # the post and the chat
    assert row["unresolved_cases_90d"] == 1  # one case, its last contact unresolved
    assert row["negative_posts_90d"] == 1  # a repeat in public, with a negative word: once
    assert row["messages_90d"] == 2 and row["opens_90d"] == 1 and row["clicks_90d"] == 1
    assert row["engagement_rate_90d"] == 1.0  # 2 engaged events / 2 messages
    assert np.isnan(row["satisfaction"])
    bob = {name: f.values[name][f.ids.index(_id(small, "bob"))] for name in SIGNAL_NAMES}
    assert bob["visits_30d"] == 0 and bob["visits_prior_60d"] == 1
    assert bob["visit_trend"] == -0.5  # 0 − 1 / 2
    assert bob["days_since_activity"] == 85  # 5 January 10:00 → 1 April; the email is not his
    assert np.isnan(bob["days_since_purchase"])  # never bought


def _id(p: parcours.Parcours, user: str) -> str:
    return str(
        p.sql(
            f"SELECT customer_id FROM identity_map WHERE type = 'user_id' AND value = '{user}'"
        ).to_pylist()[0]["customer_id"]
    )


def test_active_within_and_churn_labels(small: parcours.Parcours) -> None:
    engine = small.store.engine
    recent = read_features(engine, AS_OF, active_within=30)
    assert recent.ids == [_id(small, "alice")]  # bob's last activity is 85 days before
    labels = engine.query(
        churn_labels_query(dt.datetime(2026, 3, 1, tzinfo=UTC), 30, active_within=90)
    ).to_pylist()
    # On 1 March both were active in the 90 days before; alice comes back in March, bob not.
    assert {r["customer_id"]: r["churned"] for r in labels} == {
        _id(small, "alice"): False,
        _id(small, "bob"): True,
    }


SCORECARD = """
bands: {green: 70, amber: 40}
groups:
  usage:
    weight: 2
    measures:
      visits_30d: {at_least: [[1, 50], [3, 100]]}
      days_since_activity: {at_most: [[7, 100], [30, 50]]}
  support:
    weight: 1
    measures:
      unresolved_cases_90d: {at_most: [[0, 100]]}
      satisfaction: {at_least: [[4, 100]], otherwise: 20}
"""


def hand_features(**columns: list[float]) -> Features:
    n = len(next(iter(columns.values())))
    values = {name: np.full(n, np.nan) for name in SIGNAL_NAMES}
    values.update({k: np.array(v, dtype=float) for k, v in columns.items()})
    return Features(AS_OF, [f"c{i}" for i in range(n)], values)


def rules_details(p: parcours.Parcours, card: Scorecard, f: Features) -> list[dict[str, Any]]:
    """The `health_rules` details the store would write for `f` (against what it holds)."""
    scored = score_rules(card, f)
    engine = p.store.engine
    with engine.registered("_rules", rules_table(scored, f)):
        rows = engine.query(rules_rows_sql(scored, "_rules")).to_pylist()
    by_id = {r["customer_id"]: orjson.loads(r["details"]) for r in rows}
    return [by_id[i] for i in f.ids]


def test_rules_scorecard_points_groups_weights_and_bands(tmp_path: Path) -> None:
    (tmp_path / "card.yaml").write_text(SCORECARD)
    card = load_scorecard(tmp_path / "card.yaml")
    f = hand_features(
        visits_30d=[3, 1, 0],
        days_since_activity=[10, 40, 5],
        unresolved_cases_90d=[0, 2, 0],
        satisfaction=[math.nan, 3, 4.5],
    )
    scored = score_rules(card, f)
    # c0: usage (100 + 50) / 2 = 75; support 100 (no satisfaction: not judged) → (2·75 + 100) / 3
    # c1: usage (50 + 0) / 2 = 25; support (0 + 20) / 2 = 10 → (2·25 + 10) / 3
    # c2: usage (0 + 100) / 2 = 50; support (100 + 100) / 2 = 100 → (2·50 + 100) / 3
    assert scored.score.tolist() == [83.3, 20.0, 66.7]
    assert scored.band == ["green", "red", "amber"]
    with parcours.connect(tmp_path / "r.duckdb") as p:
        details = rules_details(p, card, f)
    assert details[1]["groups"] == {"usage": 25.0, "support": 10.0}
    assert details[1]["band"] == "red" and details[1]["previous"] is None
    assert {
        m["measure"]: (m["value"], m["points"], m["group"]) for m in details[1]["measures"]
    } == {
        "visits_30d": (1, 50, "usage"),
        "days_since_activity": (40, 0, "usage"),
        "unresolved_cases_90d": (2, 0, "support"),
        "satisfaction": (3, 20, "support"),
    }
    assert [m["measure"] for m in details[0]["measures"]] == [
        "visits_30d",
        "days_since_activity",
        "unresolved_cases_90d",
    ]


def test_what_changed_names_the_measures_whose_points_moved(tmp_path: Path) -> None:
    card = Scorecard.model_validate(
        {
            "groups": {
                "usage": {
                    "weight": 1,
                    "measures": {"visits_30d": {"at_least": [[1, 50], [3, 100]]}},
                },
                "engagement": {"weight": 1, "measures": {"clicks_90d": {"at_least": [[1, 100]]}}},
            }
        }
    )
    with parcours.connect(tmp_path / "m.duckdb") as p:
        first = hand_features(visits_30d=[3.0], clicks_90d=[1.0])
        assert rules_details(p, card, first)[0]["moved"] == []  # no score before: nothing moved
        scored = score_rules(card, first)
        engine = p.store.engine
        with engine.registered("_rules", rules_table(scored, first)):
            write_scores(engine, "health_rules", rules_rows_sql(scored, "_rules"), version="t")
        # visits 3 → 1: 100 → 50 points; clicks 1 → 2: still 100 points (not a move)
        after = rules_details(p, card, hand_features(visits_30d=[1.0], clicks_90d=[2.0]))[0]
    assert after["previous"] == 100.0  # (100 + 100) / 2
    assert after["moved"] == [
        {"measure": "visits_30d", "group": "usage", "from": 100, "to": 50, "value": 1}
    ]


def test_the_shipped_scorecard_loads_and_a_bad_one_says_where(tmp_path: Path) -> None:
    shipped = load_scorecard()
    assert isinstance(shipped, Scorecard) and set(shipped.groups) >= {"usage", "support"}
    (tmp_path / "bad.yaml").write_text(
        "groups:\n  usage:\n    weight: 1\n    measures:\n      vists_30d: {at_least: [[1, 50]]}\n"
    )
    with pytest.raises(BadRequest) as caught:
        load_scorecard(tmp_path / "bad.yaml")
    assert "vists_30d" in caught.value.message and "bad.yaml" in caught.value.message
    (tmp_path / "both.yaml").write_text(
        "groups:\n  u:\n    weight: 1\n    measures:\n"
        "      visits_30d: {at_least: [[1, 50]], at_most: [[2, 10]]}\n"
    )
    with pytest.raises(BadRequest, match="exactly one of at_least or at_most"):
        load_scorecard(tmp_path / "both.yaml")


def test_explanations_are_the_points_each_signal_moves_in_plain_words() -> None:
    model = HealthModel.from_json(
        {
            "regularisation": 1.0,
            "signals": ["unresolved_cases_90d", "visits_30d"],
            "fill": [0.0, 0.0],
            "mean": [0.5, 1.0],
            "scale": [1.0, 1.0],
            "coef": [1.2, -0.8],
            "intercept": -1.0,
            "platt": [-1.0, 0.0],  # P(churn) = 1 / (1 + exp(−f)): the regression's own
        }
    )
    f = hand_features(unresolved_cases_90d=[3.0], visits_30d=[0.0])

    def sigmoid(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    unresolved = 1.2 * (math.log(4) - 0.5)  # log(1 + 3), standardised, times its weight
    visits = -0.8 * (math.log(1) - 1.0)
    decision = -1.0 + unresolved + visits
    assert model.churn_probability(f)[0] == pytest.approx(sigmoid(decision))
    points = model.contributions(f)
    expected = [
        100 * (sigmoid(decision - unresolved) - sigmoid(decision)),
        100 * (sigmoid(decision - visits) - sigmoid(decision)),
    ]
    assert points[0].tolist() == pytest.approx(expected)
    reasons = reasons_of(model, f)[0]
    assert [r["signal"] for r in reasons] == ["unresolved_cases_90d", "visits_30d"]
    assert reasons[0]["reason"] == f"3 unresolved cases in 90 days (−{-expected[0]:.0f})"
    assert reasons[1]["reason"] == f"0 visits in the last 30 days (−{-expected[1]:.0f})"


def reasons_of(model: HealthModel, f: Features) -> list[list[dict[str, Any]]]:
    """Each customer's reasons as the `health` rows' details give them."""
    with (
        DuckDBEngine(None) as engine,
        engine.registered("_h", health_table(model, load_scorecard(), f)),
    ):
        rows = engine.query(health_rows_sql("_h", 60)).to_pylist()
    return [orjson.loads(r["details"])["reasons"] for r in rows]


def hand_model(signals: list[str], coef: list[float]) -> HealthModel:
    """A model set by hand: inputs standardised as they are (mean 0, scale 1), no intercept,
    Platt (−1, 0): P(churn) = 1 / (1 + exp(−f)), f = Σ coef · input (clipped at ±4)."""
    k = len(signals)
    return HealthModel.from_json(
        {
            "regularisation": 1.0,
            "signals": signals,
            "fill": [0.0] * k,
            "mean": [0.0] * k,
            "scale": [1.0] * k,
            "coef": coef,
            "intercept": 0.0,
            "platt": [-1.0, 0.0],
        }
    )


def test_reasons_say_each_kind_of_value_in_plain_words() -> None:
    model = hand_model(["visit_trend", "engagement_rate_90d", "spend_90d"], [-2.0, -1.5, -1.0])
    f = hand_features(
        visit_trend=[-1.5, 2.0], engagement_rate_90d=[0.25, 0.5], spend_90d=[1234.5, 0.0]
    )
    first, second = (
        {r["reason"].rsplit(" (", 1)[0] for r in reasons} for reasons in reasons_of(model, f)
    )
    # features.SIGNALS' sentences as Python formats them: {value:+}, {value:.0%}, {:,.2f}
    assert first == {
        "visits −1.5 a month against the 60 days before",
        "engaged with 25% of messages",
        "1,234.50 spent in 90 days",
    }
    # spend 0: log(1 + 0) = 0 is the mean, it moves no point: no reason
    assert second == {
        "visits +2 a month against the 60 days before",
        "engaged with 50% of messages",
    }
    # Never bought: 365 days, log(366) = 5.9 clipped at 4; f = 4, against f = 0 at the mean
    lone = hand_model(["days_since_purchase"], [1.0])
    never = reasons_of(lone, hand_features(days_since_purchase=[math.nan]))[0]
    points = 100 * (1 / (1 + math.exp(0)) - 1 / (1 + math.exp(-4)))
    assert [r["reason"] for r in never] == [f"never bought (−{-points:.0f})"]
    assert never[0]["value"] is None and never[0]["points"] == round(points, 1)


def test_the_json_model_predicts_what_scikit_learn_predicts() -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    n = 300
    columns = {name: rng.poisson(2, n).astype(float) for name in MODEL_SIGNALS}
    columns["satisfaction"] = np.full(n, np.nan)  # absent everywhere: left out of the model
    f = Features(AS_OF, [str(i) for i in range(n)], columns)
    churned = rng.random(n) < 1 / (1 + np.exp(columns["unresolved_cases_90d"] - 2))
    model = HealthModel().fit(f, churned)
    assert "satisfaction" not in model.signals_
    again = HealthModel.from_json(model.to_json())
    x = design(f, model.signals_)
    peer = CalibratedClassifierCV(
        make_pipeline(
            StandardScaler(),
            LogisticRegression(C=model.regularisation, solver="newton-cholesky", max_iter=200),
        ),
        method="sigmoid",
        cv=5,
        ensemble=False,
    ).fit(x, churned)
    assert again.churn_probability(f) == pytest.approx(peer.predict_proba(x)[:, 1], abs=1e-9)


def test_too_few_churners_to_learn_is_refused_with_the_fix() -> None:
    f = hand_features(visits_30d=[1.0] * 30)
    with pytest.raises(BadRequest, match="Too few customers to learn health"):
        HealthModel().fit(f, np.array([True] * 3 + [False] * 27))


def population() -> list[Row]:
    """20 customers who visit every 10 days all half-year, and 20 who stop in March or April."""
    rows = []
    for i in range(20):
        rows += [
            ev(f"stay{i}", at(1, 1) + dt.timedelta(days=d + i % 5), "web", "Product Viewed")
            for d in range(0, 180, 10)
        ]
        stop = 68 + 2 * i  # 10 March to 17 April
        rows += [
            ev(f"gone{i}", at(1, 1) + dt.timedelta(days=d), "web", "Product Viewed")
            for d in range(0, stop, 10)
        ]
    return rows


def test_health_full_then_incremental_without_a_refit(tmp_path: Path) -> None:
    p = parcours.connect(tmp_path / "pop.duckdb")
    import_rows(p, tmp_path, population(), "pop")
    as_of = dt.datetime(2026, 7, 1, tzinfo=UTC)
    full = p.scores.health(as_of=as_of)
    assert full.customers == 40 and full.refitted
    model = latest_model(p.store.engine, "health")
    assert model is not None and model["version"] == full.model == "lr-2026-05-02-60d"
    # Trained on 2 May: all 40 active in the 90 days before; the 20 who stopped churned.
    assert model["evaluation"]["customers"] == 40 and model["evaluation"]["churned"] == 20
    health = {
        r["customer_id"]: r["value"]
        for r in p.sql(
            "SELECT customer_id, value FROM customer_scores WHERE score = 'health'"
        ).to_pylist()
    }
    stayers = [health[_id(p, f"stay{i}")] for i in range(20)]
    leavers = [health[_id(p, f"gone{i}")] for i in range(20)]
    assert min(stayers) > max(leavers)
    before = scores_of(p.store.engine, _id(p, "gone0"))
    assert before["health_rules"]["label"] == "red"

    stamps = p.sql("SELECT customer_id, score, computed_at FROM customer_scores").to_pylist()
    # An import rescores the customers it touched with the kept model (segments/recompute.py
    # refresh_touched: health incremental, as of the store's last activity, 29 June).
    import_rows(p, tmp_path, [ev("gone0", at(6, 29), "web", "Product Viewed")], "late")
    refreshed = scores_of(p.store.engine, _id(p, "gone0"))
    assert refreshed["health"]["version"] == full.model  # no refit
    rules = refreshed["health_rules"]["details"]
    assert rules["previous"] == before["health_rules"]["value"]
    # 1 visit in 30 days (0 before: 0 → 40 points), last seen that day (0 → 100 points)
    assert {m["measure"] for m in rules["moved"]} == {"visits_30d", "days_since_activity"}
    assert {(m["measure"], m["from"], m["to"]) for m in rules["moved"]} == {
        ("visits_30d", 0, 40),
        ("days_since_activity", 0, 100),
    }
    assert refreshed["health"]["value"] > before["health"]["value"]
    # Asked again as of 1 July, for that customer only: the kept model, the refresh's score
    # as the previous one, the other customers' rows untouched.
    touched = "SELECT customer_id FROM identity_map WHERE value = 'gone0'"
    again = p.scores.health(as_of=as_of, customers=touched)
    assert again.customers == 1 and not again.refitted and again.model == full.model
    after = scores_of(p.store.engine, _id(p, "gone0"))
    assert after["health_rules"]["details"]["previous"] == refreshed["health_rules"]["value"]
    assert after["health"]["value"] > before["health"]["value"]
    unchanged = p.sql("SELECT customer_id, score, computed_at FROM customer_scores").to_pylist()
    assert [r for r in unchanged if r["customer_id"] != _id(p, "gone0")] == [
        r for r in stamps if r["customer_id"] != _id(p, "gone0")
    ]
    view = p.scores.current_health(top=3, customer=_id(p, "gone0"))
    assert [h["score"] for h in view.history] == ["health", "health_rules"]  # one day, both
    assert view.model is not None and view.model["version"] == full.model
