"""The engine seam: Arrow out, transactions, registered Arrow inputs, and builders that render
for another dialect (the Spark engine will run the same builders)."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlglot

from parcours.engine import Dialect, render
from parcours.engine.duckdb import DuckDBEngine
from parcours.store import stats

SPARK = Dialect(name="spark", sqlglot_dialect="spark")


def test_queries_answer_in_arrow(memory_engine: DuckDBEngine) -> None:
    table = memory_engine.query("SELECT 1 AS one, 'a' AS letter")
    assert isinstance(table, pa.Table) and table.to_pylist() == [{"one": 1, "letter": "a"}]


def test_sqlglot_expressions_run_too(memory_engine: DuckDBEngine) -> None:
    expression = sqlglot.select("x").from_("t")
    memory_engine.execute_script("CREATE TABLE t AS SELECT range AS x FROM range(3)")
    assert memory_engine.query(expression).column("x").to_pylist() == [0, 1, 2]


def test_a_failed_transaction_leaves_nothing(memory_engine: DuckDBEngine) -> None:
    memory_engine.execute_script("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), memory_engine.transaction():
        memory_engine.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("crash before commit")
    assert memory_engine.scalar("SELECT count(*) FROM t") == 0


def test_a_transaction_inside_another_joins_it(memory_engine: DuckDBEngine) -> None:
    """A step atomic on its own (one score's write) is part of its caller's whole: an error
    after the inner block has closed still takes the inner block's rows away."""
    memory_engine.execute_script("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), memory_engine.transaction():
        with memory_engine.transaction():
            memory_engine.execute("INSERT INTO t VALUES (1)")
        assert memory_engine.scalar("SELECT count(*) FROM t") == 1
        raise RuntimeError("crash after the inner block")
    assert memory_engine.scalar("SELECT count(*) FROM t") == 0
    with memory_engine.transaction(), memory_engine.transaction():
        memory_engine.execute("INSERT INTO t VALUES (2)")
    assert memory_engine.scalar("SELECT sum(x) FROM t") == 2


def test_copy_rows_holds_exactly_the_rows_the_condition_selects(
    memory_engine: DuckDBEngine,
) -> None:
    """The two-step copy (row numbers, then the rows) against the plain filter."""
    memory_engine.execute_script(
        "CREATE TABLE t AS SELECT i % 97 AS k, i, repeat('x', i % 13) AS text "
        "FROM range(300000) r(i)"
    )
    memory_engine.copy_rows("picked", "t", "k IN (3, 50)")
    copied = memory_engine.query("SELECT * FROM picked ORDER BY i")
    assert copied.equals(memory_engine.query("SELECT * FROM t WHERE k IN (3, 50) ORDER BY i"))
    assert copied.num_rows == 2 * 300000 // 97 + 1


def test_registered_arrow_tables_are_queryable_only_inside_the_block(
    memory_engine: DuckDBEngine,
) -> None:
    with memory_engine.registered("batch", pa.table({"x": [1, 2]})) as name:
        assert memory_engine.scalar(f"SELECT sum(x) FROM {name}") == 3
    with pytest.raises(Exception, match="batch"):
        memory_engine.query("SELECT * FROM batch")


# Written by hand from the DuckDB builders: the same query in Spark SQL. Where the dialects
# differ the text must too: Spark explodes a list where DuckDB unnests it, and sorts nulls first
# in an ascending order where DuckDB sorts them last, so the order is spelled out.
SPARK_SQL = {
    "totals": (
        stats.totals_query(),
        "SELECT COUNT(*) AS events, COUNT(DISTINCT source) AS sources, "
        "MIN(occurred_at) AS first_occurred_at, MAX(occurred_at) AS last_occurred_at, "
        "(SELECT COUNT(*) FROM quarantine WHERE status = 'open') AS quarantined FROM events",
    ),
    "by_channel": (
        stats.by_column_query("channel"),
        "SELECT channel, COUNT(*) AS events FROM events "
        "GROUP BY ALL ORDER BY events DESC, channel NULLS LAST",
    ),
    "by_day": (
        stats.by_day_query(),
        "SELECT CAST(occurred_at AS DATE) AS day, COUNT(*) AS events FROM events "
        "GROUP BY ALL ORDER BY day NULLS LAST",
    ),
    "identifiers": (
        stats.identifiers_query(),
        "SELECT type, COUNT(DISTINCT value) AS distinct_values, COUNT(*) AS occurrences FROM ("
        "SELECT 'anonymous_id' AS type, anonymous_id AS value FROM events "
        "WHERE NOT anonymous_id IS NULL "
        "UNION ALL SELECT 'user_id', user_id FROM events WHERE NOT user_id IS NULL "
        "UNION ALL SELECT i.type, i.value FROM (SELECT EXPLODE(identifiers) AS i FROM events)) "
        "GROUP BY ALL ORDER BY distinct_values DESC, type NULLS LAST",
    ),
    "quarantine": (
        stats.quarantine_query(),
        "SELECT source, reason_code, COUNT(*) AS records FROM quarantine "
        "WHERE status = 'open' GROUP BY ALL "
        "ORDER BY records DESC, source NULLS LAST, reason_code NULLS LAST",
    ),
}


@pytest.mark.parametrize("name", SPARK_SQL)
def test_store_builders_render_as_spark_sql(name: str) -> None:
    query, spark = SPARK_SQL[name]
    assert render(query, SPARK) == spark


def test_bulk_load_settings_are_lifted_after_the_block(memory_engine: DuckDBEngine) -> None:
    before = memory_engine._memory_limit()
    with memory_engine.bulk_load("256MB"):
        assert memory_engine._memory_limit() != before
        assert memory_engine.scalar("SELECT current_setting('preserve_insertion_order')") is False
    assert memory_engine._memory_limit() == before
    assert memory_engine.scalar("SELECT current_setting('preserve_insertion_order')") is True
