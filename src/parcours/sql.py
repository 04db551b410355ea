"""Quoting for SQL built as text: every user-supplied name or value goes through these.

The builders write DuckDB SQL, whose rule is the SQL standard's: a value is written between
single quotes, a name between double quotes, and the quote inside either is doubled; nothing
else is special (a backslash or a newline stands for itself). That is all sqlglot's quoting
does for DuckDB, and tests/unit/test_sql.py holds the two equal; it is written here because
importing sqlglot takes a tenth of a second that a command such as a funnel, which quotes its
step names and nothing else, would spend before its work.
"""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted identifier, safe for any column name a file or a user brings."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """A quoted string literal, safe for any value a file or a user brings."""
    return "'" + value.replace("'", "''") + "'"


def json_path(key: str) -> str:
    """The JSON path of a top-level key, whatever its name (quotes and backslashes escaped):
    give it to `lit` for `json_extract_string(column, path)`."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
