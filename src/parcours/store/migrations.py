"""Versioned schema migrations: a store made by this version opens in the next.

Each migration is appended to `MIGRATIONS`, never edited once released. Opening a store applies
the ones it has not seen, in order, each in its own transaction, and records it in
`schema_migrations`. A store written by a newer parcours is refused rather than misread.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from parcours.engine import Engine
from parcours.errors import SchemaVersionError
from parcours.store.schema import (
    AUTOMATION_COLUMNS,
    AUTOMATION_CURSOR_COLUMNS,
    AUTOMATION_INSTANCE_COLUMNS,
    AUTOMATION_SEND_COLUMNS,
    AUTOMATION_STEP_COLUMNS,
    AUTOMATION_TASK_COLUMNS,
    CUSTOMER_EVENT_COLUMNS,
    CUSTOMER_SCORE_CHANGE_COLUMNS,
    CUSTOMER_SCORE_COLUMNS,
    ERASED_IDENTIFIER_COLUMNS,
    ERASURE_SALT_COLUMNS,
    EVENT_COLUMNS,
    EVENT_NAME_COLUMNS,
    IDENTITY_LINK_COLUMNS,
    IDENTITY_MAP_COLUMNS,
    IDENTITY_MATCH_COLUMNS,
    IDENTITY_MATCH_RUN_COLUMNS,
    IDENTITY_OVERRIDE_COLUMNS,
    IDENTITY_RUN_COLUMNS,
    IMPORT_COLUMNS,
    NAME_CODE,
    PRIVACY_LOG_COLUMNS,
    QUARANTINE_COLUMNS,
    SCORE_MODEL_COLUMNS,
    SEGMENT_CHANGE_COLUMNS,
    SEGMENT_COLUMNS,
    SEGMENT_MEMBER_COLUMNS,
    SOURCE_COLUMNS,
    create_table_sql,
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: Callable[[], list[str]]


def _v1() -> list[str]:
    return [
        create_table_sql("events", EVENT_COLUMNS),
        create_table_sql("quarantine", QUARANTINE_COLUMNS),
        create_table_sql("imports", IMPORT_COLUMNS),
    ]


def _v2() -> list[str]:
    return [
        create_table_sql("sources", SOURCE_COLUMNS),
        "CREATE UNIQUE INDEX sources_name ON sources (name)",
        "CREATE UNIQUE INDEX sources_write_key ON sources (write_key)",
    ]


def _v3() -> list[str]:
    return [
        create_table_sql("identity_map", IDENTITY_MAP_COLUMNS),
        create_table_sql("identity_links", IDENTITY_LINK_COLUMNS),
        create_table_sql("identity_runs", IDENTITY_RUN_COLUMNS),
        create_table_sql("identity_matches", IDENTITY_MATCH_COLUMNS),
        create_table_sql("identity_overrides", IDENTITY_OVERRIDE_COLUMNS),
        create_table_sql("privacy_log", PRIVACY_LOG_COLUMNS),
    ]


LOOKUP_INDEXES = {
    name: f"CREATE INDEX {name} ON {table} (customer_id)"
    for name, table in (
        ("customer_events_customer", "customer_events"),
        ("identity_map_customer", "identity_map"),
    )
}
"""Indexes for looking a customer up. A full resolve sets them aside while it rewrites the
tables (see identity.resolve); `ensure_indexes` builds any that a crash left missing."""


def _v4() -> list[str]:
    return [create_table_sql("customer_events", CUSTOMER_EVENT_COLUMNS), *LOOKUP_INDEXES.values()]


def _v5() -> list[str]:
    # Stores made before v5 number the names their customer_events already hold.
    return [
        create_table_sql("event_names", EVENT_NAME_COLUMNS),
        "CREATE UNIQUE INDEX event_names_name ON event_names (name)",
        f"ALTER TABLE customer_events ADD COLUMN {NAME_CODE.name} {NAME_CODE.type}",
        "INSERT INTO event_names SELECT (row_number() OVER (ORDER BY name) - 1)::INTEGER, name "
        "FROM (SELECT DISTINCT coalesce(name, type) AS name FROM customer_events)",
        "UPDATE customer_events SET name_code = n.code FROM event_names n "
        "WHERE n.name = coalesce(customer_events.name, customer_events.type)",
    ]


def _v6() -> list[str]:
    # The salt is drawn here, when a store first reaches v6: each store gets its own.
    return [
        create_table_sql("erased_identifiers", ERASED_IDENTIFIER_COLUMNS),
        create_table_sql("erasure_salt", ERASURE_SALT_COLUMNS),
        f"INSERT INTO erasure_salt VALUES ('{secrets.token_hex(32)}')",
    ]


def _v7() -> list[str]:
    return [create_table_sql("identity_match_runs", IDENTITY_MATCH_RUN_COLUMNS)]


def _v8() -> list[str]:
    return [
        create_table_sql("segments", SEGMENT_COLUMNS),
        create_table_sql("segment_members", SEGMENT_MEMBER_COLUMNS),
        create_table_sql("segment_changes", SEGMENT_CHANGE_COLUMNS),
        create_table_sql("customer_scores", CUSTOMER_SCORE_COLUMNS),
        create_table_sql("customer_score_changes", CUSTOMER_SCORE_CHANGE_COLUMNS),
        create_table_sql("score_models", SCORE_MODEL_COLUMNS),
    ]


def _v9() -> list[str]:
    return [
        create_table_sql("automations", AUTOMATION_COLUMNS),
        create_table_sql("automation_instances", AUTOMATION_INSTANCE_COLUMNS),
        create_table_sql("automation_steps", AUTOMATION_STEP_COLUMNS),
        create_table_sql("automation_sends", AUTOMATION_SEND_COLUMNS),
        create_table_sql("automation_tasks", AUTOMATION_TASK_COLUMNS),
        create_table_sql("automation_cursors", AUTOMATION_CURSOR_COLUMNS),
    ]


def ensure_indexes(engine: Engine) -> list[str]:
    """Build the lookup indexes that are missing (a resolve killed while they were set
    aside); return their names."""
    there = set(engine.query("SELECT index_name FROM duckdb_indexes()").column(0).to_pylist())
    missing = [name for name in LOOKUP_INDEXES if name not in there]
    for name in missing:
        engine.execute_script(LOOKUP_INDEXES[name])
    return missing


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "canonical events, quarantine and the import ledger", _v1),
    Migration(2, "sources and write keys for the live tracking API", _v2),
    Migration(3, "identity: the identifier to customer map, its links and runs", _v3),
    Migration(4, "each event with its customer, for profiles, timelines and journeys", _v4),
    Migration(5, "event names as numbers, for journeys to read numbers instead of text", _v5),
    Migration(6, "the suppression list: salted hashes of erased identifiers", _v6),
    Migration(7, "matching runs, so that a resolve knows a match it has not applied", _v7),
    Migration(8, "segments and their members' history; customer scores and fitted models", _v8),
    Migration(9, "automations: definitions, instances and timers, steps, the send ledger", _v9),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(engine: Engine) -> int:
    """The schema version of the store behind `engine` (0 for an empty store)."""
    # DuckDB's own catalog, not information_schema.tables: that view also describes every
    # view and constraint, a few hundredths of a second that every command spent opening.
    exists = engine.scalar(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = 'schema_migrations'"
    )
    if not exists:
        return 0
    return int(engine.scalar("SELECT coalesce(max(version), 0) FROM schema_migrations"))


def migrate(engine: Engine) -> list[Migration]:
    """Bring the store up to `LATEST_VERSION`; return the migrations applied."""
    version = current_version(engine)
    if version > LATEST_VERSION:
        raise SchemaVersionError(
            f"The store has schema version {version}, newer than this parcours knows "
            f"({LATEST_VERSION})",
            "upgrade parcours (pip install -U parcours) to open this store",
        )
    if version == 0:
        engine.execute_script(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMPTZ)"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        with engine.transaction():
            for statement in migration.statements():
                engine.execute_script(statement)
            engine.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())",
                [migration.version, migration.description],
            )
        applied.append(migration)
    ensure_indexes(engine)
    return applied
