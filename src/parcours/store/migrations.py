"""Versioned schema migrations: a store made by this version opens in the next.

Each migration is appended to `MIGRATIONS`, never edited once released. Opening a store applies
the ones it has not seen, in order, each in its own transaction, and records it in
`schema_migrations`. A store written by a newer parcours is refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parcours.engine import Engine
from parcours.errors import SchemaVersionError
from parcours.store.schema import (
    CUSTOMER_EVENT_COLUMNS,
    EVENT_COLUMNS,
    IDENTITY_LINK_COLUMNS,
    IDENTITY_MAP_COLUMNS,
    IDENTITY_MATCH_COLUMNS,
    IDENTITY_OVERRIDE_COLUMNS,
    IDENTITY_RUN_COLUMNS,
    IMPORT_COLUMNS,
    PRIVACY_LOG_COLUMNS,
    QUARANTINE_COLUMNS,
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


def _v4() -> list[str]:
    return [
        create_table_sql("customer_events", CUSTOMER_EVENT_COLUMNS),
        "CREATE INDEX customer_events_customer ON customer_events (customer_id)",
        "CREATE INDEX identity_map_customer ON identity_map (customer_id)",
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "canonical events, quarantine and the import ledger", _v1),
    Migration(2, "sources and write keys for the live tracking API", _v2),
    Migration(3, "identity: the identifier to customer map, its links and runs", _v3),
    Migration(4, "each event with its customer, for profiles, timelines and journeys", _v4),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(engine: Engine) -> int:
    """The schema version of the store behind `engine` (0 for an empty store)."""
    exists = engine.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
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
    return applied
