"""Each event with its customer: the table profiles, timelines and journeys read.

Events are never rewritten; a resolve decides which customer each identifier belongs to, and
an event belongs to the customer of its most trusted identifier (lowest priority rank, then
type and value — the identifier a star edge of the graph starts from). `customer_events` keeps
that answer next to the event's analysable columns, indexed by customer, so that a profile
reads a few rows instead of every event's identifiers, and a journey analysis reads one table
instead of joining ten million events to the map.

A full resolve rebuilds it; an incremental one rebuilds the rows of the events it re-resolved
(every event of every customer it touched, since its scope is closed). Erasure deletes a
customer's rows with the rest.
"""

from __future__ import annotations

from parcours.identity.rules import IdentityRules, identity_rules
from parcours.sql import lit
from parcours.store.schema import CUSTOMER_EVENT_COLUMNS, NAME_CODE
from parcours.store.store import Store

TABLE = "customer_events"
COLUMN_SPECS = (*CUSTOMER_EVENT_COLUMNS, NAME_CODE)
"""The table's columns, as schema v5 leaves it (v4's and the name's number)."""
COLUMNS = tuple(c.name for c in COLUMN_SPECS)
NAME = "coalesce(e.name, e.type)"
"""What a journey calls an event: its name, else its type."""


def _rank(rules: IdentityRules, kind: str) -> str:
    cases = " ".join(f"WHEN {lit(k)} THEN {i}" for i, k in enumerate(rules.priority))
    return f"CASE {kind} {cases} ELSE {len(rules.priority)} END"


def best_identifier_sql(rules: IdentityRules) -> str:
    """SQL, over an `events` row, for its most trusted identifier that links: a struct
    (rank, type, value), NULL when every identifier on it is blocked."""
    candidates = (
        f"[{{'rank': {_rank(rules, lit('user_id'))}, 'type': 'user_id', 'value': user_id}}, "
        f"{{'rank': {_rank(rules, lit('anonymous_id'))}, 'type': 'anonymous_id', "
        f"'value': anonymous_id}}] || list_transform(coalesce(identifiers, []), "
        f"lambda i: {{'rank': {_rank(rules, 'i.type')}, 'type': i.type, 'value': i.value}})"
    )
    links = "x.value IS NOT NULL AND x.value <> ''"
    if rules.blocked:
        pattern = "|".join(f"(?:{p})" for p in rules.blocked)
        links += f" AND NOT regexp_full_match(lower(x.value), {lit(pattern)})"
    return f"list_min(list_filter({candidates}, lambda x: {links}))"


KEYS = {
    "customer_id": "m.customer_id",
    "name_code": "n.code",
    "customer_key": "(hash(m.customer_id) >> 1)::BIGINT",
    "event_key": "(hash(e.source, e.event_id) >> 1)::BIGINT",
}
"""The columns not copied from `events`. The keys are 63-bit hashes, so that journeys sort and
partition by integers: two customers would share a key (and be read as one journey) with odds
of about one in 10^7 at a million customers."""
ORDER = "customer_key, occurred_at, event_key"
"""Journey order: each customer's events together, in time, ties in one fixed order."""


def _select(rules: IdentityRules, where: str, owners: str = "identity_map") -> str:
    columns = ", ".join(f"{KEYS.get(c, 'e.' + c)} AS {c}" for c in COLUMNS)
    return (
        f"SELECT {columns} FROM (SELECT *, {best_identifier_sql(rules)} AS best FROM events "
        f"WHERE {where}) e JOIN {owners} m ON m.type = e.best.type AND m.value = e.best.value "
        f"LEFT JOIN event_names n ON n.name = {NAME}"
    )


def _number_names(store: Store, where: str) -> None:
    """Give the names of these events that have no number yet the next numbers."""
    store.engine.execute_script(
        "INSERT INTO event_names SELECT (coalesce((SELECT max(code) FROM event_names), -1) "
        "+ row_number() OVER (ORDER BY name))::INTEGER, name FROM ("
        f"SELECT DISTINCT {NAME} AS name FROM events e WHERE {where}) "
        "WHERE name NOT IN (SELECT name FROM event_names)"
    )


def refresh(store: Store, events: str | None = None, owners: str = "identity_map") -> int:
    """Rebuild the rows of `events` (a table of `event_row, source, event_id`: row ids read
    in the caller's transaction), or of every event; return the rows written. Runs inside the
    resolve's transaction, after the map is written. `owners`: where the events' identifiers
    find their customers (type, value, customer_id), the map or the part of it the resolve
    just wrote (smaller, so cheaper to join)."""
    engine, rules = store.engine, identity_rules(store.settings)
    if events is None:
        # A full resolve has set the index aside (see identity.resolve). Written in journey
        # order: an analysis reading it needs no sort (see journeys.ordered).
        _number_names(store, "true")
        engine.execute_script(f"DELETE FROM {TABLE}")
        return engine.write(f"INSERT INTO {TABLE} {_select(rules, 'true')} ORDER BY {ORDER}")
    engine.execute_script(
        f"DELETE FROM {TABLE} WHERE event_key IN (SELECT {KEYS['event_key']} FROM {events} e) "
        f"AND (source, event_id) IN (SELECT source, event_id FROM {events})"
    )
    rows = f"rowid IN (SELECT event_row FROM {events})"
    _number_names(store, rows)
    return engine.write(f"INSERT INTO {TABLE} " + _select(rules, rows, owners))


def of_customer(customer_id: str) -> str:
    """SQL for the customer's events (the columns of `customer_events`)."""
    return f"SELECT * FROM {TABLE} WHERE customer_id = {lit(customer_id)}"
