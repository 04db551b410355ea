"""Tiers: each customer's level on a ladder (segments/ladder.py), its timeline and its moves.

Reviews are the instants of a grid (each midnight UTC, or each Monday midnight UTC). At a
review t the measure covers the purchases at e with t - window <= e < t (orders counted, or
amounts summed), as a rate per `per` if the ladder says so; the customer qualifies for the
highest level whose `min` the measure reaches. The tier at a review is the highest level
qualified for at any review in [t - grace, t]: upgrade at once, downgrade once `grace` has
passed since the last review the level was qualified at, to the best level qualified within
the grace period.

The timeline is computed engine-side without a row per customer and review: the measure
changes only when a purchase enters the window (the first review after it) or leaves it (the
first review after it + window), so the running sum over those change points gives every
qualifying run; per level, a run [start, end) holds the level on [start, end + grace), the
runs merged where they overlap; the tier is the number of levels held. The current tier is
written as the `tier` score (value: level index, 0 for the base; label: the level's name),
and the moves, with the review they took effect at, as the score's history
(`customer_score_changes`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from parcours.engine import Engine
from parcours.segments.ladder import DAY, Ladder, load_ladder
from parcours.segments.scored import EVENTS, save_model, write_history, write_scores
from parcours.sql import lit
from parcours.store.store import Store

US_PER_DAY = DAY * 1_000_000
ANCHOR_DAYS = {"day": 0, "week": 4}
"""Grid anchors in days since 1970-01-01: any midnight for days, a Monday (1970-01-05) for weeks."""
MOVES, MEASURES = "_tier_moves", "_tier_measures"


@dataclass(frozen=True)
class Grid:
    """The review grid: review k is at anchor_us + k * step_us (microseconds since 1970)."""

    anchor_us: int
    step_us: int
    last: int
    """The last review at or before the end of the as-of day."""

    @classmethod
    def of(cls, ladder: Ladder, as_of: dt.date) -> Grid:
        anchor = ANCHOR_DAYS[ladder.review] * US_PER_DAY
        step = ladder.review_days * US_PER_DAY
        end = (as_of + dt.timedelta(days=1) - dt.date(1970, 1, 1)).days * US_PER_DAY
        return cls(anchor, step, (end - anchor) // step)

    def review_after(self, us_sql: str) -> str:
        """SQL: the index of the first review strictly after the instant `us_sql` (epoch us)."""
        return f"(({us_sql}) - {self.anchor_us}) // {self.step_us} + 1"

    def instant(self, k_sql: str) -> str:
        return f"CAST(make_timestamp({self.anchor_us} + ({k_sql}) * {self.step_us}) AS TIMESTAMPTZ)"


def _qualified(ladder: Ladder, measure: str) -> str:
    """SQL: the level `measure` (over the window) qualifies for; compared as exact decimals."""
    cases = " ".join(
        f"WHEN {measure} * {ladder.per_days} >= "
        f"CAST('{level.min * ladder.window_days:.6f}' AS DECIMAL(38, 6)) THEN {index}"
        for index, level in reversed(list(enumerate(ladder.levels, start=1)))
    )
    return f"CASE {cases} ELSE 0 END"


def timeline_query(
    ladder: Ladder, grid: Grid, customers: str | None = None, events: str = EVENTS
) -> str:
    """Every tier move up to the grid's last review: customer_id, k (the review it took
    effect at), previous, tier."""
    amount = "1" if ladder.measure == "orders" else "coalesce(amount, 0)"
    scope = "" if customers is None else f" AND customer_id IN ({customers})"
    window_us = ladder.window_days * US_PER_DAY
    grace = ladder.grace_days // ladder.review_days
    last = grid.last
    return f"""
        WITH p AS (
            SELECT customer_id, epoch_us(occurred_at) AS us,
                   CAST({amount} AS DECIMAL(38, 4)) AS x
            FROM {events}
            WHERE name = {lit(ladder.purchase)}
              AND occurred_at < {grid.instant(str(last + 1))}{scope}
        ),
        deltas AS (
            SELECT customer_id, {grid.review_after("us")} AS k, x FROM p
            UNION ALL
            SELECT customer_id, {grid.review_after(f"us + {window_us}")} AS k, -x FROM p
        ),
        changes AS (
            SELECT customer_id, k, sum(x) AS x FROM deltas WHERE k <= {last} GROUP BY ALL
        ),
        running AS (
            SELECT customer_id, k, sum(x) OVER w AS measure,
                   coalesce(lead(k) OVER w, {last + 1}) AS next_k
            FROM changes WINDOW w AS (PARTITION BY customer_id ORDER BY k)
        ),
        segments AS (
            SELECT *, {_qualified(ladder, "measure")} AS level FROM running
        ),
        per_level AS (
            SELECT s.customer_id, l.level, s.k, s.next_k,
                   lag(s.next_k) OVER (PARTITION BY s.customer_id, l.level ORDER BY s.k) AS prev
            FROM segments s JOIN range(1, {len(ladder.levels) + 1}) AS l(level)
                 ON s.level >= l.level
        ),
        runs AS (
            SELECT *, sum(CASE WHEN k = prev THEN 0 ELSE 1 END)
                          OVER (PARTITION BY customer_id, level ORDER BY k) AS run
            FROM per_level
        ),
        held AS (
            SELECT customer_id, level, min(k) AS s, max(next_k) + {grace} AS e
            FROM runs GROUP BY customer_id, level, run
        ),
        overlapping AS (
            SELECT *, max(e) OVER (PARTITION BY customer_id, level ORDER BY s
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
            FROM held
        ),
        grouped AS (
            SELECT *, sum(CASE WHEN s <= reach THEN 0 ELSE 1 END)
                          OVER (PARTITION BY customer_id, level ORDER BY s) AS grp
            FROM overlapping
        ),
        intervals AS (
            SELECT customer_id, level, min(s) AS s, max(e) AS e FROM grouped
            GROUP BY customer_id, level, grp
        ),
        steps AS (
            SELECT customer_id, s AS k, 1 AS step FROM intervals
            UNION ALL
            SELECT customer_id, e AS k, -1 AS step FROM intervals WHERE e <= {last}
        ),
        net AS (
            SELECT customer_id, k, CAST(sum(step) AS INTEGER) AS step FROM steps
            GROUP BY ALL HAVING sum(step) <> 0
        ),
        moves AS (
            SELECT customer_id, k,
                   CAST(sum(step) OVER (PARTITION BY customer_id ORDER BY k) AS INTEGER) AS tier,
                   step
            FROM net
        )
        SELECT customer_id, k, tier - step AS previous, tier FROM moves
    """


def measures_query(
    ladder: Ladder, grid: Grid, customers: str | None = None, events: str = EVENTS
) -> str:
    """Each customer's measure at the last review (0 without a purchase in its window)."""
    amount = "1" if ladder.measure == "orders" else "coalesce(amount, 0)"
    scope = "" if customers is None else f" AND customer_id IN ({customers})"
    end, start = grid.instant(str(grid.last)), f"INTERVAL {ladder.window_days} DAY"
    return f"""
        SELECT customer_id, sum(CAST({amount} AS DECIMAL(38, 4))) AS measure
        FROM {events}
        WHERE name = {lit(ladder.purchase)} AND occurred_at < {end}
          AND occurred_at >= {end} - {start}{scope}
        GROUP BY customer_id
    """


def _label(ladder: Ladder, column: str) -> str:
    names = " ".join(f"WHEN {i} THEN {lit(ladder.label(i))}" for i in range(len(ladder.levels) + 1))
    return f"CASE {column} {names} END"


def _rate(ladder: Ladder, column: str) -> str:
    return f"round(CAST({column} AS DOUBLE) * {ladder.per_days} / {ladder.window_days}, 4)"


@dataclass(frozen=True)
class Tiers:
    """A ladder's tiers as of a date: the distribution now and the moves month by month."""

    ladder: str
    version: str
    as_of: str
    reviewed_at: str
    """The last review the tiers are as of (midnight UTC)."""
    customers: int
    distribution: list[dict[str, Any]]
    """level, tier (name), customers, share — every level, the base first."""
    moves: list[dict[str, Any]]
    """month (YYYY-MM), from_level, from_tier, to_level, to_tier, customers (moves)."""
    written: dict[str, Any] | None
    """What writing the scores did (none when only computed)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_event_date(engine: Engine) -> dt.date:
    """The UTC date of the last event: the default as-of date of the scores."""
    last = engine.scalar("SELECT max(occurred_at) FROM customer_events")
    return (last or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()


def tiers(
    store: Store,
    *,
    ladder: str | Path | Ladder = "orders",
    as_of: dt.date | None = None,
    customers: str | None = None,
    events: str = EVENTS,
    write: bool = True,
) -> Tiers:
    """Each customer's tier on `ladder` (a shipped ladder's name, a YAML file or a `Ladder`)
    as of the end of `as_of` (default: the day of the last event), with its history of moves;
    written as the `tier` score unless `write` is false. `customers` (SQL selecting
    customer_id) recomputes only those customers: a tier depends on the customer's own
    purchases only, so this equals a full recompute for them (the distribution and moves
    then count them only). `events` is where their events are read (by default the whole
    `customer_events`; a refresh passes its copy of the touched customers' events)."""
    engine, chosen = store.engine, load_ladder(ladder)
    as_of = as_of or last_event_date(engine)
    grid = Grid.of(chosen, as_of)
    scope = "" if customers is None else f" WHERE customer_id IN ({customers})"
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {MOVES} AS {timeline_query(chosen, grid, customers, events)}"
    )
    measures = measures_query(chosen, grid, customers, events)
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {MEASURES} AS {measures}")
    try:
        current = f"""
            SELECT c.customer_id, coalesce(t.tier, 0) AS tier, t.since
            FROM (SELECT DISTINCT customer_id FROM {events}{scope}) c
            LEFT JOIN (SELECT customer_id, arg_max(tier, k) AS tier,
                              {grid.instant("max(k)")} AS since
                       FROM {MOVES} GROUP BY customer_id) t USING (customer_id)
        """
        written = None
        if write:
            written = _write(engine, chosen, grid, current, customers)
        summary = _summary(engine, chosen, grid, current)
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {MOVES}")
        engine.execute(f"DROP TABLE IF EXISTS {MEASURES}")
    return Tiers(
        chosen.name,
        chosen.version,
        as_of.isoformat(),
        engine.scalar(f"SELECT strftime({grid.instant(str(grid.last))}, '%Y-%m-%dT%H:%M:%SZ')"),
        customers=summary[0],
        distribution=summary[1],
        moves=summary[2],
        written=written,
    )


def _write(
    engine: Engine, ladder: Ladder, grid: Grid, current: str, customers: str | None
) -> dict[str, Any]:
    details = (
        f"json_object('ladder', {lit(ladder.name)}, 'measure', {lit(ladder.measure)}, "
        f"'window_days', {ladder.window_days}, 'per_days', {ladder.per_days}, "
        f"'value', {_rate(ladder, 'coalesce(m.measure, 0)')}, "
        f"'since', strftime(c.since, '%Y-%m-%d'))"
    )
    rows = (
        f"SELECT c.customer_id, c.tier AS value, {_label(ladder, 'c.tier')} AS label, "
        f"{details} AS details FROM ({current}) c LEFT JOIN {MEASURES} m USING (customer_id)"
    )
    done = write_scores(engine, "tier", rows, version=ladder.version, customers_sql=customers)
    if customers is None:  # the ladder in use, for the refreshes of touched customers
        save_model(engine, "tier", ladder.version, ladder.model_dump(mode="json"))
    history = (
        f"SELECT customer_id, tier AS value, {_label(ladder, 'tier')} AS label, "
        f"{grid.instant('k')} AS changed_at, previous AS previous_value, "
        f"{_label(ladder, 'previous')} AS previous_label FROM {MOVES}"
    )
    moves = write_history(engine, "tier", history, version=ladder.version, customers_sql=customers)
    return {**asdict(done), "history": moves}


def _summary(
    engine: Engine, ladder: Ladder, grid: Grid, current: str
) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    rows = engine.query(f"SELECT tier, count(*) AS n FROM ({current}) GROUP BY tier").to_pylist()
    counts = {row["tier"]: row["n"] for row in rows}
    total = sum(counts.values())
    distribution = [
        {
            "level": level,
            "tier": ladder.label(level),
            "customers": counts.get(level, 0),
            "share": round(counts.get(level, 0) / total, 4) if total else 0.0,
        }
        for level in range(len(ladder.levels) + 1)
    ]
    moves = engine.query(
        f"SELECT strftime({grid.instant('k')}, '%Y-%m') AS month, previous AS from_level, "
        f"{_label(ladder, 'previous')} AS from_tier, tier AS to_level, "
        f"{_label(ladder, 'tier')} AS to_tier, count(*) AS customers FROM {MOVES} "
        "GROUP BY ALL ORDER BY month, from_level, to_level"
    ).to_pylist()
    return total, distribution, moves


@dataclass(frozen=True)
class TierMoves:
    """The tier moves written by the last `tiers` run, month by month (from the history)."""

    months: list[dict[str, Any]]
    """month (YYYY-MM), from_tier, to_tier, customers — upgrades and downgrades."""
    upgrades: int
    downgrades: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tier_moves(
    store: Store, *, since: dt.date | None = None, until: dt.date | None = None
) -> TierMoves:
    """Every tier move in the stored history (`customer_score_changes`, score `tier`), counted
    per month of the review it took effect at, from one tier to another; `since` and `until`
    (dates, until excluded) bound the months."""
    bounds = [
        f"computed_at >= CAST({lit(since.isoformat())} AS TIMESTAMPTZ)" if since else "",
        f"computed_at < CAST({lit(until.isoformat())} AS TIMESTAMPTZ)" if until else "",
    ]
    where = "".join(f" AND {b}" for b in bounds if b)
    months = store.engine.query(
        "SELECT strftime(computed_at, '%Y-%m') AS month, previous_label AS from_tier, "
        "label AS to_tier, count(*) AS customers, "
        "count(*) FILTER (WHERE value > previous_value) AS upgrades "
        f"FROM customer_score_changes WHERE score = 'tier' AND previous_value IS NOT NULL{where} "
        "GROUP BY ALL ORDER BY month, min(previous_value), min(value)"
    ).to_pylist()
    ups = sum(m.pop("upgrades") for m in months)
    return TierMoves(months, ups, sum(m["customers"] for m in months) - ups)
