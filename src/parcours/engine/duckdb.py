"""The embedded engine: one DuckDB file, the default. The only module that imports duckdb."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from parcours.engine.base import Dialect, Engine
from parcours.errors import QueryError, StoreError, StoreLockedError

if TYPE_CHECKING:
    import pyarrow as pa
    from splink import DuckDBAPI

DUCKDB = Dialect(name="duckdb", sqlglot_dialect="duckdb")
SCAN_CHUNK_ROWS = 32_768
"""Rows per record batch of a registered Arrow table: enough batches for every thread."""

_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")


class DuckDBEngine(Engine):
    """DuckDB on a file (or in memory with `path=None`), with timestamps shown in UTC."""

    dialect = DUCKDB

    def __init__(
        self,
        path: Path | None,
        *,
        read_only: bool = False,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self.path = path
        self._opened_memory_limit = memory_limit
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        if path is not None and read_only and not path.exists():
            raise StoreError(
                f"There is no store at {path}",
                "run `parcours demo` or `parcours import` first, or point --store "
                "(PARCOURS_STORE) at an existing store",
            )
        if path is not None:
            _refuse_other_files(path)
        try:
            self._con = duckdb.connect(
                str(path) if path else ":memory:", read_only=read_only, config=config
            )
        except duckdb.IOException as error:
            raise _open_error(path, error) from error
        # Timestamps are UTC instants; showing them in UTC keeps every output comparable.
        self._con.execute("SET TimeZone = 'UTC'")

    def _run(self, sql: str, params: list[Any]) -> None:
        self._guard(lambda: self._con.execute(sql, params or None))

    def _write(self, sql: str, params: list[Any]) -> int:
        row = self._guard(lambda: self._con.execute(sql, params or None).fetchone())
        return int(row[0]) if row else 0

    def _fetch(self, sql: str, params: list[Any]) -> pa.Table:
        return self._guard(lambda: self._con.sql(sql, params=params or None).to_arrow_table())

    def _fetch_read_only(self, sql: str) -> pa.Table:
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as error:
            raise QueryError(f"The query cannot be parsed: {error}", _QUERY_FIX) from error
        kinds = [statement.type for statement in statements]
        if len(kinds) == 1 and _RUNS_WHAT_IT_EXPLAINS.match(statements[0].query):
            kinds = [duckdb.StatementType.EXECUTE]  # EXPLAIN ANALYZE runs its statement
        if len(kinds) != 1 or kinds[0] not in _READ_STATEMENTS:
            raise QueryError(
                "Only one query that reads can run here (SELECT, WITH ... SELECT, FROM, "
                f"DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); this text has {_kinds(kinds)}",
                "send a single read query; the store changes only through parcours's own "
                "commands (import, resolve, merge, erase...)",
            )
        session = self._con.cursor()
        try:
            session.execute("SET TimeZone = 'UTC'")
            session.execute("BEGIN TRANSACTION READ ONLY")
            return session.sql(sql).to_arrow_table()
        except duckdb.Error as error:  # the user's query, not the store: say what DuckDB said
            raise QueryError(f"The query failed: {error}", _QUERY_FIX) from error
        finally:
            session.close()

    def copy_rows(self, name: str, table: str, where: str) -> None:
        # Filtered in one pass, DuckDB decompresses every column of each row group a
        # matching row lies in: a thousand customers' events, spread over the whole table,
        # would read all of it. The row numbers first (the condition's columns only), then
        # those rows: a quarter of the time for a thousand customers among 400,000.
        self._run(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {table} "
            f"WHERE rowid IN (SELECT rowid FROM {table} WHERE {where})",
            [],
        )

    def _register(self, name: str, table: pa.Table | pa.RecordBatch) -> None:
        # DuckDB's threads share out an Arrow table by its record batches: a table of one
        # batch (a CSV block, a Parquet row group) would be read by one thread. Slices are
        # views, no copy. (Whoever passes a table has loaded Arrow already.)
        import pyarrow as pa

        if isinstance(table, pa.Table) and table.num_rows > SCAN_CHUNK_ROWS:
            table = pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_CHUNK_ROWS))
        self._con.register(name, table)

    def _unregister(self, name: str) -> None:
        self._con.unregister(name)

    def _set_bulk(self, bulk: bool) -> None:
        # Without insertion order DuckDB writes a batch with every thread.
        self._run(f"SET preserve_insertion_order = {'false' if bulk else 'true'}", [])

    def _memory_limit(self) -> str:
        return str(self.scalar("SELECT current_setting('memory_limit')"))

    def _set_memory_limit(self, limit: str | None) -> None:
        limit = limit or self._opened_memory_limit
        if limit is None:
            self._run("RESET memory_limit", [])
        else:
            self._run(f"SET memory_limit = '{limit.replace(chr(39), '')}'", [])

    def defer_checkpoints(self, log_limit: str) -> None:
        # DuckDB checkpoints at the commit that takes its log past 16 MB, and a checkpoint
        # costs about half a second whatever it folds (the indexes are written whole): for
        # the server's commit a second, a checkpoint every other resolve.
        self._run(f"SET checkpoint_threshold = '{log_limit.replace(chr(39), '')}'", [])

    def checkpoint(self) -> bool:
        try:
            self._guard(lambda: self._con.execute("CHECKPOINT"))
        except duckdb.TransactionException:  # a reader's transaction is open: later
            return False
        return True

    def log_bytes(self) -> int:
        if self.path is None:
            return 0
        try:
            return Path(f"{self.path}.wal").stat().st_size
        except FileNotFoundError:
            return 0

    def linker_api(self) -> DuckDBAPI:
        """Splink on this very connection, its work tables made TEMP: they live in memory
        (spilling to DuckDB's temp directory), never in the store file, and go with the
        session. Splink reads this session's temp tables and leaves its predictions as one."""
        return _session_api_class()(connection=self._con)

    def fork(self) -> DuckDBEngine:
        twin = object.__new__(DuckDBEngine)
        twin.path, twin._opened_memory_limit = self.path, self._opened_memory_limit
        twin._con = self._con.cursor()
        twin._con.execute("SET TimeZone = 'UTC'")
        return twin

    def close(self) -> None:
        self._con.close()

    def _guard(self, call: Any) -> Any:
        try:
            return call()
        except duckdb.IOException as error:
            raise StoreError(
                f"The store could not be read or written: {error}",
                "check the disk has free space and the store file is writable",
                where=str(self.path),
            ) from error


_READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
_RUNS_WHAT_IT_EXPLAINS = re.compile(r"\s*EXPLAIN\s+ANALY[SZ]E\b", re.IGNORECASE)
_QUERY_FIX = (
    "check the SQL (DuckDB's dialect) and the table and column names: `SHOW TABLES` lists the "
    "tables, `DESCRIBE events` the columns of one"
)


def _kinds(kinds: list[Any]) -> str:
    if not kinds:
        return "no statement"
    names = ", ".join(str(kind.name) for kind in kinds)
    return f"{len(kinds)} statements ({names})" if len(kinds) > 1 else f"one {names} statement"


@cache
def _session_api_class() -> type[DuckDBAPI]:
    # Imported on first use: Splink takes a fifth of a second to import, and only matching
    # needs it.
    from splink import DuckDBAPI

    class SessionDuckDBAPI(DuckDBAPI):
        """Splink's DuckDB API with its one table-making hook making session tables."""

        def _setup_for_execute_sql(self, sql: str, physical_name: str) -> str:
            self.delete_table_from_database(physical_name)
            return f"CREATE TEMP TABLE {physical_name} AS\n{sql}"

    return SessionDuckDBAPI


DUCKDB_MAGIC = b"DUCK"
"""What a DuckDB database file holds right after its header's 8-byte checksum."""


def _refuse_other_files(path: Path) -> None:
    """Refuse a store path that is a directory or a file other than a DuckDB database.

    Checked before connecting: DuckDB opens a CSV, Parquet or JSON file given as a database
    as views over it, in memory, so an import "into" it would report rows stored and keep none.
    """
    if path.is_dir():
        raise StoreError(
            f"The store path {path} is a directory",
            f"point --store (PARCOURS_STORE) at a file, such as {path / 'parcours.duckdb'}",
            where=str(path),
        )
    if not path.exists():
        return
    with path.open("rb") as handle:
        header = handle.read(12)
    if header[8:12] != DUCKDB_MAGIC:
        raise StoreError(
            f"{path} is not a parcours store: it is not a DuckDB database file, and parcours "
            "never writes into other files",
            "point --store (PARCOURS_STORE) at an existing parcours store, or at a new file "
            "(such as parcours.duckdb) to make one",
            where=str(path),
        )


def _open_error(path: Path | None, error: duckdb.IOException) -> StoreError:
    text = str(error)
    if "lock" in text.lower():
        holder = _LOCK_HOLDER.search(text)
        who = f"process {holder.group(1)}" if holder else "another process"
        return StoreLockedError(
            f"The store {path} is in use by {who} (probably `parcours serve` or another import)",
            "wait for that process to finish or stop it, then run the command again",
            where=str(path),
        )
    return StoreError(
        f"The store {path} could not be opened: {text}",
        "check the path exists, is a DuckDB file written by parcours, and is readable",
        where=str(path),
    )
