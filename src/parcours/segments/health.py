"""Health scores, two ways, and the back-test that compares them (docs/segments.md, "Health").

* `health_rules`: the scorecard of health_rules.py (measure groups, weights, thresholds, bands),
  as customer-success tools make it; its details name each measure's value, points and group,
  and what moved since the customer's previous score.
* `health`: 100 × P(no churn within the horizon), from the learned model of health_model.py,
  fit on the latest period whose outcome is known: customers active in the 90 days before
  `as_of − horizon`, churned when they did nothing in the horizon after it. Its details give
  the top signals in plain words, each with the health points it moves.

`health_backtest` is out of time: fit on signals at `train_at` and outcomes in the horizon after
it, then score the customers of `test_at` (≥ `train_at` + horizon: no outcome of the training
period is seen after `test_at`) and compare with what happened in the horizon after `test_at` —
the learned model, the rules score and the days since the last activity alone, each turned into
a probability by a logistic fit on the same training period (Platt scaling), on the same
customers. Churn is observed in the store unless `outcomes` (SQL answering `customer_id,
churned`: a recorded truth) is given.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from parcours.errors import BadRequest
from parcours.segments.features import (
    Features,
    activity_end,
    churn_labels_query,
    read_features,
)
from parcours.segments.health_details import (
    health_rows_sql,
    health_table,
    rules_rows_sql,
    rules_table,
)
from parcours.segments.health_model import HealthModel, Metrics, evaluate, expit
from parcours.segments.health_rules import Scorecard, load_scorecard, score_rules
from parcours.segments.scored import EVENTS, latest_model, save_model, write_scores
from parcours.store.store import Store

HORIZON_DAYS = 60
"""Churn: no activity in this many days."""
ACTIVE_DAYS = 90
"""A customer can churn when active in this many days before the date."""
ROWS = "_health_rows"
TOUCHED = "_health_customers"


@dataclass(frozen=True)
class HealthScores:
    """What `health` wrote."""

    as_of: str
    customers: int
    """Customers scored."""
    bands: dict[str, int]
    """Customers per band of the rules score (green, amber, red)."""
    mean_health: float | None
    """Mean learned health (100 × P(no churn))."""
    model: str
    """The learned model's version."""
    refitted: bool
    changed_rules: int
    changed_health: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Backtest:
    """The out-of-time comparison of the learned model, the rules score and recency alone."""

    train_at: str
    test_at: str
    horizon_days: int
    outcomes: str
    """"observed" (in the store) or "given" (a recorded truth)."""
    train_customers: int
    train_churned: int
    test_customers: int
    test_churned: int
    learned: Metrics
    rules: Metrics
    recency: Metrics

    @property
    def headline(self) -> str:
        """One line: the three AUCs and the learned model's Brier score and lift."""
        return (
            f"Health back-test (trained {self.train_at}, tested {self.test_at} on "
            f"{self.test_customers:,} customers, {self.test_churned:,} churned within "
            f"{self.horizon_days} days, {self.outcomes}): AUC learned {self.learned.auc:.3f}, "
            f"rules {self.rules.auc:.3f}, recency {self.recency.auc:.3f}; learned Brier "
            f"{self.learned.brier:.3f}, top-decile lift {self.learned.top_decile_lift:.1f}×"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if not isinstance(v, Metrics)},
            "learned": self.learned.to_dict(),
            "rules": self.rules.to_dict(),
            "recency": self.recency.to_dict(),
            "headline": self.headline,
        }


def _instant(value: dt.datetime | dt.date | str | None, name: str) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    try:
        return _instant(dt.datetime.fromisoformat(value), name)
    except ValueError:
        raise BadRequest(
            f"{name} {value!r} is not a date", f"write {name} as YYYY-MM-DD, e.g. 2026-06-01"
        ) from None


def _end(store: Store) -> dt.datetime:
    end = activity_end(store.engine)
    if end is None:
        raise BadRequest(
            "The store holds no customer activity to score",
            "import events and run `parcours identity resolve` first",
        )
    return end


def _with_outcome(
    store: Store, features: Features, outcomes_sql: str
) -> tuple[Features, npt.NDArray[np.bool_]]:
    rows = store.engine.query(f"SELECT customer_id, churned FROM ({outcomes_sql})").to_pylist()
    known = {r["customer_id"]: bool(r["churned"]) for r in rows if r["churned"] is not None}
    keep = np.array([i in known for i in features.ids], dtype=bool)
    kept = Features(
        features.as_of,
        [i for i, k in zip(features.ids, keep, strict=True) if k],
        {name: values[keep] for name, values in features.values.items()},
    )
    return kept, np.array([known[i] for i in kept.ids], dtype=bool)


def _platt(score: npt.NDArray[np.float64], churned: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """A one-signal logistic fit (Platt scaling): P(churn) = expit(w · score + c)."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression().fit(score.reshape(-1, 1), churned)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def health_backtest(
    store: Store,
    *,
    train_at: dt.datetime | dt.date | str | None = None,
    test_at: dt.datetime | dt.date | str | None = None,
    horizon_days: int = HORIZON_DAYS,
    outcomes: str | None = None,
    rules: Path | str | None = None,
) -> Backtest:
    """Fit at `train_at`, score at `test_at`, compare learned, rules and recency on what
    happened in the `horizon_days` after `test_at` (default: the last dates whose outcomes the
    store holds, `test_at` = last activity − horizon, `train_at` = `test_at` − horizon).
    `outcomes`: SQL answering `customer_id, churned` to judge against instead of the store."""
    if horizon_days < 1:
        raise BadRequest(f"horizon_days {horizon_days} is not a duration", "give days ≥ 1")
    horizon = dt.timedelta(days=horizon_days)
    end = _end(store)
    midnight = dt.datetime.combine(end.date(), dt.time(), tzinfo=dt.UTC)
    test = _instant(test_at, "test_at") or midnight - horizon
    train = _instant(train_at, "train_at") or test - horizon
    if train + horizon > test:
        raise BadRequest(
            f"The test date {test:%Y-%m-%d} falls within the training horizon "
            f"({train:%Y-%m-%d} + {horizon_days} days): its outcomes would leak into training",
            f"test on {train + horizon:%Y-%m-%d} or later",
        )
    if outcomes is None and test + horizon > end:
        raise BadRequest(
            f"The outcomes of {test:%Y-%m-%d} are not known yet: the store ends {end:%Y-%m-%d}",
            f"test on {end - horizon:%Y-%m-%d} or earlier, or a shorter horizon",
        )
    engine = store.engine
    trained, y_train = _with_outcome(
        store,
        read_features(engine, train, active_within=ACTIVE_DAYS),
        churn_labels_query(train, horizon_days, active_within=ACTIVE_DAYS),
    )
    model = HealthModel().fit(trained, y_train)
    scorecard = load_scorecard(rules)
    rules_train = score_rules(scorecard, trained).score
    recency_train = np.log1p(trained.values["days_since_activity"])
    tested, y_test = _with_outcome(
        store,
        read_features(engine, test, active_within=ACTIVE_DAYS),
        outcomes or churn_labels_query(test, horizon_days, active_within=ACTIVE_DAYS),
    )
    if y_test.all() or not y_test.any():
        raise BadRequest(
            f"On {test:%Y-%m-%d} the {len(y_test)} customers all churned or all stayed: "
            "nothing to rank",
            "test on another date",
        )
    w, c = _platt(rules_train, y_train)
    rules_risk = expit(w * score_rules(scorecard, tested).score + c)
    w, c = _platt(recency_train, y_train)
    recency_risk = expit(w * np.log1p(tested.values["days_since_activity"]) + c)
    return Backtest(
        train_at=f"{train:%Y-%m-%d}",
        test_at=f"{test:%Y-%m-%d}",
        horizon_days=horizon_days,
        outcomes="observed" if outcomes is None else "given",
        train_customers=len(y_train),
        train_churned=int(y_train.sum()),
        test_customers=len(y_test),
        test_churned=int(y_test.sum()),
        learned=evaluate(y_test, model.churn_probability(tested)),
        rules=evaluate(y_test, rules_risk),
        recency=evaluate(y_test, recency_risk),
    )


def _write(
    store: Store, score: str, table: pa.Table, rows_sql: str, version: str, customers: str | None
) -> int:
    """Write `score` from `rows_sql`, which reads `table` registered as ROWS."""
    with store.engine.registered(ROWS, table):
        done = write_scores(store.engine, score, rows_sql, version=version, customers_sql=customers)
    return done.changed


def _learned(
    store: Store, at: dt.datetime, horizon_days: int, reuse: bool
) -> tuple[HealthModel, str, int, dict[str, Any] | None]:
    """The model to score with: the saved one (`reuse`, when there is one), else one fitted on
    the latest labelled period; its version, horizon, and the evaluation to save (None: kept)."""
    saved = latest_model(store.engine, "health") if reuse else None
    if saved is not None:
        horizon = int((saved["evaluation"] or {}).get("horizon_days", horizon_days))
        return HealthModel.from_json(saved["parameters"]), str(saved["version"]), horizon, None
    train = at - dt.timedelta(days=horizon_days)
    trained, churned = _with_outcome(
        store,
        read_features(store.engine, train, active_within=ACTIVE_DAYS),
        churn_labels_query(train, horizon_days, active_within=ACTIVE_DAYS),
    )
    model = HealthModel().fit(trained, churned)
    evaluation = {
        "trained_at": f"{train:%Y-%m-%d}",
        "horizon_days": horizon_days,
        "customers": len(churned),
        "churned": int(churned.sum()),
    }
    return model, f"lr-{train:%Y-%m-%d}-{horizon_days}d", horizon_days, evaluation


def health(
    store: Store,
    *,
    as_of: dt.datetime | dt.date | str | None = None,
    customers: str | None = None,
    events: str = EVENTS,
    horizon_days: int = HORIZON_DAYS,
    rules: Path | str | None = None,
    refit: bool = False,
) -> HealthScores:
    """Score every customer (or those `customers`, SQL selecting `customer_id`, selects) as of
    `as_of` (default: the last activity), their events read from `events`: `health_rules`
    and `health`, written to customer_scores. A full run refits the learned model on the
    latest labelled period (`as_of` − horizon) and saves it as JSON; an incremental run
    reuses the saved model (unless `refit`). Everything that can be refused (the scorecard,
    too little history) is checked before anything is written."""
    if horizon_days < 1:
        raise BadRequest(f"horizon_days {horizon_days} is not a duration", "give days ≥ 1")
    at = _instant(as_of, "as_of") or _end(store)
    kept = latest_model(store.engine, "health_rules") if customers and rules is None else None
    # Touched customers are scored on the scorecard the last full run used.
    scorecard = Scorecard.model_validate(kept["parameters"]) if kept else load_scorecard(rules)
    if customers is not None:
        # The customers' query once (the features and the writes read it several times).
        store.engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {TOUCHED} AS "
            f"SELECT DISTINCT customer_id FROM ({customers})"
        )
        customers = f"SELECT customer_id FROM {TOUCHED}"
    model, version, horizon, evaluation = _learned(
        store, at, horizon_days, reuse=customers is not None and not refit
    )
    features = read_features(store.engine, at, customers=customers, events=events)
    scored = score_rules(scorecard, features)
    rules = rules_table(scored, features)
    learned = health_table(model, scorecard, features)
    if evaluation is not None:
        save_model(store.engine, "health", version, model.to_json(), evaluation)
    changed_rules = _write(
        store, "health_rules", rules, rules_rows_sql(scored, ROWS), "scorecard", customers
    )
    changed_health = _write(
        store, "health", learned, health_rows_sql(ROWS, horizon), version, customers
    )
    if customers is None:  # the scorecard in use, for the refreshes of touched customers
        save_model(store.engine, "health_rules", "scorecard", scorecard.model_dump(mode="json"))
    values = learned.column("value").to_numpy()
    return HealthScores(
        as_of=at.isoformat(),
        customers=len(features),
        bands={b: scored.band.count(b) for b in ("green", "amber", "red")},
        mean_health=round(float(np.mean(values)), 1) if len(features) else None,
        model=version,
        refitted=evaluation is not None,
        changed_rules=changed_rules,
        changed_health=changed_health,
    )
