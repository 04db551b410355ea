"""The Python API: `parcours.connect()` returns a `Parcours`, a façade over the capabilities.

Each attribute is a capability's component (`p.journeys`, see `store.component`), each method
one of its services; the CLI calls them through this façade and the HTTP routes on a component
of their own, so there is one way into each service.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.automations.settings import automation_settings
from parcours.config import Settings, load_settings
from parcours.identity.rules import identity_rules
from parcours.sql import lit
from parcours.store.store import Store

if TYPE_CHECKING:
    import pyarrow as pa

    from parcours.automations.service import Automations
    from parcours.collect.importer import Progress
    from parcours.collect.ledger import ImportSummary
    from parcours.collect.service import Quarantine, Sources
    from parcours.identity.service import Customers, Identity
    from parcours.journeys.service import Journeys
    from parcours.segments.service import Scores, Segments
    from parcours.store.export import ExportFormat

# Each component is imported when first used: a command that reads journeys does not load
# the import path or probabilistic matching (see cli/).


class Parcours:
    """One store and everything that can be done with it: a component per capability
    (`p.quarantine`, `p.sources`, `p.identity`, `p.customers`, `p.journeys`,
    `p.scores`, `p.segments`, `p.automations`), each method the
    capability's own service with its own signature and docstring."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @cached_property
    def quarantine(self) -> Quarantine:
        from parcours.collect.service import Quarantine

        return Quarantine(self.store)

    @cached_property
    def sources(self) -> Sources:
        from parcours.collect.service import Sources

        return Sources(self.store)

    @cached_property
    def identity(self) -> Identity:
        from parcours.identity.service import Identity

        return Identity(self.store)

    @cached_property
    def customers(self) -> Customers:
        from parcours.identity.service import Customers

        return Customers(self.store)

    @cached_property
    def journeys(self) -> Journeys:
        from parcours.journeys.service import Journeys

        return Journeys(self.store)

    @cached_property
    def scores(self) -> Scores:
        from parcours.segments.service import Scores

        return Scores(self.store)

    @cached_property
    def segments(self) -> Segments:
        from parcours.segments.service import Segments

        return Segments(self.store)

    @cached_property
    def automations(self) -> Automations:
        from parcours.automations.service import Automations

        return Automations(self.store)

    @property
    def settings(self) -> Settings:
        return self.store.settings

    def import_file(
        self,
        path: str | Path,
        *,
        source: str,
        mapping: str | Path,
        strict: bool = False,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import a CSV, JSON-lines or Parquet file (plain or gzip) through a mapping; then
        update the customers its events touch, their scores and their segments (unless
        `identity.resolve_on_arrival` is off).

        `summary.fields_not_found` names the mapped fields no record had; `strict=True` refuses
        such a file (`MappingError`) before storing anything."""
        from parcours.collect.importer import import_file

        summary = import_file(
            self.store,
            Path(path),
            source=source,
            mapping=mapping,
            strict=strict,
            progress=progress,
        )
        if summary.accepted and identity_rules(self.settings).resolve_on_arrival:
            self.identity.resolve_new(
                "import_id = ?",
                [summary.import_id],
            )
            from parcours.segments.membership import touched_customers
            from parcours.segments.recompute import refresh_touched

            touched = touched_customers(self.store, f"import_id = {lit(summary.import_id)}")
            refresh_touched(self.store, touched)
        return summary

    def stats(self) -> dict[str, Any]:
        """What the store holds: totals, by channel, type, source and day; quarantine."""
        from parcours.store.stats import store_stats

        return store_stats(self.store)

    def export(
        self, path: str | Path, *, fmt: ExportFormat = "parquet", source: str | None = None
    ) -> int:
        """Write the events, each with its customer (`customer_id`), to a file; return how
        many were written."""
        from parcours.store.export import export_events

        return export_events(self.store, Path(path), fmt=fmt, source=source)

    def export_identifiers(self, path: str | Path, *, fmt: ExportFormat = "parquet") -> int:
        """Write every identifier with its customer (type, value, customer_id...) to a file;
        return how many were written."""
        from parcours.store.export import export_identifiers

        return export_identifiers(self.store, Path(path), fmt=fmt)

    def sql(self, query: str) -> pa.Table:
        """Run a read query of your own (DuckDB SQL) over the store's tables, as an Arrow
        table. Only reads run (one SELECT, WITH, FROM, DESCRIBE, SHOW or EXPLAIN statement):
        the store changes through parcours's own operations, which keep its invariants."""
        return self.store.engine.read_query(query)

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
    identity_rules(resolved)  # every capability's table checked before the store opens
    automation_settings(resolved)
    opened = Store.open(resolved, read_only=read_only)
    if not read_only:
        from parcours.collect.live.writer import recover_journal

        # Events a server acknowledged but had not loaded when it stopped (a crash).
        recover_journal(opened)
    return Parcours(opened)
