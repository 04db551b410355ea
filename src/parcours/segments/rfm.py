"""RFM: recency, frequency and monetary scores, the named cells, and the R x F grid.

As of the end of a day A, for each customer with at least one purchase before it:
recency is the number of days from the (UTC) date of the last purchase to A, frequency the
number of purchases, monetary their amounts summed. Each is scored 1 to `bins` (5: quintiles)
against boundaries taken from the customers' values: with the n values sorted ascending,
boundary j (1 <= j < bins) is the value at position ceil(j * n / bins). Frequency and monetary
score 1 + the number of boundaries the value is above; recency scores `bins` minus the number
of boundaries its days are above (recent is good). Ties score alike, so the rule needs no tie
break and SQL, pandas and a saved model agree exactly; with many equal values (one-time
buyers) some scores stay empty.

The named cells are a function of R and F (on the 1-5 scale): the R x F segment map common in
RFM practice (e.g. the regular-expression map of many published RFM notebooks: champions 5
[4-5], loyal customers [3-4][4-5], ... hibernating [1-2][1-2]), with its lowest corner R1 F1
named `lost`, the name the `rfm` R package (Rsquared Academy) gives to customers low on every
score. The table is `CELLS`, printed in docs/segments.md. The score is written as `rfm`: value
r*100 + f*10 + m, label the cell, details r, f, m and the raw values. The boundaries are saved
(`save_model("rfm", ...)`), so touched customers are scored against them without a refit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from parcours.engine import Engine
from parcours.errors import BadRequest
from parcours.journeys.contacts import PURCHASE
from parcours.segments.scored import EVENTS, latest_model, save_model, write_scores
from parcours.sql import lit
from parcours.store.store import Store

CELLS: tuple[tuple[str, tuple[int, ...], tuple[int, ...], str], ...] = (
    ("champions", (5,), (4, 5), "Bought recently, buy often and spend the most."),
    ("loyal customers", (3, 4), (4, 5), "Buy often; responsive to promotions."),
    ("potential loyalists", (4, 5), (2, 3), "Recent customers with more than one purchase."),
    ("new customers", (5,), (1,), "Bought most recently, but only once."),
    ("promising", (4,), (1,), "Recent shoppers, one purchase so far."),
    ("need attention", (3,), (3,), "Middling recency and frequency."),
    ("about to sleep", (3,), (1, 2), "Below average recency and frequency."),
    ("at risk", (1, 2), (3, 4), "Bought often, but long ago."),
    ("can't lose them", (1, 2), (5,), "Made the most purchases, but long ago."),
    ("hibernating", (1, 2), (1, 2), "Last purchase long ago, few purchases."),
    ("lost", (1,), (1,), "The lowest recency and frequency."),
)
"""(name, R scores, F scores, what it means) on the 1-5 scale; a later row wins (`lost` is
carved out of `hibernating`). Every one of the 25 cells has exactly one name."""

MEASURES = ("recency_days", "frequency", "monetary")


def cell_name(r: int, f: int) -> str:
    """The named cell of R and F scores on the 1-5 scale."""
    name = ""
    for cell, rs, fs, _ in CELLS:
        if r in rs and f in fs:
            name = cell
    return name


def _cell_sql(r: str, f: str) -> str:
    cases = " ".join(
        f"WHEN {r} IN ({', '.join(map(str, rs))}) AND {f} IN ({', '.join(map(str, fs))}) "
        f"THEN {lit(name)}"
        for name, rs, fs, _ in reversed(CELLS)
    )
    return f"CASE {cases} END"


def values_query(
    as_of: dt.date, purchase: str, customers: str | None = None, events: str = EVENTS
) -> str:
    """Each buyer's recency_days, frequency and monetary as of the end of `as_of`."""
    scope = "" if customers is None else f" AND customer_id IN ({customers})"
    end = lit((as_of + dt.timedelta(days=1)).isoformat())
    return f"""
        SELECT customer_id,
               date_diff('day', CAST(max(occurred_at) AS DATE), DATE {lit(as_of.isoformat())})
                   AS recency_days,
               count(*) AS frequency,
               CAST(coalesce(sum(amount), 0) AS DOUBLE) AS monetary
        FROM {events}
        WHERE name = {lit(purchase)} AND occurred_at < CAST({end} AS TIMESTAMPTZ){scope}
        GROUP BY customer_id
    """


def boundaries_query(values: str, bins: int) -> str:
    """The boundaries of each measure: the value at position ceil(j * n / bins), j < bins."""
    parts = [
        f"""SELECT {lit(m)} AS measure, j, {m} AS boundary FROM (
                SELECT {m}, row_number() OVER (ORDER BY {m}) AS position,
                       count(*) OVER () AS n FROM {values}
            ) JOIN range(1, {bins}) AS r(j) ON position = (j * n + {bins - 1}) // {bins}"""
        for m in MEASURES
    ]
    return " UNION ALL ".join(parts)


def _score(measure: str, bounds: list[float], bins: int) -> str:
    above = " + ".join(f"CAST({measure} > {b!r} AS INTEGER)" for b in bounds) or "0"
    return f"({bins} - ({above}))" if measure == "recency_days" else f"(1 + {above})"


def _five(score: str, bins: int) -> str:
    """A score on the 1-5 scale the cells are named on."""
    return score if bins == 5 else f"CAST(ceil({score} * 5.0 / {bins}) AS INTEGER)"


def scored_query(values: str, bounds: dict[str, list[float]], bins: int) -> str:
    r, f, m = (_score(name, bounds[name], bins) for name in MEASURES)
    return f"""
        SELECT *, r * 100 + f * 10 + m AS code, {_cell_sql(_five("r", bins), _five("f", bins))}
               AS cell
        FROM (SELECT *, {r} AS r, {f} AS f, {m} AS m FROM {values})
    """


@dataclass(frozen=True)
class Rfm:
    """RFM as of a date: the boundaries, the named cells and the R x F grid."""

    as_of: str
    bins: int
    version: str
    customers: int
    """Customers scored (buyers)."""
    boundaries: dict[str, list[float]]
    """recency_days, frequency, monetary: the bins - 1 boundaries of each."""
    cells: list[dict[str, Any]]
    """name, meaning, customers, share, monetary, mean recency / frequency / monetary."""
    grid: list[dict[str, Any]]
    """r, f, cell, customers, monetary (summed), mean_monetary — every R x F cell."""
    written: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rfm(
    store: Store,
    *,
    as_of: dt.date | None = None,
    bins: int = 5,
    purchase: str = PURCHASE,
    customers: str | None = None,
    events: str = EVENTS,
    write: bool = True,
) -> Rfm:
    """RFM scores of every buyer as of the end of `as_of` (default: the day of the last
    event), `bins` per measure (5: quintiles); written as the `rfm` score unless `write` is
    false. With `customers` (SQL selecting customer_id) only those are scored, against the
    boundaries of the last full run (saved with the model) — no refit; the cells and grid
    then cover them only; `events` is where their events are read."""
    from parcours.segments.tiers import last_event_date

    if not 2 <= bins <= 10:
        raise BadRequest(f"Cannot score RFM in {bins} bins", "give bins between 2 and 10")
    engine = store.engine
    as_of = as_of or last_event_date(engine)
    values = values_query(as_of, purchase, customers, events)
    engine.execute(f"CREATE OR REPLACE TEMP TABLE _rfm_values AS {values}")
    try:
        if customers is None:
            bounds = _fitted(engine, bins)
        else:  # the last full run's boundaries, on its purchase event
            bounds, bins, purchase = _saved(engine)
        version = "rfm:" + hashlib.sha256(orjson.dumps([bins, bounds, purchase])).hexdigest()[:10]
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE _rfm AS {scored_query('_rfm_values', bounds, bins)}"
        )
        written = None
        if write:
            if customers is None:
                save_model(
                    engine,
                    "rfm",
                    version,
                    {
                        "bins": bins,
                        "boundaries": bounds,
                        "as_of": as_of.isoformat(),
                        "purchase": purchase,
                    },
                )
            written = _write(engine, as_of, version, customers)
        cells, grid, total = _summaries(engine, bins)
    finally:
        engine.execute("DROP TABLE IF EXISTS _rfm")
        engine.execute("DROP TABLE IF EXISTS _rfm_values")
    return Rfm(as_of.isoformat(), bins, version, total, bounds, cells, grid, written)


def _fitted(engine: Engine, bins: int) -> dict[str, list[float]]:
    rows = engine.query(boundaries_query("_rfm_values", bins) + " ORDER BY measure, j").to_pylist()
    bounds: dict[str, list[float]] = {m: [] for m in MEASURES}
    for row in rows:
        bounds[row["measure"]].append(float(row["boundary"]))
    return bounds


def _saved(engine: Engine) -> tuple[dict[str, list[float]], int, str]:
    model = latest_model(engine, "rfm")
    if model is None:
        raise BadRequest(
            "No RFM boundaries to score these customers against",
            "run a full RFM first (parcours scores rfm), then score touched customers",
        )
    parameters = model["parameters"]
    return parameters["boundaries"], int(parameters["bins"]), str(parameters["purchase"])


def _write(engine: Engine, as_of: dt.date, version: str, customers: str | None) -> dict[str, Any]:
    details = (
        "json_object('r', r, 'f', f, 'm', m, 'recency_days', recency_days, "
        f"'frequency', frequency, 'monetary', monetary, 'as_of', {lit(as_of.isoformat())})"
    )
    rows = f"SELECT customer_id, code AS value, cell AS label, {details} AS details FROM _rfm"
    return asdict(write_scores(engine, "rfm", rows, version=version, customers_sql=customers))


def _summaries(engine: Engine, bins: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    total = int(engine.scalar("SELECT count(*) FROM _rfm"))
    found = {
        row["cell"]: row
        for row in engine.query(
            "SELECT cell, count(*) AS customers, round(sum(monetary), 2) AS monetary, "
            "round(avg(recency_days), 1) AS mean_recency_days, "
            "round(avg(frequency), 2) AS mean_frequency, "
            "round(avg(monetary), 2) AS mean_monetary FROM _rfm GROUP BY cell"
        ).to_pylist()
    }
    cells = []
    for name, _, _, meaning in CELLS:
        row = found.get(name, {"customers": 0, "monetary": 0.0})
        cells.append(
            {
                "name": name,
                "meaning": meaning,
                **{k: v for k, v in row.items() if k != "cell"},
                "share": round(row["customers"] / total, 4) if total else 0.0,
            }
        )
    counted = {
        (row["r"], row["f"]): row
        for row in engine.query(
            "SELECT r, f, count(*) AS customers, round(sum(monetary), 2) AS monetary "
            "FROM _rfm GROUP BY r, f"
        ).to_pylist()
    }
    grid = []
    for r in range(bins, 0, -1):
        for f in range(1, bins + 1):
            row = counted.get((r, f), {"customers": 0, "monetary": 0.0})
            five = [max(1, -(-x * 5 // bins)) for x in (r, f)]
            grid.append(
                {
                    "r": r,
                    "f": f,
                    "cell": cell_name(*five),
                    "customers": row["customers"],
                    "monetary": row["monetary"],
                    "mean_monetary": round(row["monetary"] / row["customers"], 2)
                    if row["customers"]
                    else None,
                }
            )
    return cells, grid, total
