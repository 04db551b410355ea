"""Attribution: which channels earn the conversions, by every usual model, side by side.

A customer's events are cut into paths: each conversion closes a path of the touchpoints since
the previous conversion (within the lookback window, 30 days by default), the conversion event
included (where it happened is a touch too); what follows the last conversion is a path that
did not convert. Consecutive touches of the same touchpoint count once (web, web, app → web,
app): a first-order Markov chain is unchanged by that, and the heuristic models count touches,
not page views.

Models, each giving every conversion's credit to touchpoints:

* first touch, last touch, linear (equal shares of the path's touches), position-based (40 %
  first, 40 % last, 20 % shared by the middle), time decay (a touch's weight halves every
  `half_life`, 7 days by default, before the conversion);
* Markov removal effect (Anderl et al. 2016), **solved exactly**: the paths give a first-order
  absorbing chain START → touchpoints → CONVERSION | NULL; P(conversion from START) comes from
  one linear system, and again with each touchpoint removed (its inflow sent to NULL); the
  removal effect is the relative drop, and the conversions are shared in proportion to the
  removal effects. ChannelAttribution estimates the same quantity by Monte-Carlo simulation;
* Shapley values in Zhao, Mahboobi & Bagheri's simplified form (2018, arXiv:1804.05327): with
  v(S) the conversions of journeys whose touchpoints are a subset of S, each touchpoint's
  Shapley value is the sum over converting journeys of their conversions split equally among
  their distinct touchpoints.

Each model's credit, its share, and a budget split in proportion to the credit.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from parcours.engine import Engine
from parcours.journeys.scope import Scope, Touchpoint, parse_duration, touchpoint_sql
from parcours.journeys.visits import ORDER
from parcours.sql import lit
from parcours.store.store import Store

MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "position_based",
    "time_decay",
    "markov",
    "shapley",
)
LOOKBACK, HALF_LIFE = "30d", "7d"


def touches_query(
    scope: Scope,
    conversion: str,
    *,
    touchpoint: Touchpoint | str = "channel",
    lookback: str | float = LOOKBACK,
) -> str:
    """Every touch of every path: customer, path number, converted, position, touchpoint, and
    the seconds from the touch to the path's end (its conversion, or its last event)."""
    seconds = parse_duration(lookback)
    is_conversion = f"coalesce(name = {lit(conversion)}, false)"
    return f"""
        WITH e AS (
            SELECT customer_id, occurred_at, source, event_id, {touchpoint_sql(touchpoint)} AS tp,
                   {is_conversion} AS converts,
                   CASE WHEN {is_conversion} THEN coalesce(amount, 0) END AS value,
                   coalesce(sum({is_conversion}::INTEGER) OVER (
                       PARTITION BY customer_id ORDER BY {ORDER}
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS path
            FROM ({scope.events()})
        ),
        ends AS (
            SELECT customer_id, path, bool_or(converts) AS converted, max(occurred_at) AS ended_at,
                   sum(value) AS value
            FROM e GROUP BY ALL
        ),
        kept AS (
            SELECT e.customer_id, e.path, e.occurred_at, e.source, e.event_id, e.tp,
                   x.converted, x.value, epoch(x.ended_at) - epoch(e.occurred_at) AS before_end
            FROM e JOIN ends x USING (customer_id, path)
            WHERE e.occurred_at >= x.ended_at - to_seconds({seconds!r})
        ),
        collapsed AS (
            SELECT * FROM (
                SELECT *, lag(tp) OVER (PARTITION BY customer_id, path ORDER BY {ORDER}) AS previous
                FROM kept)
            WHERE previous IS DISTINCT FROM tp
        )
        SELECT customer_id, path, converted, value, tp, before_end,
               row_number() OVER (PARTITION BY customer_id, path ORDER BY {ORDER}) AS position,
               count(*) OVER (PARTITION BY customer_id, path) AS touches
        FROM collapsed
    """


def paths_query(touches: str) -> str:
    """The distinct paths with their conversions, non-conversions and conversion value."""
    return f"""
        SELECT touchpoints, count(*) FILTER (WHERE converted) AS conversions,
               count(*) FILTER (WHERE NOT converted) AS nulls,
               coalesce(sum(value), 0)::DOUBLE AS value
        FROM (SELECT customer_id, path, any_value(converted) AS converted,
                     any_value(value) AS value, list(tp ORDER BY position) AS touchpoints
              FROM ({touches}) GROUP BY customer_id, path)
        GROUP BY touchpoints
    """


def time_decay_query(touches: str, half_life: float) -> str:
    """Per touchpoint, time-decay credit: a touch's weight halves every `half_life` seconds
    before its path's conversion; each conversion's weights add up to one."""
    return f"""
        SELECT tp AS touchpoint, sum(decay / path_decay) AS time_decay FROM (
            SELECT tp, pow(0.5, before_end / {half_life!r}) AS decay,
                   sum(pow(0.5, before_end / {half_life!r}))
                       OVER (PARTITION BY customer_id, path) AS path_decay
            FROM ({touches}) WHERE converted)
        GROUP BY tp
    """


def path_credit_query(paths: str) -> str:
    """Per touchpoint, from distinct paths (touchpoints, conversions): first, last, linear,
    position-based (40/20/40) and Shapley (Zhao's simplified form) credit."""
    return f"""
        WITH converting AS (SELECT * FROM ({paths}) WHERE conversions > 0),
        touches AS (
            SELECT conversions, len(touchpoints) AS n, unnest(touchpoints) AS touchpoint,
                   generate_subscripts(touchpoints, 1) AS i
            FROM converting
        ),
        heuristic AS (
            SELECT touchpoint,
                   coalesce(sum(conversions) FILTER (WHERE i = 1), 0)::DOUBLE AS first_touch,
                   coalesce(sum(conversions) FILTER (WHERE i = n), 0)::DOUBLE AS last_touch,
                   sum(conversions / n) AS linear,
                   sum(conversions * CASE WHEN n = 1 THEN 1.0 WHEN n = 2 THEN 0.5
                                          WHEN i = 1 OR i = n THEN 0.4
                                          ELSE 0.2 / (n - 2) END) AS position_based
            FROM touches GROUP BY touchpoint
        ),
        shapley AS (  -- the distinct touchpoints first, then unnested: 3x faster than both at once
            SELECT touchpoint, sum(share) AS shapley
            FROM (SELECT conversions / len(d) AS share, unnest(d) AS touchpoint
                  FROM (SELECT conversions, list_distinct(touchpoints) AS d FROM converting))
            GROUP BY touchpoint
        )
        SELECT * FROM heuristic FULL JOIN shapley USING (touchpoint)
    """


def transitions_query(paths: str) -> str:
    """The chain's transition counts: from a touchpoint (NULL: the start) to the next one, or
    to the end (`ends` 'conversion' or 'null'); states are never confused with a touchpoint's
    name."""
    return f"""
        WITH p AS (SELECT * FROM ({paths}) WHERE len(touchpoints) > 0)
        SELECT source, target, ends, sum(weight)::DOUBLE AS weight FROM (
            SELECT weight, touchpoints[i - 1] AS source, touchpoints[i] AS target,
                   NULL AS ends
            FROM (SELECT conversions + nulls AS weight, touchpoints,
                         generate_subscripts(touchpoints, 1) AS i FROM p)
            UNION ALL
            SELECT conversions, touchpoints[-1], NULL, 'conversion' FROM p WHERE conversions > 0
            UNION ALL
            SELECT nulls, touchpoints[-1], NULL, 'null' FROM p WHERE nulls > 0
        ) GROUP BY ALL
    """


@dataclass
class Markov:
    """The absorbing chain's answer: P(conversion) and each touchpoint's removal effect."""

    conversion_probability: float
    removal_effects: dict[str, float]


def markov_removal_effects(transitions: list[dict[str, Any]]) -> Markov:
    """Exact first-order removal effects from the transition counts: one linear solve for
    P(conversion from the start), one more per touchpoint removed (its inflow sent to NULL)."""
    names = sorted({t[k] for t in transitions for k in ("source", "target")} - {None})
    index = {name: i + 1 for i, name in enumerate(names)}  # state 0 is the start
    states = len(index) + 1
    flows, to_conversion, out = np.zeros((states, states)), np.zeros(states), np.zeros(states)
    for t in transitions:
        a = index.get(t["source"], 0)
        out[a] += t["weight"]
        if t["ends"] == "conversion":
            to_conversion[a] += t["weight"]
        elif t["ends"] is None:
            flows[a, index[t["target"]]] += t["weight"]
    out[out == 0] = 1.0  # a state nothing leaves is never reached
    q, r = flows / out[:, None], to_conversion / out

    def converting(removed: int | None) -> float:
        # x = Q x + r over the states kept; the removed state converts with probability 0.
        keep = [s for s in range(states) if s != removed]
        x = np.linalg.solve(np.eye(len(keep)) - q[np.ix_(keep, keep)], r[keep])
        return float(x[0])

    base = converting(None)
    effects = {n: (base - converting(index[n])) / base if base > 0 else 0.0 for n in names}
    return Markov(base, effects)


@dataclass
class Attribution:
    """`journeys attribution` as data; `to_dict()` is the stable JSON."""

    conversion: str
    touchpoint: str
    conversions: int
    paths: int
    conversion_probability: float
    budget: float
    by_touchpoint: list[dict[str, Any]] = field(default_factory=list)
    """Per touchpoint: each model's credit, share and budget, and the removal effect."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def attribution(
    store: Store,
    conversion: str = "Order Completed",
    scope: Scope | None = None,
    *,
    touchpoint: Touchpoint | str = "channel",
    lookback: str | float = LOOKBACK,
    half_life: str | float = HALF_LIFE,
    budget: float = 100.0,
) -> Attribution:
    """Credit per touchpoint by every model; see the module's docstring."""
    touches = touches_query(scope or Scope(), conversion, touchpoint=touchpoint, lookback=lookback)
    engine = store.engine
    decay = engine.query(time_decay_query(touches, parse_duration(half_life))).to_pylist()
    result = attribute(store.engine, engine.query(paths_query(touches)), budget=budget)
    for row in result.by_touchpoint:
        row["time_decay"] = next(
            (d["time_decay"] for d in decay if d["touchpoint"] == row["touchpoint"]), 0.0
        )
    _shares(result.by_touchpoint, budget)
    result.conversion, result.touchpoint = conversion, str(touchpoint)
    return result


def attribute(engine: Engine, paths: pa.Table, *, budget: float = 100.0) -> Attribution:
    """Every model but time decay (which needs the touches' times) from paths: `touchpoints`
    (a list), `conversions`, `nulls` — parcours's own, or any others (a ChannelAttribution
    data set, a test's toy case), one row per path or per journey. A path without touchpoints
    has no one to credit: its conversions count in the total, not in any model's credit."""
    name = f"_paths_{uuid.uuid4().hex}"
    with engine.registered(name, paths):
        # A touch without a name (a NULL in a path from elsewhere) is no touchpoint.
        given = (
            f"SELECT * REPLACE (list_filter(touchpoints, lambda t: t IS NOT NULL) AS touchpoints) "
            f"FROM {name}"
        )
        credit = engine.query(path_credit_query(given)).to_pylist()
        transitions = engine.query(transitions_query(given)).to_pylist()
        totals = engine.query(
            f"SELECT coalesce(sum(conversions), 0)::BIGINT AS conversions, "
            f"coalesce(sum(conversions) FILTER (WHERE len(touchpoints) > 0), 0)::BIGINT "
            f"AS credited, coalesce(sum(conversions + nulls), 0)::BIGINT AS paths "
            f"FROM ({given})"
        ).to_pylist()[0]
    markov = markov_removal_effects(transitions)
    effects = sum(markov.removal_effects.values())
    rows = {c["touchpoint"]: {**c} for c in credit}
    for touch, effect in markov.removal_effects.items():
        row = rows.setdefault(touch, {"touchpoint": touch})
        row["removal_effect"] = round(effect, 6)
        row["markov"] = totals["credited"] * effect / effects if effects else 0.0
    ordered = sorted(rows.values(), key=lambda r: (-(r.get("markov") or 0.0), r["touchpoint"]))
    _shares(ordered, budget)
    return Attribution(
        "",
        "",
        totals["conversions"],
        totals["paths"],
        round(markov.conversion_probability, 6),
        budget,
        ordered,
    )


def _shares(rows: list[dict[str, Any]], budget: float) -> None:
    """Each model's credit, its share of the total and the budget in proportion, per row."""
    for model in MODELS:
        total = sum(float(row.get(model) or 0.0) for row in rows)
        for row in rows:
            credit = float(row.get(model) or 0.0)
            row[model] = round(credit, 6)
            row[f"{model}_share"] = round(credit / total, 6) if total else 0.0
            row[f"{model}_budget"] = round(budget * credit / total, 2) if total else 0.0
