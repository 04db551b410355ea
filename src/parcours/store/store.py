"""The store: an engine opened on the configured file, with its schema up to date."""

from __future__ import annotations

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
        if read_only:
            version = current_version(engine)
            if version != LATEST_VERSION:
                engine.close()
                raise StoreError(
                    f"The store {settings.store} has schema version {version}, this parcours "
                    f"reads version {LATEST_VERSION}",
                    "run a command that writes (such as `parcours import`) once with this "
                    "version to migrate it",
                    where=str(settings.store),
                )
        else:
            migrate(engine)
        return cls(engine, settings)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
