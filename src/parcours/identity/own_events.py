"""Events parcours writes itself about a customer it knows — a segment entered, a message sent,
a trait set by an automation — so that the timeline, the journeys and the scores see them like
any other event.

Each is an `events` row of source `parcours` carrying the customer's anchor identifier (their
best identifier by the rules' priority, one they were resolved from), so that a later resolve
finds the same customer; and it is placed in `customer_events` with that customer as it is
written, where a resolve would have put it (the resolve skips the source: `graph.PLACED_SOURCE`).
"""

from __future__ import annotations

from parcours.identity.customer_events import COLUMNS, KEYS
from parcours.identity.graph import PLACED_SOURCE
from parcours.identity.rules import identity_rules
from parcours.sql import lit
from parcours.store.schema import EVENT_COLUMN_NAMES
from parcours.store.store import Store

ROWS, OWN = "_own_event_rows", "_own_events"
REQUIRED = ("customer_id", "event_id", "type", "name", "channel", "occurred_at")


def write_own_events(store: Store, rows: str, *, import_id: str) -> int:
    """Write the events `rows` answers — `customer_id`, `event_id` (unique within the
    source), `type`, `name`, `channel`, `occurred_at`, and any other column of `events`
    (properties as JSON, text, amount...) — for customers of the identity map, inside the
    caller's transaction. `received_at` is the instant of writing unless given. Returns how
    many were written (a customer no longer in the map, erased meanwhile, gets none)."""
    engine = store.engine
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {ROWS} AS {rows}")
    given = set(engine.query(f"SELECT * FROM {ROWS} LIMIT 0").column_names)
    missing = [c for c in REQUIRED if c not in given]
    if missing:
        raise ValueError(f"own events need the columns {', '.join(missing)}")  # a bug of ours
    own = _events_query(store, given, import_id)
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {OWN} AS {own}")
    written = int(engine.scalar(f"SELECT count(*) FROM {OWN}") or 0)
    if written:
        engine.execute(f"INSERT INTO events BY NAME SELECT * EXCLUDE (customer_id) FROM {OWN}")
        engine.execute(
            "INSERT INTO event_names SELECT (coalesce((SELECT max(code) FROM event_names), -1) "
            "+ row_number() OVER (ORDER BY name))::INTEGER, name FROM (SELECT DISTINCT name "
            f"FROM {OWN} WHERE name IS NOT NULL) WHERE name NOT IN (SELECT name FROM event_names)"
        )
        columns = ", ".join(f"{KEYS.get(c, 'e.' + c)} AS {c}" for c in COLUMNS)
        engine.execute(
            f"INSERT INTO customer_events BY NAME SELECT {columns} FROM {OWN} e "
            "CROSS JOIN LATERAL (SELECT e.customer_id AS customer_id) m "
            "LEFT JOIN event_names n ON n.name = e.name"
        )
    for table in (OWN, ROWS):
        engine.execute(f"DROP TABLE {table}")
    return written


def _events_query(store: Store, given: set[str], import_id: str) -> str:
    """One `events` row per row of `ROWS`, with its customer's anchor identifier."""
    rules = identity_rules(store.settings)
    ranks = " ".join(f"WHEN {lit(k)} THEN {i}" for i, k in enumerate(rules.priority))
    anchors = f"""
        SELECT customer_id, arg_min({{'type': type, 'value': value}},
               {{'derived': 'c_' || left(md5(type || ':' || value), 16) <> customer_id,
                 'rank': CASE type {ranks} ELSE {len(rules.priority)} END,
                 'type': type, 'value': value}}) AS anchor
        FROM identity_map WHERE customer_id IN (SELECT customer_id FROM {ROWS})
        GROUP BY customer_id
    """
    filled = {
        "source": lit(PLACED_SOURCE),
        "received_at": "r.received_at" if "received_at" in given else "now()",
        "anonymous_id": "CASE a.anchor.type WHEN 'anonymous_id' THEN a.anchor.value END",
        "user_id": "CASE a.anchor.type WHEN 'user_id' THEN a.anchor.value END",
        "identifiers": "CASE WHEN a.anchor.type NOT IN ('user_id', 'anonymous_id') "
        "THEN [a.anchor] END",
        "import_id": lit(import_id),
    }
    columns = ", ".join(
        f"{filled[c]} AS {c}"
        if c in filled
        else (f"r.{c} AS {c}" if c in given else f"NULL AS {c}")
        for c in EVENT_COLUMN_NAMES
    )
    return f"SELECT r.customer_id, {columns} FROM {ROWS} r JOIN ({anchors}) a USING (customer_id)"
