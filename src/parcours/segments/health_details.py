"""The rows both health scores write, built column-wise: numpy computes the numbers, DuckDB
builds each customer's details JSON and its reasons in words (no Python loop per customer, so
that hundreds of thousands of customers are scored in seconds).

* `health_rules` details: the band, each group's score, every judged measure (value, points,
  group), the previous score and **what moved**: the measures whose points changed since the
  customer's last `health_rules` row (`measure`, `from`, `to`, `value`), read from the store in
  the same query.
* `health` details: the churn probability, the horizon and the top reasons — the signals whose
  value moves the most health points (health_model.py `contributions`), each in plain words from
  `features.SIGNALS` (`3 unresolved cases in 90 days (−18)`); a reason that rounds to 0 points
  is left out.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from parcours.segments.features import BY_NAME, Features
from parcours.sql import lit

if TYPE_CHECKING:
    from parcours.segments.health_model import HealthModel
    from parcours.segments.health_rules import RulesScores, Scorecard

Floats = npt.NDArray[np.float64]
TOP = 3
"""Reasons kept per customer."""
NO_SIGN = "−"
"""The minus sign shown in reasons (not a hyphen)."""


def _floats(values: Floats) -> pa.Array:
    """A float column, NaN as NULL."""
    floats = np.asarray(values, dtype=np.float64)
    return pa.array(floats, type=pa.float64(), mask=np.isnan(floats))


def bands(scorecard: Scorecard, values: Floats) -> list[str]:
    """Each value's colour band by the scorecard's thresholds."""
    b = scorecard.bands
    found = np.where(values >= b.green, "green", np.where(values >= b.amber, "amber", "red"))
    return [str(v) for v in found.tolist()]


def rules_table(scored: RulesScores, features: Features) -> pa.Table:
    """The rules score as columns: value, band, each group's score (`g<i>`) and each measure's
    value and points (`m<j>_value`, `m<j>_points`; NULL: not judged)."""
    columns: dict[str, pa.Array] = {
        "customer_id": pa.array(features.ids, pa.string()),
        "value": _floats(scored.score),
        "label": pa.array(scored.band, pa.string()),
    }
    for i, group in enumerate(scored.groups.values()):
        columns[f"g{i}"] = _floats(np.round(group, 1))
    for j, ((_, name), points) in enumerate(scored.points.items()):
        value = features.values[name]
        columns[f"m{j}_value"] = _floats(np.where(np.isnan(points), np.nan, np.round(value, 3)))
        columns[f"m{j}_points"] = _floats(points)
    return pa.table(columns)


def rules_rows_sql(scored: RulesScores, table: str) -> str:
    """SQL answering `customer_id, value, label, details` for `health_rules` from `table`
    (`rules_table`), with the previous score and the measures that moved since it."""
    groups = ", ".join(f"{{'k': {lit(g)}, 'v': g{i}}}" for i, g in enumerate(scored.groups))
    measures = ", ".join(
        f"{{'measure': {lit(name)}, 'group': {lit(group)}, "
        f"'value': m{j}_value, 'points': m{j}_points}}"
        for j, (group, name) in enumerate(scored.points)
    )
    return f"""
        WITH n AS (
            SELECT customer_id, value, label,
                   map_from_entries(list_filter([{groups}], lambda e: e.v IS NOT NULL))
                       AS groups,
                   list_filter([{measures}], lambda m: m.points IS NOT NULL) AS measures
            FROM {table}
        ),
        o AS (
            SELECT customer_id, value AS previous,
                   coalesce(json_extract_string(details, '$.measures[*].measure'), [])
                       AS names,
                   coalesce(json_extract(details, '$.measures[*].points')::DOUBLE[], [])
                       AS points
            FROM customer_scores
            WHERE score = 'health_rules' AND customer_id IN (SELECT customer_id FROM {table})
        )
        SELECT n.customer_id, n.value, n.label, to_json({{
            'band': n.label, 'groups': n.groups, 'measures': n.measures,
            'previous': o.previous,
            'moved': list_transform(
                list_filter(n.measures, lambda m: o.customer_id IS NOT NULL AND
                    o.points[list_position(o.names, m.measure)] IS DISTINCT FROM m.points),
                lambda m: {{
                    'measure': m.measure, 'group': m.group,
                    'from': o.points[list_position(o.names, m.measure)],
                    'to': m.points, 'value': m.value
                }})
        }}) AS details
        FROM n LEFT JOIN o USING (customer_id)
    """


def health_table(
    model: HealthModel, scorecard: Scorecard, features: Features, top: int = TOP
) -> pa.Table:
    """The learned score as columns: value (100 × P(no churn), one decimal), band, churn
    probability and the `top` reasons (`r<j>_signal`, `r<j>_value`, `r<j>_points`; NULL
    signal: no reason there)."""
    n = len(features)
    k = len(model.signals_)
    risk, points = model.explained(features) if n else (np.zeros(0), np.zeros((0, k)))
    value = np.round(100.0 * (1.0 - risk), 1)
    columns: dict[str, pa.Array] = {
        "customer_id": pa.array(features.ids, pa.string()),
        "value": _floats(value),
        "label": pa.array(bands(scorecard, value), pa.string()),
        "churn_probability": _floats(np.round(risk, 4)),
    }
    signals = np.array(model.signals_ or ("",), dtype=object)
    k = min(top, k)
    order = np.argsort(-np.abs(points), axis=1, kind="stable")[:, :k]
    rows = np.arange(n)
    for j in range(top):
        if j < k:
            index = order[:, j]
            moved = points[rows, index]
            kept = np.round(moved) != 0
            raw = np.full(n, np.nan)
            for s, name in enumerate(model.signals_):
                chosen = index == s
                raw[chosen] = features.values[name][chosen]
            names = np.where(kept, signals[index], np.array(None))
        else:
            moved, kept, raw, names = (
                np.zeros(n),
                np.zeros(n, bool),
                np.zeros(n),
                np.full(n, None, dtype=object),
            )
        columns[f"r{j}_signal"] = pa.array(list(names), pa.string())
        columns[f"r{j}_value"] = _floats(np.where(kept, raw, np.nan))
        columns[f"r{j}_points"] = _floats(np.where(kept, np.round(moved, 1), np.nan))
        columns[f"r{j}_exact"] = _floats(np.where(kept, moved, np.nan))
    return pa.table(columns)


def health_rows_sql(table: str, horizon_days: int, top: int = TOP) -> str:
    """SQL answering `customer_id, value, label, details` for `health` from `table`
    (`health_table`): the churn probability, the horizon and the reasons in words."""
    reasons = ", ".join(
        f"{{'signal': r{j}_signal, 'value': r{j}_value, 'points': r{j}_points, "
        f"'reason': replace({words_sql(f'r{j}_signal', f'r{j}_value')} || ' (' || "
        f"format('{{:+.0f}}', r{j}_exact) || ')', '-', {lit(NO_SIGN)})}}"
        for j in range(top)
    )
    return f"""
        SELECT customer_id, value, label, to_json({{
            'churn_probability': churn_probability, 'horizon_days': {int(horizon_days)},
            'reasons': list_filter([{reasons}], lambda r: r.signal IS NOT NULL)
        }}) AS details
        FROM {table}
    """


PLAIN = ("engagement_rate_90d", "satisfaction", "spend_90d")
"""Signals whose value is shown as a decimal even when whole."""
_SLOT = re.compile(r"\{value(?::([^}]*))?\}")


def words_sql(column: str, value: str) -> str:
    """SQL: the signal (a column holding its name) and its value in plain words, from each
    signal's sentence in `features.SIGNALS` ("{value} visits in the last 30 days"):
    `{value}` as the number (whole numbers without decimals), `{value:+}` signed, `{value:.0%}`
    as a percentage, `{value:.1f}` with one decimal; spend with two decimals and thousands
    separators; no value: "never bought" (the last purchase) or "no <signal>"."""
    cases = []
    for name, signal in BY_NAME.items():
        if name == "spend_90d":
            text = f"format('{{:,.2f}}', {value}) || ' spent in 90 days'"
        else:
            parts, last = [], 0
            for slot in _SLOT.finditer(signal.words):
                parts += [lit(signal.words[last : slot.start()]), _number(name, value, slot[1])]
                last = slot.end()
            parts.append(lit(signal.words[last:]))
            text = " || ".join(p for p in parts if p != "''")
        missing = "never bought" if name == "days_since_purchase" else f"no {name}"
        cases.append(
            f"WHEN {lit(name)} THEN CASE WHEN {value} IS NULL "
            f"THEN {lit(missing.replace('_', ' '))} ELSE {text} END"
        )
    return f"(CASE {column} {' '.join(cases)} END)"


def _number(name: str, value: str, spec: str | None) -> str:
    if spec == ".0%":
        return f"format('{{:.0f}}%', {value} * 100)"
    if spec is not None and spec.startswith("."):
        return f"format('{{:{spec}}}', {value})"
    whole = (
        f"format('{{}}', {value})"
        if name in PLAIN
        else f"CASE WHEN {value} = trunc({value}) THEN format('{{}}', {value}::BIGINT) "
        f"ELSE format('{{}}', {value}) END"
    )
    if spec == "+":
        return f"(CASE WHEN {value} >= 0 THEN '+' ELSE '' END || {whole})"
    if spec:
        raise ValueError(f"signal {name}: unknown format {spec!r}")
    return whole
