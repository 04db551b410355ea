"""Preview (how many, who, before saving) and explain (why this customer is in or out).

Both compile the definition as membership does (`segments.compile`) and read the leaves'
values instead of writing members: preview counts the customers each condition holds for and
the customers the whole definition selects; explain gives, for one customer, each condition
with the customer's value and whether it held, and the answer of the whole.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import asdict, dataclass, field
from typing import Any

from parcours.errors import NotFoundError
from parcours.identity.rules import identity_rules
from parcours.segments.checks import check, current_definitions, unknown_segment
from parcours.segments.compile import Builder
from parcours.segments.definition import SegmentDefinition
from parcours.segments.membership import definitions
from parcours.sql import lit
from parcours.store.store import Store


@dataclass(frozen=True)
class Preview:
    """What a definition selects now, before it is saved."""

    name: str
    customers: int
    """Customers the definition selects."""
    of: int
    """Customers evaluated (all)."""
    sample: list[str]
    """Some of them (by customer id)."""
    conditions: list[dict[str, Any]] = field(default_factory=list)
    """Each leaf: path, condition, and how many customers it holds for."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Explanation:
    """Why a customer is in a segment or not: each condition with the customer's value."""

    segment: str
    version: int
    customer_id: str
    member: bool
    """Whether the definition holds for the customer now."""
    materialised: bool
    """Whether `segment_members` holds the customer (as of the last recompute or refresh)."""
    conditions: list[dict[str, Any]] = field(default_factory=list)
    """Each leaf: path, condition, value, held."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preview(
    store: Store,
    definition: SegmentDefinition,
    *,
    limit: int = 20,
    as_of: dt.datetime | None = None,
) -> Preview:
    """How many customers `definition` selects and who (up to `limit`), with how many each
    condition holds for; checked against the store as a save would be, nothing written."""
    engine = store.engine
    saved = definitions(engine)
    dependencies = {name: d.segments_named() for name, (d, _) in saved.items()}
    check(engine, definition, dependencies)
    builder = Builder(identity_rules(store.settings), as_of)
    compiled = builder.compile(definition)
    rows = builder.evaluate_query(f"({builder.features_query()})", compiled)
    counts = ", ".join(f"count(*) FILTER (WHERE h_{leaf.column})" for leaf in compiled.leaves)
    # The customers' features are computed once, for the counts and the sample alike.
    figures = engine.query(
        f"WITH r AS MATERIALIZED ({rows}) "
        f"SELECT count(*) FILTER (WHERE member), count(*), {counts}, "
        f"(SELECT list(customer_id ORDER BY customer_id) FROM (SELECT customer_id FROM r "
        f"WHERE member ORDER BY customer_id LIMIT {int(limit)})) FROM r"
    ).to_pylist()[0]
    values = list(figures.values())
    conditions = [
        {"path": leaf.path, "condition": leaf.text, "customers": held}
        for leaf, held in zip(compiled.leaves, values[2:-1], strict=True)
    ]
    return Preview(definition.name, values[0], values[1], values[-1] or [], conditions)


def explain(
    store: Store, name: str, customer_id: str, *, as_of: dt.datetime | None = None
) -> Explanation:
    """Why `customer_id` is in segment `name` or not: each condition of the current
    definition with the customer's value and whether it held."""
    engine = store.engine
    saved = definitions(engine)
    if name not in saved:
        raise unknown_segment(name, list(saved))
    if not engine.scalar("SELECT count(*) FROM identity_map WHERE customer_id = ?", [customer_id]):
        raise NotFoundError(
            f"No customer {customer_id!r}",
            "give a customer id as `parcours customers show` prints it (c_...)",
        )
    definition, version = saved[name]
    builder = Builder(identity_rules(store.settings), as_of)
    compiled = builder.compile(definition)
    features = f"({builder.features_query(f'SELECT {lit(customer_id)} AS customer_id')})"
    row = engine.query(builder.evaluate_query(features, compiled)).to_pylist()[0]
    materialised = bool(
        engine.scalar(
            "SELECT count(*) FROM segment_members WHERE segment = ? AND customer_id = ?",
            [name, customer_id],
        )
    )
    conditions = [
        {
            "path": leaf.path,
            "condition": leaf.text,
            "value": _plain(row[leaf.column]),
            "held": bool(row[f"h_{leaf.column}"]),
        }
        for leaf in compiled.leaves
    ]
    return Explanation(name, version, customer_id, bool(row["member"]), materialised, conditions)


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


__all__ = ["Explanation", "Preview", "current_definitions", "explain", "preview"]
