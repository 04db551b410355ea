"""The Python API: `parcours.connect()` returns a `Parcours`, a façade over the capabilities.

Each attribute is a small component (`p.quarantine`), each method a thin call to a service
function; the CLI and the HTTP API call the same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from parcours.collect import quarantine as quarantine_service
from parcours.collect.importer import Progress, import_file
from parcours.collect.ledger import ImportSummary
from parcours.collect.live.writer import recover_journal
from parcours.collect.quarantine import ReplaySummary
from parcours.config import Settings, load_settings
from parcours.identity.resolve import resolve_new
from parcours.journeys import (
    attribution,
    cohorts,
    contacts,
    funnel,
    paths,
    performance,
    typical,
    visits,
)
from parcours.journeys.scope import Scope
from parcours.store.export import ExportFormat, export_events, export_identifiers
from parcours.store.stats import store_stats
from parcours.store.store import Store


class Quarantine:
    """Records refused at import, with their reason; see `parcours.collect.quarantine`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, **filters: Any) -> pa.Table:
        return quarantine_service.list_quarantine(self._store, **filters)

    def show(self, quarantine_id: str) -> dict[str, Any]:
        return quarantine_service.show_quarantined(self._store, quarantine_id)

    def replay(self, **options: Any) -> ReplaySummary:
        return quarantine_service.replay(self._store, **options)


class Journeys:
    """The journey analyses over resolved customers; see `parcours.journeys`. Every method
    takes a `Scope` (time range, channels, segment, properties) and the analysis's options."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def visits(self, conversion: str, scope: Scope | None = None, **options: Any) -> Any:
        return visits.conversion_by_visit(self._store, conversion, scope, **options)

    def funnel(self, steps: list[Any], scope: Scope | None = None, **options: Any) -> Any:
        return funnel.funnel(self._store, steps, scope, **options)

    def map(self, scope: Scope | None = None, **options: Any) -> Any:
        return paths.journey_map(self._store, scope, **options)

    def variants(self, scope: Scope | None = None, **options: Any) -> list[dict[str, Any]]:
        return paths.variants(self._store, scope, **options)

    def paths(self, anchor: str, scope: Scope | None = None, **options: Any) -> Any:
        return paths.paths(self._store, anchor, scope, **options)

    def repeats(self, scope: Scope | None = None, **options: Any) -> Any:
        return contacts.repeat_contacts(self._store, scope, **options)

    def repeaters(self, scope: Scope | None = None, **options: Any) -> list[dict[str, Any]]:
        return contacts.repeaters(self._store, scope, **options)

    def switches(self, scope: Scope | None = None, **options: Any) -> Any:
        return contacts.channel_switching(self._store, scope, **options)

    def attribution(
        self, conversion: str = "Order Completed", scope: Scope | None = None, **options: Any
    ) -> Any:
        return attribution.attribution(self._store, conversion, scope, **options)

    def touchpoints(self, scope: Scope | None = None, **options: Any) -> Any:
        return performance.touchpoints(self._store, scope, **options)

    def agents(self, scope: Scope | None = None, **options: Any) -> Any:
        return performance.agents(self._store, scope, **options)

    def cohorts(self, scope: Scope | None = None, **options: Any) -> Any:
        return cohorts.cohorts(self._store, scope, **options)

    def typical(self, scope: Scope | None = None, **options: Any) -> Any:
        return typical.typical_journeys(self._store, scope, **options)


class Parcours:
    """One store and everything that can be done with it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.quarantine = Quarantine(store)
        self.journeys = Journeys(store)

    @property
    def settings(self) -> Settings:
        return self.store.settings

    def import_file(
        self,
        path: str | Path,
        *,
        source: str,
        mapping: str | Path,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import a CSV, JSON-lines or Parquet file (plain or gzip) through a mapping; then
        update the customers its events touch (unless `identity.resolve_on_arrival` is off)."""
        summary = import_file(
            self.store, Path(path), source=source, mapping=mapping, progress=progress
        )
        if summary.accepted and self.settings.identity.resolve_on_arrival:
            resolve_new(
                self.store,
                "SELECT source, event_id FROM events WHERE import_id = ?",
                [summary.import_id],
            )
        return summary

    def stats(self) -> dict[str, Any]:
        return store_stats(self.store)

    def export(
        self, path: str | Path, *, fmt: ExportFormat = "parquet", source: str | None = None
    ) -> int:
        """Write the events, each with its customer (`customer_id`), to a file; return how
        many were written."""
        return export_events(self.store, Path(path), fmt=fmt, source=source)

    def export_identifiers(self, path: str | Path, *, fmt: ExportFormat = "parquet") -> int:
        """Write every identifier with its customer (type, value, customer_id...) to a file;
        return how many were written."""
        return export_identifiers(self.store, Path(path), fmt=fmt)

    def sql(self, query: str) -> pa.Table:
        """Run a read query of your own (DuckDB SQL) over the store's tables."""
        return self.store.engine.query(query)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Parcours:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    store: str | Path | None = None, *, read_only: bool = False, **settings: Any
) -> Parcours:
    """Open (creating if needed) a store; settings as in `parcours.config.Settings`."""
    resolved = load_settings(store=Path(store) if store else None, **settings)
    opened = Store.open(resolved, read_only=read_only)
    if not read_only:
        # Events a server acknowledged but had not loaded when it stopped (a crash).
        recover_journal(opened)
    return Parcours(opened)
