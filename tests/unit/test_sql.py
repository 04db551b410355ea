"""Quoting (`parcours.sql`): every name and value a file or a user brings comes out as the one
name or value it was. The peers: sqlglot's quoting for DuckDB (what parcours used before it
quoted by itself) and DuckDB reading the quoted text back."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from parcours.sql import ident, lit

AWKWARD = [
    "plain",
    "",
    "o'brien",
    "''",
    'say "hi"',
    "back\\slash\\",
    "\\'",
    "new\nline\r\n",
    "tab\tand\x00nul",
    "é, 日本, 😀",
    "$$dollar$$",
    "{braces} and %s",
    "a'; DROP TABLE events; --",
    "-- comment",
    "/* c */",
    " spaced ",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_quoting_is_sqlglots_for_duckdb(text: str) -> None:
    assert lit(text) == exp.Literal.string(text).sql(dialect="duckdb")
    assert ident(text) == exp.to_identifier(text, quoted=True).sql(dialect="duckdb")


def test_duckdb_reads_every_quoted_value_and_name_back() -> None:
    names = [t for t in AWKWARD if t and "\x00" not in t]  # DuckDB refuses these as names
    with duckdb.connect() as con:
        values = con.execute(f"SELECT {', '.join(lit(t) for t in AWKWARD)}").fetchone()
        assert list(values or ()) == AWKWARD
        con.execute(f"CREATE TABLE t ({', '.join(f'{ident(n)} INT' for n in names)})")
        columns = con.execute("SELECT name FROM pragma_table_info('t')").fetchall()
        assert [c[0] for c in columns] == names
