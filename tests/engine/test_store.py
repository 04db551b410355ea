"""The store's schema is versioned: an existing store opens, a newer one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

import parcours
from parcours.engine.duckdb import DuckDBEngine
from parcours.errors import QueryError, SchemaVersionError, StoreError
from parcours.store import migrations
from parcours.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate
from parcours.store.schema import EVENT_COLUMN_NAMES


def test_new_store_has_every_table_at_the_latest_version(tmp_path: Path) -> None:
    with parcours.connect(tmp_path / "s.duckdb") as p:
        tables = set(
            p.sql("SELECT table_name FROM information_schema.tables").column(0).to_pylist()
        )
        columns = (
            p.sql(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' "
                "ORDER BY ordinal_position"
            )
            .column(0)
            .to_pylist()
        )
    assert {"events", "quarantine", "imports", "schema_migrations"} <= tables
    assert tuple(columns) == EVENT_COLUMN_NAMES


def test_reopening_applies_nothing_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with parcours.connect(path) as p:
        p.store.engine.execute(
            "INSERT INTO imports (import_id, source, path, started_at, status) "
            "VALUES ('i', 's', 'p', now(), 'completed')"
        )
    engine = DuckDBEngine(path)
    assert migrate(engine) == [] and current_version(engine) == LATEST_VERSION
    assert engine.scalar("SELECT count(*) FROM imports") == 1
    engine.close()


def test_a_store_from_a_newer_parcours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with parcours.connect(path) as p:
        p.store.engine.execute(
            f"INSERT INTO schema_migrations VALUES ({LATEST_VERSION + 1}, 'future', now())"
        )
    with pytest.raises(SchemaVersionError, match="upgrade parcours"):
        parcours.connect(path)


def test_migrations_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_a_lookup_index_lost_in_a_crash_is_built_again_at_the_next_open(tmp_path: Path) -> None:
    """A full resolve drops the lookup indexes while it rewrites the tables; a process killed
    then leaves them missing, and the next writable open builds them again."""
    path = tmp_path / "store.duckdb"
    with parcours.connect(path) as p:
        p.store.engine.execute_script("DROP INDEX customer_events_customer")
    with parcours.connect(path) as p:
        names = p.sql("SELECT index_name FROM duckdb_indexes()").column(0).to_pylist()
    assert {"customer_events_customer", "identity_map_customer"} <= set(names)


def test_v5_numbers_the_event_names_a_v4_store_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before v5 has customer_events without name numbers: the migration
    numbers every name they hold (an event's name, else its type) and fills the column."""
    engine = DuckDBEngine(tmp_path / "s.duckdb")
    with monkeypatch.context() as v4:
        v4.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
        v4.setattr(migrations, "LATEST_VERSION", 4)
        migrations.migrate(engine)
    engine.execute(
        "INSERT INTO customer_events (customer_id, customer_key, event_key, occurred_at, "
        "source, event_id, channel, type, name) VALUES "
        "('c1', 1, 1, now(), 's', 'e1', 'web', 'track', 'Viewed'), "
        "('c1', 1, 2, now(), 's', 'e2', 'web', 'identify', NULL), "
        "('c2', 2, 3, now(), 's', 'e3', 'call', 'track', 'Viewed')"
    )
    assert [m.version for m in migrate(engine)] == list(range(5, LATEST_VERSION + 1))
    named = engine.query(
        "SELECT e.event_id, n.name FROM customer_events e JOIN event_names n "
        "ON n.code = e.name_code ORDER BY e.event_id"
    ).to_pylist()
    assert named == [
        {"event_id": "e1", "name": "Viewed"},
        {"event_id": "e2", "name": "identify"},
        {"event_id": "e3", "name": "Viewed"},
    ]
    assert engine.scalar("SELECT count(*) FROM event_names") == 2
    engine.close()


def test_a_file_that_is_not_a_duckdb_database_is_refused_and_left_untouched(
    tmp_path: Path,
) -> None:
    """DuckDB would open a CSV given as a database as a view over it, in memory: an import
    "into" it would report rows stored and keep none. It is refused before connecting."""
    victim = tmp_path / "victim.csv"
    victim.write_bytes(b"a,b\n1,2\n")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="not a DuckDB database file") as raised:
            parcours.connect(victim, read_only=read_only)
        assert "new file (such as parcours.duckdb)" in raised.value.message
    assert victim.read_bytes() == b"a,b\n1,2\n"


def test_an_empty_file_or_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.duckdb").touch()
    with pytest.raises(StoreError, match="not a DuckDB database file"):
        parcours.connect(tmp_path / "empty.duckdb")
    with pytest.raises(StoreError, match="is a directory"):
        parcours.connect(tmp_path)


def test_a_duckdb_database_of_other_tables_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """Someone's own DuckDB file is not turned into a store: no parcours table is added."""
    path = tmp_path / "analytics.duckdb"
    engine = DuckDBEngine(path)
    engine.execute_script("CREATE TABLE orders (id INTEGER); CREATE VIEW recent AS SELECT 1")
    engine.close()
    for read_only in (False, True):
        with pytest.raises(StoreError, match=r"holds other tables \(main.orders, main.recent\)"):
            parcours.connect(path, read_only=read_only)
    engine = DuckDBEngine(path, read_only=True)
    tables = engine.query("SELECT table_name FROM information_schema.tables ORDER BY 1")
    engine.close()
    assert tables.column(0).to_pylist() == ["orders", "recent"]


def test_an_empty_duckdb_database_or_a_killed_first_migration_becomes_a_store(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.duckdb"
    DuckDBEngine(empty).close()
    killed = tmp_path / "killed.duckdb"
    engine = DuckDBEngine(killed)
    # What `migrate` creates before the first migration's transaction.
    engine.execute_script(
        "CREATE TABLE schema_migrations ("
        "version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMPTZ)"
    )
    engine.close()
    for path in (empty, killed):
        with parcours.connect(path) as p:
            assert current_version(p.store.engine) == LATEST_VERSION


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM events",
        "DROP TABLE events",
        "CREATE TABLE mine AS SELECT 1",
        "COMMIT; DELETE FROM events",
        "SELECT 1; DELETE FROM events",
        "ATTACH 'other.duckdb' AS other",
        "COPY events TO 'out.csv'",
        "SET threads = 1",
        "EXPLAIN ANALYZE COPY (SELECT 42) TO 'leak.csv'",
        "explain  analyse SET memory_limit = '1MB'",
        "EXPLAIN ANALYZE CHECKPOINT",
    ],
)
def test_p_sql_only_reads(p: parcours.Parcours, statement: str) -> None:
    """`p.sql` is for reading: a statement that could change the store (or the session's
    settings) is refused before it runs, and the store keeps its tables and rows."""
    before = p.sql("SELECT count(*) AS n FROM events").to_pylist()
    with pytest.raises(QueryError, match="Only one query that reads"):
        p.sql(statement)
    assert p.sql("SELECT count(*) AS n FROM events").to_pylist() == before
    assert "mine" not in p.sql("SHOW TABLES").column("name").to_pylist()


def test_p_sql_reads_and_names_the_mistake(p: parcours.Parcours) -> None:
    assert p.sql("WITH t AS (SELECT 2 AS n) FROM t").to_pylist() == [{"n": 2}]
    assert "event_id" in p.sql("DESCRIBE events").column("column_name").to_pylist()
    with pytest.raises(QueryError, match="nosuch") as raised:
        p.sql("SELECT nosuch FROM events")
    assert "DESCRIBE events" in raised.value.message
    assert p.sql("EXPLAIN SELECT count(*) FROM events").column(0).to_pylist() == ["physical_plan"]
    with pytest.raises(QueryError, match=r"nofile\.csv"):
        p.sql("SELECT * FROM read_csv('nofile.csv')")


def test_v6_gives_a_v5_store_an_empty_suppression_list_and_its_own_salt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before v6 opens with the suppression list erasure writes; each store
    draws its own salt, so a hash in one means nothing in another."""
    stores = []
    for name in ("a.duckdb", "b.duckdb"):
        engine = DuckDBEngine(tmp_path / name)
        with monkeypatch.context() as v5:
            v5.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
            v5.setattr(migrations, "LATEST_VERSION", 5)
            migrations.migrate(engine)
        assert current_version(engine) == 5
        engine.close()
        stores.append(tmp_path / name)
    salts = []
    for path in stores:
        with parcours.connect(path) as p:
            assert current_version(p.store.engine) == LATEST_VERSION
            assert p.sql("SELECT count(*) AS n FROM erased_identifiers").to_pylist() == [{"n": 0}]
            salts += p.sql("SELECT salt FROM erasure_salt").column(0).to_pylist()
    assert len(salts) == 2 and len(set(salts)) == 2 and all(len(s) == 64 for s in salts)
