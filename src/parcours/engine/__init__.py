"""The engine layer: the only code that imports a database driver.

`open_engine(settings)` returns the configured engine; everything else sees only `Engine`.
"""

from __future__ import annotations

from parcours.config import Settings
from parcours.engine.base import SOURCE_DIALECT, Dialect, Engine, Query, render
from parcours.errors import ConfigError


def open_engine(settings: Settings, *, read_only: bool = False) -> Engine:
    """Open the engine the settings name, on the store the settings name."""
    if settings.engine == "duckdb":
        from parcours.engine.duckdb import DuckDBEngine

        return DuckDBEngine(
            settings.store,
            read_only=read_only,
            threads=settings.threads,
            memory_limit=settings.memory_limit,
        )
    raise ConfigError(
        f"Unknown engine {settings.engine!r}",
        "set engine to 'duckdb' (the Spark engine is not part of this version)",
        where="settings: engine / PARCOURS_ENGINE",
    )


__all__ = ["SOURCE_DIALECT", "Dialect", "Engine", "Query", "open_engine", "render"]
