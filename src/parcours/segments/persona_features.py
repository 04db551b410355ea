"""The behaviour personas are made of: one row of features per customer, computed engine-side.

A feature is data (`Feature`: a kind and a key), saved with the persona model, so customers
scored later get exactly the columns the model was fitted on. Kinds:

- `channel` (key: a channel): the share of the customer's events on it — the channel mix;
- `category` (a product category, `properties.category`): the share of the customer's events
  with a category that are in this one;
- `device` (a platform or device, `properties.platform` or `properties.device`): the share of
  the customer's events from it;
- `intent` (a contact intent): log(1 + contacts with it);
- `hour` (night 0-6, morning 6-12, afternoon 12-18, evening 18-24, UTC): the share of the
  customer's events in it — the time of day;
- `value` (orders, spend, contacts, events): log(1 + the count or amount).

Which channels, categories, devices and intents become features is read from the store at fit
time: the most frequent ones (up to `TOP` of each kind).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from parcours.engine import Engine
from parcours.segments.scored import EVENTS
from parcours.sql import lit

TOP = 8
HOURS = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}
VALUES = ("orders", "spend", "contacts", "events")
CATEGORY = "json_extract_string(properties, '$.category')"
DEVICE = (
    "lower(coalesce(json_extract_string(properties, '$.platform'), "
    "json_extract_string(properties, '$.device')))"
)


@dataclass(frozen=True)
class Feature:
    kind: str
    key: str

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}"

    def sql(self, purchase: str) -> str:
        """SQL over one customer's events (grouped by customer_id), from `EVENTS`' columns."""
        key = lit(self.key)
        if self.kind == "channel":
            return f"count(*) FILTER (WHERE channel = {key}) / count(*)"
        if self.kind == "category":
            return (
                f"coalesce(count(*) FILTER (WHERE category = {key}) "
                f"/ nullif(count(category), 0), 0)"
            )
        if self.kind == "device":
            return f"count(*) FILTER (WHERE device = {key}) / count(*)"
        if self.kind == "intent":
            return f"ln(1 + count(*) FILTER (WHERE intent = {key}))"
        if self.kind == "hour":
            low, high = HOURS[self.key]
            return f"count(*) FILTER (WHERE hour >= {low} AND hour < {high}) / count(*)"
        return {
            "orders": f"ln(1 + count(*) FILTER (WHERE name = {lit(purchase)}))",
            "spend": f"ln(1 + coalesce(CAST(sum(amount) FILTER (WHERE name = {lit(purchase)}) "
            "AS DOUBLE), 0))",
            "contacts": "ln(1 + count(intent))",
            "events": "ln(1 + count(*))",
        }[self.key]


KINDS = ("channel", "category", "device", "intent")


def events_query(scope: str, events: str = EVENTS) -> str:
    """The columns features read, each event's category, device and hour read once."""
    return (
        f"SELECT customer_id, channel, name, intent, amount, hour(occurred_at) AS hour, "
        f"nullif({CATEGORY}, '') AS category, nullif({DEVICE}, '') AS device "
        f"FROM {events}{scope}"
    )


def discover(engine: Engine, scope: str) -> list[Feature]:
    """The features to fit on: the store's most frequent channels, categories, devices and
    intents (up to TOP each, in one scan: in each grouping set the other kinds are NULL),
    the hours and the values."""
    counted = " UNION ALL ".join(
        f"SELECT {lit(kind)} AS kind, {kind} AS key, n FROM counts WHERE {kind} IS NOT NULL"
        for kind in KINDS
    )
    rows = engine.query(
        f"WITH counts AS (SELECT {', '.join(KINDS)}, count(*) AS n FROM ({events_query(scope)}) "
        f"GROUP BY GROUPING SETS ({', '.join(f'({k})' for k in KINDS)})) "
        f"SELECT kind, key FROM ({counted}) WHERE key <> '' "
        f"QUALIFY row_number() OVER (PARTITION BY kind ORDER BY n DESC, key) <= {TOP} "
        "ORDER BY kind, n DESC, key"
    ).to_pylist()
    found = [
        Feature(kind, str(row["key"])) for kind in KINDS for row in rows if row["kind"] == kind
    ]
    found += [Feature("hour", key) for key in HOURS]
    found += [Feature("value", key) for key in VALUES]
    return found


def features_query(features: list[Feature], purchase: str, scope: str, events: str = EVENTS) -> str:
    """One row per customer: f0, f1... (the features in order), bought, spent; each event's
    category, device and hour read once."""
    columns = ", ".join(
        f"CAST({f.sql(purchase)} AS DOUBLE) AS f{i}" for i, f in enumerate(features)
    )
    rows = events_query(scope, events)
    bought = f"name = {lit(purchase)}"
    return (
        f"SELECT customer_id, {columns}, count(*) FILTER (WHERE {bought}) > 0 AS bought, "
        f"CAST(coalesce(sum(amount) FILTER (WHERE {bought}), 0) AS DOUBLE) AS spent "
        f"FROM ({rows}) GROUP BY customer_id ORDER BY customer_id"
    )


@dataclass(frozen=True)
class Table:
    """Customers' features as arrays: ids, the matrix (customers x features), and facts."""

    customers: pa.Array
    matrix: np.ndarray
    bought: np.ndarray
    spent: np.ndarray


def read(
    engine: Engine, features: list[Feature], purchase: str, scope: str, events: str = EVENTS
) -> Table:
    table = engine.query(features_query(features, purchase, scope, events))
    matrix = (
        np.column_stack(
            [table.column(f"f{i}").to_numpy(zero_copy_only=False) for i in range(len(features))]
        )
        if len(table)
        else np.zeros((0, len(features)))
    )
    return Table(
        table.column("customer_id").combine_chunks(),
        np.nan_to_num(matrix.astype(np.float64)),
        table.column("bought").to_numpy(zero_copy_only=False).astype(bool),
        table.column("spent").to_numpy(zero_copy_only=False).astype(np.float64),
    )
