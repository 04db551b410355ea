"""Attribution: which channels earn the conversions, by every usual model, side by side.

A customer's events are cut into paths: each conversion closes a path of the touchpoints since
the previous conversion (within the lookback window, 30 days by default), the conversion event
included (where it happened is a touch too); what follows the last conversion is a path that
did not convert. Consecutive touches of the same touchpoint count once (web, web, app → web,
app): a first-order Markov chain is unchanged by that, and the heuristic models count touches,
not page views.

Models, each giving every conversion's credit to touchpoints:

* first touch, last touch, linear (equal shares of the path's touches), position-based (40 %
  first, 40 % last, 20 % shared by the middle; 50/50 for two touches, all of it for one),
  time decay (a touch's weight halves every `half_life`, 7 days by default, before the
  conversion);
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

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from parcours.arrays import numpy_of
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
            SELECT customer_id, customer_key, occurred_at, event_key,
                   {touchpoint_sql(touchpoint)} AS tp,
                   {is_conversion} AS converts,
                   CASE WHEN {is_conversion} THEN coalesce(amount, 0) END AS value,
                   coalesce(sum({is_conversion}::INTEGER) OVER (
                       PARTITION BY customer_key ORDER BY {ORDER}
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS path
            FROM ({scope.events()})
        ),
        ends AS (
            SELECT customer_id, path, bool_or(converts) AS converted, max(occurred_at) AS ended_at,
                   sum(value) AS value
            FROM e GROUP BY ALL
        ),
        kept AS (
            SELECT e.customer_id, e.customer_key, e.path, e.occurred_at, e.event_key, e.tp,
                   x.converted, x.value, epoch(x.ended_at) - epoch(e.occurred_at) AS before_end
            FROM e JOIN ends x USING (customer_id, path)
            WHERE e.occurred_at >= x.ended_at - to_seconds({seconds!r})
        ),
        collapsed AS (
            SELECT * FROM (
                SELECT *,
                       lag(tp) OVER (PARTITION BY customer_key, path ORDER BY {ORDER}) AS previous
                FROM kept)
            WHERE previous IS DISTINCT FROM tp
        )
        SELECT customer_id, customer_key, path, converted, value, tp, before_end,
               row_number() OVER (PARTITION BY customer_key, path ORDER BY {ORDER}) AS position,
               count(*) OVER (PARTITION BY customer_key, path) AS touches
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
                       OVER (PARTITION BY customer_key, path) AS path_decay
            FROM ({touches}) WHERE converted)
        GROUP BY tp
    """


Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass
class _Touches:
    """The paths' touches as arrays: each touch's touchpoint code, path and place in it."""

    names: list[str]
    code: Ints
    path: Ints
    position: Ints
    length: Ints
    """Per path, its number of touches."""
    conversions: Floats
    nulls: Floats

    @classmethod
    def of(cls, paths: pa.Table) -> _Touches:
        import pyarrow.compute as pc  # here: its import is 40 ms that other analyses skip

        lists = paths["touchpoints"].combine_chunks()
        flat, parent = pc.list_flatten(lists), pc.list_parent_indices(lists)
        named = pc.is_valid(flat)  # a touch without a name (a NULL from elsewhere) is none
        flat, parent = flat.filter(named), parent.filter(named)
        encoded = pc.dictionary_encode(flat)
        path = np.asarray(numpy_of(parent), dtype=np.int64)
        count = len(paths)
        length = np.bincount(path, minlength=count).astype(np.int64)
        start = np.cumsum(length) - length
        return cls(
            encoded.dictionary.to_pylist(),
            np.asarray(numpy_of(encoded.indices), dtype=np.int64),
            path,
            np.arange(len(path), dtype=np.int64) - start[path],
            length,
            _numbers(paths["conversions"]),
            _numbers(paths["nulls"]),
        )

    def credit(self, weights: Floats) -> Floats:
        """Per touchpoint, the sum of `weights` (one per touch)."""
        return np.bincount(self.code, weights=weights, minlength=len(self.names)).astype(np.float64)


def _numbers(column: pa.ChunkedArray) -> Floats:
    return np.asarray(numpy_of(column, nulls=0), dtype=np.float64)


def path_credit(t: _Touches) -> dict[str, Floats]:
    """Per touchpoint: first, last, linear, position-based (40/20/40) and Shapley (Zhao's
    simplified form) credit of the conversions."""
    n = t.length[t.path]
    conv = t.conversions[t.path]
    first, last = t.position == 0, t.position == n - 1
    u_shape = np.where(
        n == 1, 1.0, np.where(n == 2, 0.5, np.where(first | last, 0.4, 0.2 / np.maximum(n - 2, 1)))
    )
    # Shapley: each path's conversions shared by its distinct touchpoints.
    keys = np.sort(t.path * len(t.names) + t.code)  # each (path, touchpoint) once:
    keys = (
        keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
    )  # (np.unique: 20x slower)
    path, code = keys // max(len(t.names), 1), keys % max(len(t.names), 1)
    distinct = np.bincount(path, minlength=len(t.length))
    shapley = np.bincount(
        code, weights=t.conversions[path] / distinct[path], minlength=len(t.names)
    )
    return {
        "first_touch": t.credit(np.where(first, conv, 0.0)),
        "last_touch": t.credit(np.where(last, conv, 0.0)),
        "linear": t.credit(conv / n),
        "position_based": t.credit(conv * u_shape),
        "shapley": shapley.astype(np.float64),
    }


@dataclass
class Markov:
    """The absorbing chain's answer: P(conversion) and each touchpoint's removal effect."""

    conversion_probability: float
    removal_effects: Floats


def markov_removal_effects(t: _Touches) -> Markov:
    """Exact first-order removal effects of the chain the paths make: state 0 is the start,
    state c + 1 the touchpoint c; one linear solve for P(conversion from the start), one more
    per touchpoint removed (its inflow sent to NULL)."""
    states = len(t.names) + 1
    weight = (t.conversions + t.nulls)[t.path]
    before = np.where(t.position == 0, 0, np.roll(t.code, 1) + 1)  # the state each touch leaves
    flows = np.bincount(
        before * states + t.code + 1, weights=weight, minlength=states * states
    ).reshape(states, states)
    last = t.position == t.length[t.path] - 1
    ends = t.code[last] + 1
    to_conversion = np.bincount(ends, weights=t.conversions[t.path[last]], minlength=states)
    to_null = np.bincount(ends, weights=t.nulls[t.path[last]], minlength=states)
    out = flows.sum(axis=1) + to_conversion + to_null
    out[out == 0] = 1.0  # a state nothing leaves is never reached
    q, r = flows / out[:, None], to_conversion / out

    def converting(removed: int | None) -> float:
        # x = Q x + r over the states kept; the removed state converts with probability 0.
        keep = [s for s in range(states) if s != removed]
        x = np.linalg.solve(np.eye(len(keep)) - q[np.ix_(keep, keep)], r[keep])
        return float(x[0])

    base = converting(None)
    effects = np.array(
        [(base - converting(c + 1)) / base if base > 0 else 0.0 for c in range(len(t.names))]
    )
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
    result = attribute(engine.query(paths_query(touches)), budget=budget)
    for row in result.by_touchpoint:
        row["time_decay"] = next(
            (d["time_decay"] for d in decay if d["touchpoint"] == row["touchpoint"]), 0.0
        )
    _shares(result.by_touchpoint, budget)
    result.conversion, result.touchpoint = conversion, str(touchpoint)
    return result


def attribute(paths: pa.Table, *, budget: float = 100.0) -> Attribution:
    """Every model but time decay (which needs the touches' times) from paths: `touchpoints`
    (a list), `conversions`, `nulls` — parcours's own, or any others (a ChannelAttribution
    data set, a test's toy case), one row per path or per journey. A path without touchpoints
    has no one to credit: its conversions count in the total, not in any model's credit."""
    touches = _Touches.of(paths)
    credit = path_credit(touches)
    markov = markov_removal_effects(touches)
    credited = float(touches.conversions[touches.length > 0].sum())
    effects = markov.removal_effects.sum()
    credit["markov"] = (
        credited * markov.removal_effects / effects if effects else markov.removal_effects * 0
    )
    rows: list[dict[str, Any]] = [
        {
            "touchpoint": name,
            "removal_effect": round(float(markov.removal_effects[c]), 6),
            **{model: float(values[c]) for model, values in credit.items()},
        }
        for c, name in enumerate(touches.names)
    ]
    ordered = sorted(rows, key=lambda r: (-r["markov"], r["touchpoint"]))
    _shares(ordered, budget)
    return Attribution(
        "",
        "",
        int(touches.conversions.sum()),
        int((touches.conversions + touches.nulls).sum()),
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
