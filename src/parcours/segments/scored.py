"""Customer scores, whichever model computes them: the current value of each score per customer
(`customer_scores`) and every change (`customer_score_changes`).

Every scorer of this station (tiers, RFM, personas, health, churn risk, CLV, milestones) writes
through `write_scores`, so that segments, the customer view and the console read one table, and
a tier move or a health trend is a query over the changes. A scorer hands a query answering
`customer_id, value, label, details` (details as JSON text, or NULL), for every customer
(a full recompute) or for the customers a query names (incremental).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from parcours.engine import Engine
from parcours.sql import lit

NEW, OLD = "_scored_new", "_scored_old"
EVENTS = "customer_events"
"""Where a scorer reads the customers' events unless told otherwise: a refresh for a few
customers hands every scorer one copy of their events instead (`recompute.refresh_touched`)."""


@dataclass(frozen=True)
class ScoreWrite:
    """What one `write_scores` did."""

    score: str
    scored: int
    """Customers given a value."""
    changed: int
    """Customers whose value or label changed (first values included)."""
    removed: int
    """Customers in scope who held the score and no longer do."""


def write_scores(
    engine: Engine,
    score: str | tuple[str, ...],
    rows_sql: str,
    *,
    version: str,
    customers_sql: str | None = None,
    params: list[Any] | None = None,
) -> ScoreWrite:
    """Replace `score` for every customer (or, with `customers_sql`, a query selecting
    `customer_id`, for those only) by `rows_sql`'s answer, in one transaction, recording each
    change. Several scores of one model (a tuple of names) are written in one pass, `rows_sql`
    then answering a `score` column too. `params` bind the `?` of `rows_sql` (only)."""
    names = (score,) if isinstance(score, str) else score
    which = f"score IN ({', '.join(lit(name) for name in names)})"
    named = "score" if isinstance(score, tuple) else f"{lit(score)} AS score"
    in_scope = "" if customers_sql is None else f" AND customer_id IN ({customers_sql})"
    with engine.transaction():
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {NEW} AS SELECT {named}, customer_id, "
            f"CAST(value AS DOUBLE) AS value, CAST(label AS VARCHAR) AS label, "
            f"CAST(details AS JSON) AS details FROM ({rows_sql})",
            params,
        )
        # The values before, read once: the changes are then two small joins.
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {OLD} AS SELECT score, customer_id, value, label "
            f"FROM customer_scores WHERE {which}{in_scope}"
        )
        changed = engine.write(
            f"INSERT INTO customer_score_changes SELECT n.customer_id, n.score, n.value, "
            f"n.label, {lit(version)}, now(), o.value, o.label FROM {NEW} n "
            f"LEFT JOIN {OLD} o USING (score, customer_id) "
            f"WHERE o.customer_id IS NULL OR o.value IS DISTINCT FROM n.value "
            f"OR o.label IS DISTINCT FROM n.label"
        )
        removed = engine.write(
            f"INSERT INTO customer_score_changes SELECT o.customer_id, o.score, NULL, "
            f"NULL, {lit(version)}, now(), o.value, o.label FROM {OLD} o "
            f"ANTI JOIN {NEW} n USING (score, customer_id)"
        )
        engine.execute(f"DELETE FROM customer_scores WHERE {which}{in_scope}")
        scored = engine.write(
            f"INSERT INTO customer_scores SELECT customer_id, score, value, label, "
            f"details, {lit(version)}, now() FROM {NEW}"
        )
        engine.execute(f"DROP TABLE {NEW}")
        engine.execute(f"DROP TABLE {OLD}")
    return ScoreWrite(", ".join(names), scored, changed, removed)


def scores_of(engine: Engine, customer_id: str) -> dict[str, dict[str, Any]]:
    """A customer's current scores: {score: {value, label, details, version, computed_at}}."""
    rows = engine.query(
        "SELECT score, value, label, details, version, computed_at FROM customer_scores "
        "WHERE customer_id = ? ORDER BY score",
        [customer_id],
    ).to_pylist()
    return {
        row.pop("score"): {
            **row,
            "details": orjson.loads(row["details"]) if row["details"] else None,
        }
        for row in rows
    }


def save_model(
    engine: Engine,
    score: str,
    version: str,
    parameters: dict[str, Any],
    evaluation: dict[str, Any] | None = None,
) -> None:
    """Keep a fitted model (its parameters as JSON: never a pickle) for scoring without a refit."""
    engine.execute(
        "INSERT INTO score_models VALUES (?, ?, now(), ?, ?)",
        [
            score,
            version,
            orjson.dumps(parameters).decode(),
            None if evaluation is None else orjson.dumps(evaluation).decode(),
        ],
    )


def latest_model(engine: Engine, score: str) -> dict[str, Any] | None:
    """The last model fitted for `score`: {version, fitted_at, parameters, evaluation}."""
    rows = engine.query(
        "SELECT version, fitted_at, parameters, evaluation FROM score_models WHERE score = ? "
        "ORDER BY fitted_at DESC LIMIT 1",
        [score],
    ).to_pylist()
    if not rows:
        return None
    row: dict[str, Any] = rows[0]
    row["parameters"] = orjson.loads(row["parameters"])
    row["evaluation"] = orjson.loads(row["evaluation"]) if row["evaluation"] else None
    return row


def write_history(
    engine: Engine,
    score: str,
    rows_sql: str,
    *,
    version: str,
    customers_sql: str | None = None,
) -> int:
    """Replace the history of `score` (every customer's, or those `customers_sql` selects) by
    dated rows: `rows_sql` answers customer_id, value, label, changed_at, previous_value,
    previous_label. For a score whose changes have dates of their own (a tier move takes
    effect at a review), not the date it was computed; one transaction; returns the rows."""
    in_scope = "" if customers_sql is None else f" AND customer_id IN ({customers_sql})"
    with engine.transaction():
        engine.execute(f"DELETE FROM customer_score_changes WHERE score = {lit(score)}{in_scope}")
        return engine.write(
            f"INSERT INTO customer_score_changes SELECT customer_id, {lit(score)}, "
            f"CAST(value AS DOUBLE), CAST(label AS VARCHAR), {lit(version)}, changed_at, "
            f"CAST(previous_value AS DOUBLE), CAST(previous_label AS VARCHAR) FROM ({rows_sql})"
        )
