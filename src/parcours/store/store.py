"""The store: an engine opened on the configured file, with its schema up to date."""

from __future__ import annotations

from pathlib import Path

from parcours.config import Settings
from parcours.engine import Engine, open_engine
from parcours.errors import StoreError, StoreLockedError
from parcours.store.migrations import LATEST_VERSION, current_version, migrate
from parcours.store.served import held_by_server, read_marker, request_snapshot


class Store:
    """Owns the engine for one store; every capability reads and writes through it."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.closed = False
        """Whether `close` was called: results read lazily ask before they read."""

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool = False) -> Store:
        """Open the store; for reading only, a store that `parcours serve` holds is read
        through a snapshot the server writes (see `store.served`)."""
        try:
            engine = open_engine(settings, read_only=read_only)
        except StoreLockedError as locked:
            served = read_marker(settings.store)
            if served is None:
                raise
            snapshot = request_snapshot(settings.store, served) if read_only else None
            if snapshot is None:
                raise held_by_server(settings.store, served) from locked
            engine = open_engine(settings.model_copy(update={"store": snapshot}), read_only=True)
        version = current_version(engine)
        if not version:
            _refuse_other_databases(engine, settings.store)
        if not read_only:
            migrate(engine)
        elif version != LATEST_VERSION:
            engine.close()
            raise StoreError(
                f"The store {settings.store} has schema version {version}, this parcours "
                f"reads version {LATEST_VERSION}",
                "run a command that writes (such as `parcours import`) once with this "
                "version to migrate it",
                where=str(settings.store),
            )
        return cls(engine, settings)

    def close(self) -> None:
        self.engine.close()
        self.closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _refuse_other_databases(engine: Engine, path: Path, shown: int = 5) -> None:
    """Refuse a DuckDB database that is not a parcours store rather than add our tables to it.

    An empty database becomes a store; one holding other tables and no parcours schema is
    someone's data, where a mistyped --store would otherwise scatter a dozen tables.
    """
    names = engine.query(
        # A first migration killed before it committed leaves only `schema_migrations`.
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_name <> 'schema_migrations' "
        f"ORDER BY 1 LIMIT {shown + 1}"
    )
    found = [str(name) for name in names.column(0).to_pylist()]
    if not found:
        return
    engine.close()
    listed = ", ".join(found[:shown]) + (", ..." if len(found) > shown else "")
    raise StoreError(
        f"The DuckDB database {path} is not a parcours store: it holds other tables ({listed}) "
        "and no parcours schema",
        "point --store (PARCOURS_STORE) at a parcours store, or at a new file (such as "
        "parcours.duckdb) to make one; parcours does not add its tables to another database",
        where=str(path),
    )
