"""Lifetime value of non-contractual customers, from the purchases in the store: the BG/NBD and
Gamma-Gamma models (`segments.clv`) fitted on each customer's purchase summary
(`segments.purchases`, in days, up to `as_of`), and four scores written per customer:

- `p_alive`: the probability that the customer is still buying (BG/NBD);
- `churn_risk`: 1 - p_alive;
- `expected_purchases`: purchases expected in the next `horizon_days`;
- `clv`: the discounted value of those purchases, each valued at the customer's expected
  average spend (Gamma-Gamma), the horizon cut into months (365.25 / 12 days) and each month's
  purchases discounted from its end at the yearly rate: divided by (1 + rate)^(days / 365.25).

Each score's details hold the customer's frequency, recency, T (days) and mean repeat spend.
The fitted parameters are kept (`score_models`, score `clv`): a recompute for some customers
(`customers=`) scores them with the kept model, without a refit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa

from parcours.errors import NotFoundError, QueryError
from parcours.journeys.contacts import PURCHASE
from parcours.segments.purchases import purchase_summary
from parcours.segments.scored import EVENTS, latest_model, save_model, write_scores
from parcours.sql import lit
from parcours.store.store import Store

if TYPE_CHECKING:  # the models import scipy: only when a fit or a scoring runs
    from parcours.segments.clv import BetaGeo, Spend

MODEL = "clv"
"""The name the fitted models are kept under in `score_models`."""
SCORES = ("p_alive", "churn_risk", "expected_purchases", "clv")
MONTH_DAYS = 365.25 / 12
SCORED = "_clv_scored"


@dataclass(frozen=True)
class LifetimeValue:
    """What `lifetime_value` fitted and wrote; `to_dict()` is the stable JSON."""

    as_of: str
    """The day the purchases were read up to (included), ISO."""
    purchase_event: str
    horizon_days: float
    discount_rate_yearly: float
    model: dict[str, Any]
    """version, fitted_at, refitted (False: the kept model scored), and per model its
    parameters, log-likelihood and the customers it was fitted on."""
    scored: int
    """Customers given scores by this run."""
    customers: int
    """Customers holding a `clv` score now."""
    distribution: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per score, over the customers holding it: mean, p10, median, p90 (and total)."""
    top: list[dict[str, Any]] = field(default_factory=list)
    """The customers of highest CLV, with their scores and purchase summary."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lifetime_value(
    store: Store,
    *,
    as_of: dt.date | None = None,
    horizon_days: float = 365,
    discount_rate_yearly: float = 0.10,
    purchase_event: str = PURCHASE,
    customers: str | None = None,
    events: str = EVENTS,
    top: int = 10,
) -> LifetimeValue:
    """Fit BG/NBD and Gamma-Gamma on every buyer's purchases up to `as_of` (default: the last
    day of the data) and write `p_alive`, `churn_risk`, `expected_purchases` and `clv` for each.
    With `customers` (SQL selecting `customer_id`), only those customers are scored, with the
    kept model (fitted once on everyone if none was kept yet), their purchases read from
    `events`. CLV is over `horizon_days`,
    discounted at `discount_rate_yearly` (see the module's docstring)."""
    if top < 0:
        raise QueryError(f"Cannot show the top {top} customers", "give --top 0 or more")
    if horizon_days <= 0 or not 0 <= discount_rate_yearly < 10:
        raise QueryError(
            f"Cannot value {horizon_days} days at a yearly discount rate of {discount_rate_yearly}",
            "give a horizon of at least one day and a rate such as 0.1 (10 % a year)",
        )
    last_day = _data_end(store, purchase_event)  # which also checks there are purchases
    as_of = as_of or last_day
    kept = latest_model(store.engine, MODEL) if customers is not None else None
    if kept is None:
        kept = _fit(store, as_of, purchase_event, last_day)
    else:  # scored as the last full run valued everyone: its purchase event, horizon, rate
        purchase_event = (kept["evaluation"] or {}).get("purchase_event", purchase_event)
        horizon_days, discount_rate_yearly = _valuation(store) or (
            horizon_days,
            discount_rate_yearly,
        )
    from parcours.segments.clv import models_from

    purchases, spend = models_from(kept["parameters"])
    summary = purchase_summary(
        store,
        calibration_end=as_of,
        purchase_event=purchase_event,
        customers=customers,
        events=events,
    )
    table = _scores_table(summary, purchases, spend, horizon_days, discount_rate_yearly)
    if kept.get("refitted"):  # kept only once it has given usable scores
        save_model(store.engine, MODEL, kept["version"], kept["parameters"], kept["evaluation"])
        kept = {**kept, **(latest_model(store.engine, MODEL) or {})}
    details = _details(horizon_days, discount_rate_yearly)
    with store.engine.registered(SCORED, table):
        write_scores(
            store.engine,
            SCORES,
            " UNION ALL ".join(
                f"SELECT {lit(score)} AS score, customer_id, {score} AS value, NULL AS label, "
                f"{details} AS details FROM {SCORED}"
                for score in SCORES
            ),
            version=kept["version"],
            customers_sql=customers,
        )
    return _result(
        store,
        kept,
        as_of,
        purchase_event,
        horizon_days,
        discount_rate_yearly,
        scored=table.num_rows,
        top=top,
    )


def current_lifetime_value(store: Store, *, top: int = 10) -> LifetimeValue:
    """The kept model and the `clv` scores as they stand (no fit, no write): what the last
    `lifetime_value` left."""
    kept = latest_model(store.engine, MODEL)
    if kept is None:
        raise NotFoundError(
            "No lifetime value has been computed in this store yet",
            "run `parcours scores clv` (or p.scores.lifetime_value()) first",
        )
    horizon, rate = _valuation(store) or (0, 0)
    evaluation = kept["evaluation"] or {}
    return _result(
        store,
        {**kept, "refitted": False},
        dt.date.fromisoformat(evaluation["as_of"]),
        evaluation["purchase_event"],
        horizon,
        rate,
        scored=0,
        top=top,
    )


def _valuation(store: Store) -> tuple[float, float] | None:
    """The horizon and discount rate the `clv` scores were valued with (None: no score)."""
    found = store.engine.query(
        "SELECT details->>'horizon_days' AS h, details->>'discount_rate_yearly' AS d "
        "FROM customer_scores WHERE score = 'clv' LIMIT 1"
    ).to_pylist()
    return (float(found[0]["h"]), float(found[0]["d"])) if found else None


def _data_end(store: Store, purchase_event: str) -> dt.date:
    """The last day of the data (any event), once the store is known to hold purchases."""
    found = store.engine.query(
        f"SELECT count(*) FILTER (WHERE name = {lit(purchase_event)}) AS purchases, "
        "CAST(max(occurred_at) AS DATE) AS last_day FROM customer_events"
    ).to_pylist()[0]
    if not found["purchases"]:
        names = store.engine.query(
            "SELECT name FROM customer_events WHERE name IS NOT NULL GROUP BY name "
            "ORDER BY count(*) DESC LIMIT 8"
        ).column("name")
        raise NotFoundError(
            f"No event named {purchase_event!r} in the store: no purchases to model",
            "name the purchase event (--purchase-event); the most frequent events are: "
            + (", ".join(repr(n) for n in names.to_pylist()) or "none (import events first)"),
        )
    last: dt.date = found["last_day"]
    return last


def _fit(store: Store, as_of: dt.date, purchase_event: str, last_day: dt.date) -> dict[str, Any]:
    """Both models fitted on every buyer up to `as_of`, as `latest_model` will give them once
    kept (the caller keeps them when they have scored)."""
    from parcours.segments.clv import BetaGeo, GammaGamma, model_parameters, spend_model

    summary = purchase_summary(store, calibration_end=as_of, purchase_event=purchase_event)
    if summary.num_rows == 0:
        raise NotFoundError(
            f"No customer made a purchase ({purchase_event!r}) by {as_of}",
            f"give a later day to --as-of: the data runs to {last_day}",
        )
    x, t_x, age, money = (
        summary.column(c).to_numpy() for c in ("frequency", "recency", "T", "monetary")
    )
    purchases = BetaGeo().fit(x, t_x, age)
    fitted = GammaGamma().fit(x, money)
    spend = spend_model(x, money, fitted)
    parameters = {**model_parameters(purchases, spend, fitted), "unit": "days"}
    digest = hashlib.sha1(orjson.dumps(parameters, option=orjson.OPT_SORT_KEYS)).hexdigest()
    version = f"bg-nbd+gamma-gamma@{as_of.isoformat()}#{digest[:8]}"
    evaluation = {
        "as_of": as_of.isoformat(),
        "purchase_event": purchase_event,
        "bg_nbd": {"log_likelihood": purchases.log_likelihood_, "customers": purchases.customers_},
        "gamma_gamma": {
            "log_likelihood": fitted.log_likelihood_,
            "customers": fitted.customers_,
            "spend_frequency_correlation": fitted.spend_frequency_correlation_,
        },
    }
    return {
        "version": version,
        "parameters": parameters,
        "evaluation": evaluation,
        "fitted_at": None,
        "refitted": True,
    }


def _scores_table(
    summary: pa.Table,
    purchases: BetaGeo,
    spend: Spend,
    horizon_days: float,
    discount_rate_yearly: float,
) -> pa.Table:
    """customer_id, the four scores (rounded: a change of score is a change worth recording)
    and what their details show, one row per customer of the summary."""
    history = np.column_stack(
        [
            summary.column(c).to_numpy().astype(np.float64)
            for c in ("frequency", "recency", "T", "monetary")
        ]
    ).reshape(-1, 4)
    # Customers of the same history get the same scores: each distinct one is computed once.
    distinct, inverse = np.unique(history, axis=0, return_inverse=True)
    x, t_x, age, money = distinct.T
    alive = purchases.probability_alive(x, t_x, age)
    expected = purchases.expected_purchases(horizon_days, x, t_x, age)
    average = spend.expected_average_spend(x, money)
    value = spend.customer_lifetime_value(
        purchases,
        x,
        t_x,
        age,
        money,
        horizon=horizon_days,
        period=MONTH_DAYS,
        discount_rate=(1 + discount_rate_yearly) ** (1 / 12) - 1,
    )
    if not all(np.isfinite(v).all() for v in (alive, expected, value)):
        from parcours.segments.clv import ModelFitError

        raise ModelFitError(
            f"The fitted models give no usable values (BG/NBD {purchases.params}, spend "
            f"{spend.params})",
            "fit on more customers or a longer period of purchases (--as-of later), or check "
            "that purchases carry their amount",
        )
    each = inverse.reshape(-1)
    return pa.table(
        {
            "customer_id": summary.column("customer_id"),
            "p_alive": np.round(alive, 6)[each],
            "churn_risk": np.round(1 - alive, 6)[each],
            "expected_purchases": np.round(expected, 6)[each],
            "clv": np.round(value, 2)[each],
            "frequency": x.astype(np.int64)[each],
            "recency": t_x[each],
            "T": age[each],
            "mean_spend": np.round(money, 4)[each],
            "expected_spend": np.round(average, 4)[each],
        }
    )


def _details(horizon_days: float, discount_rate_yearly: float) -> str:
    """SQL, over the scores table, for each customer's details JSON."""
    return (
        "json_object('frequency', frequency, 'recency', recency, 'T', \"T\", "
        "'mean_spend', mean_spend, 'expected_spend', expected_spend, "
        f"'horizon_days', {float(horizon_days)}, "
        f"'discount_rate_yearly', {float(discount_rate_yearly)})"
    )


def _result(
    store: Store,
    kept: dict[str, Any],
    as_of: dt.date,
    purchase_event: str,
    horizon_days: float,
    discount_rate_yearly: float,
    *,
    scored: int,
    top: int,
) -> LifetimeValue:
    parameters, evaluation = kept["parameters"], kept["evaluation"] or {}
    model = {
        "version": kept["version"],
        "fitted_at": str(kept["fitted_at"]),
        "fitted_on": evaluation.get("as_of"),
        "refitted": bool(kept.get("refitted", False)),
        "unit": parameters.get("unit", "days"),
        **{
            name: {**parameters[name], **evaluation.get(name, {})}
            for name in ("bg_nbd", "gamma_gamma")
        },
    }
    if "empirical_spend" in parameters:  # Gamma-Gamma refused: the customers' own spend
        model["empirical_spend"] = parameters["empirical_spend"]
    engine = store.engine
    stats = engine.query(
        "SELECT score, count(*) AS customers, avg(value) AS mean, "
        "quantile_cont(value, 0.1) AS p10, median(value) AS median, "
        "quantile_cont(value, 0.9) AS p90, sum(value) AS total FROM customer_scores "
        f"WHERE score IN ({', '.join(lit(s) for s in SCORES)}) GROUP BY score"
    ).to_pylist()
    empty = {"customers": 0, "mean": None, "p10": None, "median": None, "p90": None, "total": None}
    held = {row.pop("score"): row for row in stats}
    distribution = {score: held.get(score, empty) for score in SCORES}
    # The top customers by CLV first, then their other scores: not a pivot of every buyer.
    best = engine.query(
        f"WITH top AS (SELECT customer_id, value FROM customer_scores WHERE score = 'clv' "
        f"ORDER BY value DESC NULLS LAST, customer_id LIMIT {int(top)}) "
        "SELECT customer_id, "
        + ", ".join(f"max(s.value) FILTER (WHERE score = {lit(s)}) AS {s}" for s in SCORES)
        + ", any_value(details) FILTER (WHERE score = 'clv') AS details "
        f"FROM customer_scores s SEMI JOIN top USING (customer_id) "
        f"WHERE score IN ({', '.join(lit(s) for s in SCORES)}) "
        f"GROUP BY customer_id ORDER BY clv DESC NULLS LAST, customer_id"
    ).to_pylist()
    rows = []
    for row in best:
        details = orjson.loads(row.pop("details") or "{}")
        rows.append(
            {
                **row,
                **{k: details.get(k) for k in ("frequency", "recency", "T", "mean_spend")},
            }
        )
    return LifetimeValue(
        as_of=as_of.isoformat(),
        purchase_event=purchase_event,
        horizon_days=horizon_days,
        discount_rate_yearly=discount_rate_yearly,
        model=model,
        scored=scored,
        customers=int(distribution["clv"]["customers"]),
        distribution=distribution,
        top=rows,
    )
