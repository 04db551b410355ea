"""Quoting for SQL built as text: every user-supplied name or value goes through these."""

from __future__ import annotations

from sqlglot import exp


def ident(name: str) -> str:
    """A quoted identifier, safe for any column name a file or a user brings."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def lit(value: str) -> str:
    """A quoted string literal, safe for any value a file or a user brings."""
    return exp.Literal.string(value).sql(dialect="duckdb")
