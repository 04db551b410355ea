"""The store: an engine opened on the configured file, with its schema up to date."""

from __future__ import annotations

import json
import os
from pathlib import Path

from parcours.config import Settings
from parcours.engine import Engine, open_engine
from parcours.errors import StoreError, StoreLockedError
from parcours.store.migrations import LATEST_VERSION, current_version, migrate


class Store:
    """Owns the engine for one store; every capability reads and writes through it."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool = False) -> Store:
        try:
            engine = open_engine(settings, read_only=read_only)
        except StoreLockedError as locked:
            raise _served_elsewhere(settings.store) or locked from locked
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


def serve_marker(store: Path) -> Path:
    """The file `parcours serve` keeps beside the store it holds: its pid and URL."""
    return store.with_name(store.name + ".serve.json")


def mark_served(store: Path, url: str) -> None:
    serve_marker(store).write_text(json.dumps({"pid": os.getpid(), "url": url}))


def unmark_served(store: Path) -> None:
    serve_marker(store).unlink(missing_ok=True)


def _served_elsewhere(store: Path) -> StoreLockedError | None:
    try:
        served = json.loads(serve_marker(store).read_text())
    except (OSError, ValueError):
        return None
    return StoreLockedError(
        f"The store {store} is held by `parcours serve` (pid {served.get('pid')}) at "
        f"{served.get('url')}; DuckDB lets one process write a file",
        "send events to that server, or stop it (Ctrl-C or SIGTERM: it commits what is queued) "
        "to run this command",
        where=str(store),
    )
