"""The engine interface: the one seam between parcours and a database.

Query builders everywhere else are pure functions that return sqlglot expressions written in
DuckDB's dialect. An `Engine` renders them in its own dialect, runs them, and answers in Arrow.
An engine adds only a few hooks (`_run`, `_fetch`, `_register`...); rendering, error wrapping
and the transaction helper live here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from parcours.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa
    from splink.internals.database_api import DatabaseAPI
    from sqlglot import exp

SOURCE_DIALECT = "duckdb"
"""The dialect every builder writes in; engines translate from it."""

Query: TypeAlias = "exp.Expression | str"


@dataclass(frozen=True)
class Dialect:
    """What differs between engines, in one object rather than `if engine == ...` branches."""

    name: str
    sqlglot_dialect: str


def render(query: Query, dialect: Dialect) -> str:
    """SQL text for `query` in `dialect`; plain strings are taken to be DuckDB SQL."""
    # Imported here, where SQL is translated: the source engine runs its builders' text as it
    # is (`Engine._sql`), and a command should not spend a tenth of a second importing sqlglot.
    import sqlglot

    expression = (
        sqlglot.parse_one(query, dialect=SOURCE_DIALECT) if isinstance(query, str) else query
    )
    return expression.sql(dialect=dialect.sqlglot_dialect)


class Engine(ABC):
    """Runs query expressions and returns Arrow tables."""

    dialect: Dialect
    _in_transaction: bool = False

    def query(self, query: Query, params: list[Any] | None = None) -> pa.Table:
        """Run a query and return its whole result as an Arrow table."""
        return self._fetch(self._sql(query), params or [])

    def read_query(self, sql: str) -> pa.Table:
        """Run a user's own query, which may only read: one SELECT (or EXPLAIN) statement, in
        a read-only transaction of a session of its own. Anything else is refused, not run."""
        return self._fetch_read_only(sql)

    def scalar(self, query: Query, params: list[Any] | None = None) -> Any:
        """Run a query that returns one value."""
        table = self.query(query, params)
        return table.column(0)[0].as_py() if table.num_rows else None

    def execute(self, statement: Query, params: list[Any] | None = None) -> None:
        """Run a statement for its effect (DDL, INSERT, DELETE...)."""
        self._run(self._sql(statement), params or [])

    def write(self, statement: Query, params: list[Any] | None = None) -> int:
        """Run an INSERT, UPDATE or DELETE and return how many rows it changed."""
        return self._write(self._sql(statement), params or [])

    def execute_script(self, script: str) -> None:
        """Run engine-native SQL as is: migrations and other DDL written for this engine."""
        self._run(script, [])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all. A transaction opened inside
        another joins it: a step that is atomic on its own (one score's write) is part of the
        caller's whole when the caller opened one (a refresh of every score)."""
        if self._in_transaction:
            yield
            return
        self._run("BEGIN TRANSACTION", [])
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self._run("ROLLBACK", [])
            raise
        self._in_transaction = False
        self._run("COMMIT", [])

    def copy_rows(self, name: str, table: str, where: str) -> None:
        """A temporary table `name` holding the rows of `table` where `where` holds: a few
        customers' events, read once by every step that needs them."""
        self._run(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {table} WHERE {where}", [])

    @contextmanager
    def registered(self, name: str, table: pa.Table | pa.RecordBatch) -> Iterator[str]:
        """Expose an Arrow table to queries under `name` for the duration of the block."""
        self._register(name, table)
        try:
            yield name
        except BaseException:
            # Inside a failed transaction the engine may refuse even this: the original error
            # is the one worth seeing (a later register of the same name replaces it anyway).
            with suppress(Exception):
                self._unregister(name)
            raise
        self._unregister(name)

    @contextmanager
    def bulk_load(self, memory_limit: str | None) -> Iterator[None]:
        """Settings for loading many rows, for the block: the memory cap (e.g. '1GB'; None
        leaves it), and no promise to keep rows in insertion order (no query depends on it,
        and an engine loads faster without it)."""
        self._set_bulk(True)
        if memory_limit is not None:
            self._set_memory_limit(memory_limit)
        try:
            yield
        finally:
            self._set_bulk(False)
            if memory_limit is not None:
                self._set_memory_limit(None)

    # --- the log: a long-running writer's housekeeping -------------------------------------

    def defer_checkpoints(self, log_limit: str) -> None:  # noqa: B027 (optional: no log, no-op)
        """Let the write-ahead log grow to `log_limit` (e.g. '512MB') before the engine folds
        it into the store on its own, at the end of whichever commit crosses it. A writer
        that commits every second (the server) calls `checkpoint` at quiet moments instead.
        Engines without a log of their own ignore it."""

    def checkpoint(self) -> bool:
        """Fold the write-ahead log into the store now; False when another session's open
        transaction holds it off (the next quiet moment tries again)."""
        return True

    def log_bytes(self) -> int:
        """How much the write-ahead log holds, not yet folded into the store."""
        return 0

    def linker_api(self) -> DatabaseAPI[Any]:
        """Splink's database API on this engine's own session, for probabilistic matching
        (`parcours.identity.probabilistic`): Splink's SQL runs where the records are, reads
        the tables this session made, and leaves its results where this session reads them.

        Splink serves DuckDB, Spark and Postgres; an engine without the hook says so up front.
        """
        raise ConfigError(
            f"Probabilistic matching is not available on the {self.dialect.name} engine",
            "run `match_people` on a store opened with the duckdb engine",
            where="settings: engine / PARCOURS_ENGINE",
        )

    def _sql(self, query: Query) -> str:
        # Plain strings are trusted DuckDB SQL from our own builders; the source engine runs
        # them unparsed, which keeps DuckDB-only syntax intact and saves a parse per batch.
        if isinstance(query, str) and self.dialect.sqlglot_dialect == SOURCE_DIALECT:
            return query
        return render(query, self.dialect)

    @abstractmethod
    def _run(self, sql: str, params: list[Any]) -> None: ...

    @abstractmethod
    def _write(self, sql: str, params: list[Any]) -> int: ...

    @abstractmethod
    def _fetch(self, sql: str, params: list[Any]) -> pa.Table: ...

    @abstractmethod
    def _fetch_read_only(self, sql: str) -> pa.Table: ...

    @abstractmethod
    def _register(self, name: str, table: pa.Table | pa.RecordBatch) -> None: ...

    @abstractmethod
    def _unregister(self, name: str) -> None: ...

    @abstractmethod
    def _memory_limit(self) -> str: ...

    @abstractmethod
    def _set_bulk(self, bulk: bool) -> None: ...

    @abstractmethod
    def _set_memory_limit(self, limit: str | None) -> None:
        """Set the cap; None restores the one the engine was opened with."""

    @abstractmethod
    def fork(self) -> Engine:
        """Another session on the same store, for use from another thread."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
