"""The runtime's feed: the events stored since it last read, each with its customer.

Events are resolved on arrival (an import and the live loader resolve before they announce
new events), so each new event's customer is in `customer_events`, found by its 63-bit
event key (then confirmed by source and event id); the events parcours writes itself
(segment entries, messages) are placed there as they are written. An event no resolve has
placed yet has no customer and is not read: with `identity.resolve_on_arrival` off, run a
resolve before a tick.

The cursor (`automation_cursors` row `events`) is the latest `received_at` read; the next
read takes what was received after it. The store has one writer, and a tick runs through it,
between loads: a load stamps its events at its start and commits before the next tick, so
none is received at or before the cursor after the cursor was written. (Were a read ever
repeated — a tick killed before it wrote its cursor — it would do no harm: no one enters twice
on one key, an ended instance does not end again, an awaited event counts only once the
wait began.) A paused automation's would-be entrants are not kept for its resumption."""

from __future__ import annotations

import datetime as dt

from parcours.automations.matching import at_sql
from parcours.engine import Engine

FEED = "_auto_feed"
CURSOR = "events"
COLUMNS = "customer_id, source, event_id, type, name, channel, occurred_at, received_at, properties"


def read_cursor(engine: Engine, name: str) -> dt.datetime | None:
    value = engine.scalar("SELECT read_until FROM automation_cursors WHERE name = ?", [name])
    return value.astimezone(dt.UTC) if value is not None else None


def write_cursor(engine: Engine, name: str, until: dt.datetime) -> None:
    engine.execute("DELETE FROM automation_cursors WHERE name = ?", [name])
    engine.execute("INSERT INTO automation_cursors VALUES (?, ?)", [name, until])


def load_feed(engine: Engine, start: dt.datetime) -> tuple[int, dt.datetime | None]:
    """Fill the temp table `FEED` with the events received since the cursor (the first time:
    since `start`, the first publish of an automation, as nothing received earlier can
    matter), each with its customer; return how many and the latest `received_at` read (the
    cursor to write once they are used)."""
    since = read_cursor(engine, CURSOR) or start
    where = f"received_at > {at_sql(since)}"
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE _auto_new AS SELECT source, event_id, received_at, "
        f"(hash(source, event_id) >> 1)::BIGINT AS event_key FROM events WHERE {where}"
    )
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE {FEED} AS
            SELECT c.customer_id, c.source, c.event_id, c.type, c.name, c.channel,
                   c.occurred_at, n.received_at, c.properties
            FROM customer_events c JOIN _auto_new n
              ON c.event_key = n.event_key AND c.source = n.source AND c.event_id = n.event_id
            WHERE c.event_key IN (SELECT event_key FROM _auto_new)"""
    )
    latest = engine.scalar("SELECT max(received_at) FROM _auto_new")
    engine.execute("DROP TABLE _auto_new")
    count = int(engine.scalar(f"SELECT count(*) FROM {FEED}") or 0)
    return count, latest.astimezone(dt.UTC) if latest is not None else since


def replay_feed(engine: Engine, start: dt.datetime, end: dt.datetime, table: str) -> int:
    """Fill `FEED` with the events of `table` (customer_events' shape) that occurred in
    [start, end): a dry run's hour of simulated time."""
    return engine.write(
        f"CREATE OR REPLACE TEMP TABLE {FEED} AS SELECT customer_id, source, event_id, type, "
        "name, channel, occurred_at, occurred_at AS received_at, properties "
        f"FROM {table} WHERE occurred_at >= {at_sql(start)} AND occurred_at < {at_sql(end)}"
    )
