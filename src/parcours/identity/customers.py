"""The customer behind any identifier, and why: lookup, profile summary, explain.

Reads the identifier → customer map that `resolve` writes and the events; writes nothing.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from parcours.engine import Engine
from parcours.errors import NotFoundError
from parcours.identity import customer_events, graph
from parcours.identity.profile import CONSENT_NAMES, IDENTIFY, consents_query, survivors
from parcours.identity.rules import identity_rules
from parcours.store.store import Store


@dataclass
class CustomerView:
    """A customer at a glance. `to_dict()` is the stable JSON of `customers show`."""

    customer_id: str
    identifiers: list[dict[str, Any]]
    first_seen: Any = None
    last_seen: Any = None
    events: int = 0
    by_channel: list[dict[str, Any]] = field(default_factory=list)
    traits: list[dict[str, Any]] = field(default_factory=list)
    """Each trait's surviving value, its source and rule (see `identity.profile`)."""
    consents: list[dict[str, Any]] = field(default_factory=list)
    """The standing consent per channel and purpose."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def customer_of(store: Store, kind: str, value: str) -> str:
    """The customer an identifier belongs to (emails and handles as stored: normalised)."""
    if kind == "email":
        value = value.strip().lower()
    elif kind == "social_handle":
        value = value.strip().lstrip("@").lower()
    rows = store.engine.query(
        "SELECT customer_id FROM identity_map WHERE type = ? AND value = ?", [kind, value]
    ).to_pylist()
    if not rows:
        raise NotFoundError(
            f"No customer has the {kind} {value!r}",
            "check the value (phones in E.164, like +33612345678), or run "
            "`parcours identity resolve` after importing",
        )
    return str(rows[0]["customer_id"])


def show_customer(store: Store, customer_id: str) -> CustomerView:
    engine = store.engine
    identifiers = engine.query(
        "SELECT type, value, first_seen, last_seen, events FROM identity_map "
        "WHERE customer_id = ? ORDER BY first_seen, type, value",
        [customer_id],
    ).to_pylist()
    if not identifiers:
        raise _unknown(customer_id)
    # One indexed read of the customer's events; every figure below is computed from it.
    rows = engine.query(customer_events.of_customer(customer_id))
    by_channel = _by_channel(rows)
    identify = rows.filter(pc.is_in(rows["type"], pa.array(IDENTIFY)))
    traits = survivors(
        identify.select(["type", "properties", "source", "event_id", "occurred_at"]).to_pylist(),
        identity_rules(store.settings),
    )
    events = f"_customer_{uuid.uuid4().hex}"
    with engine.registered(events, rows):
        consents = _rows_if(engine, rows, "name", CONSENT_NAMES, consents_query(events))
    return CustomerView(
        customer_id,
        identifiers,
        min((c["first_seen"] for c in by_channel), default=None),
        max((c["last_seen"] for c in by_channel), default=None),
        rows.num_rows,
        by_channel,
        traits,
        consents,
    )


def _by_channel(rows: pa.Table) -> list[dict[str, Any]]:
    """Per channel: events, purchases (events with an amount), their amount, contacts (events
    with an intent), first and last seen; the busiest channel first."""
    grouped = (
        rows.append_column("contact", pc.is_valid(rows["intent"]))
        .group_by("channel")
        .aggregate(
            [
                ("channel", "count"),
                ("amount", "count"),
                ("amount", "sum"),
                ("contact", "sum"),
                ("occurred_at", "min"),
                ("occurred_at", "max"),
            ]
        )
        .to_pylist()
    )
    result = [
        {
            "channel": g["channel"],
            "events": g["channel_count"],
            "purchases": g["amount_count"],
            "amount": float(g["amount_sum"] or 0),
            "contacts": int(g["contact_sum"] or 0),
            "first_seen": g["occurred_at_min"],
            "last_seen": g["occurred_at_max"],
        }
        for g in grouped
    ]
    return sorted(result, key=lambda c: (-c["events"], c["channel"]))


def _rows_if(
    engine: Engine, rows: pa.Table, column: str, values: tuple[str, ...], query: str
) -> list[dict[str, Any]]:
    """`query`'s rows, or none without running it when no row has one of `values`."""
    if not pc.any(pc.is_in(rows.column(column), pa.array(values))).as_py():
        return []
    result: list[dict[str, Any]] = engine.query(query).to_pylist()
    return result


def _unknown(customer_id: str) -> NotFoundError:
    return NotFoundError(
        f"No customer {customer_id!r}",
        "look one up by an identifier (GET /v1/customers/lookup, `parcours customers show`)",
    )


def _known(store: Store, customer_id: str) -> None:
    """A clear 404 for an unknown customer, without building its whole view."""
    if not store.engine.scalar(
        "SELECT count(*) FROM identity_map WHERE customer_id = ?", [customer_id]
    ):
        raise _unknown(customer_id)


def explain(store: Store, kind: str, value: str) -> dict[str, Any]:
    """Why an identifier belongs to its customer: the path of links from the customer's most
    trusted identifier to it, each with its evidence; and the links the rules refused."""
    customer = customer_of(store, kind, value)
    links = store.engine.query(
        "SELECT * FROM identity_links WHERE customer_id = ? AND decision IN ('linked', 'matched')",
        [customer],
    ).to_pylist()
    # The anchor is the customer's most trusted identifier, the one its id is derived from.
    anchor = store.engine.query(
        f"SELECT type, value FROM identity_map WHERE customer_id = ? "
        f"ORDER BY {graph.rank_sql(identity_rules(store.settings))}, type, value LIMIT 1",
        [customer],
    ).to_pylist()[0]
    refused = store.engine.query(
        "SELECT left_type, left_value, right_type, right_value, decision, source, event_id "
        "FROM identity_links WHERE decision NOT IN ('linked', 'matched') "
        "AND ((left_type = ? AND left_value = ?) "
        "OR (right_type = ? AND right_value = ?))",
        [kind, value, kind, value],
    ).to_pylist()
    path = _path(links, (anchor["type"], anchor["value"]), (kind, value))
    return {
        "customer_id": customer,
        "identifier": {"type": kind, "value": value},
        "path": path,
        "refused": refused,
    }


def _path(
    links: list[dict[str, Any]], start: tuple[str, str], goal: tuple[str, str]
) -> list[dict[str, Any]]:
    """Breadth-first: the shortest chain of links from `start` to `goal`."""
    neighbours: dict[tuple[str, str], list[tuple[tuple[str, str], dict[str, Any]]]] = {}
    for link in links:
        left = (link["left_type"], link["left_value"])
        right = (link["right_type"], link["right_value"])
        neighbours.setdefault(left, []).append((right, link))
        neighbours.setdefault(right, []).append((left, link))
    came: dict[tuple[str, str], tuple[tuple[str, str], dict[str, Any]] | None] = {start: None}
    queue = deque([start])
    while queue and goal not in came:
        node = queue.popleft()
        for nxt, link in neighbours.get(node, []):
            if nxt not in came:
                came[nxt] = (node, link)
                queue.append(nxt)
    steps: list[dict[str, Any]] = []
    node = goal
    while came.get(node):
        previous, link = came[node]  # type: ignore[misc]
        steps.append(
            {
                "from": {"type": previous[0], "value": previous[1]},
                "to": {"type": node[0], "value": node[1]},
                "evidence": {
                    "kind": link["decision"],
                    "source": link["source"],
                    "event_id": link["event_id"],
                    "events": link["events"],
                    "first_seen": link["first_seen"],
                    "match_weight": link["match_weight"],
                    "fields": link["evidence"],
                },
            }
        )
        node = previous
    return list(reversed(steps))


TIMELINE_COLUMNS = (
    "occurred_at, source, event_id, channel, type, name, intent, outcome, agent, "
    "amount, currency, text"
)


def timeline(
    store: Store, customer_id: str, *, limit: int = 100, after: str | None = None
) -> dict[str, Any]:
    """The customer's events, oldest first, `limit` at a time; never cut to recent days.

    `after` is the previous page's `next` cursor: the last event's time, source and id.
    """
    _known(store, customer_id)
    events = customer_events.of_customer(customer_id)
    params: list[Any] = []
    where = ""
    if after:
        at, source, event_id = after.split("|", 2)
        where = "WHERE (occurred_at, source, event_id) > (?::TIMESTAMPTZ, ?, ?)"
        params += [at, source, event_id]
    rows = store.engine.query(
        f"SELECT {TIMELINE_COLUMNS} FROM ({events}) {where} "
        f"ORDER BY occurred_at, source, event_id LIMIT {int(limit) + 1}",
        params,
    ).to_pylist()
    page, more = rows[:limit], len(rows) > limit
    last = page[-1] if page else None
    cursor = (
        f"{last['occurred_at'].isoformat()}|{last['source']}|{last['event_id']}" if last else None
    )
    return {"customer_id": customer_id, "events": page, "next": cursor if more else None}
