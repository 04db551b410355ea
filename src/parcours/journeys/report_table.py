"""The report's tables: each column says what kind of number it holds, and is written so.

A share is a percentage, a count a whole number, money has two decimals, a duration reads as
time ("12 min 22 s", "44 days"), a score has one decimal. The kind is declared where a table is
built, never guessed from the value: an effort of 0.4 is a score, not "40%".
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "count", "share", "money", "duration", "score"]

MISSING = "–"
"""What a cell without a value shows."""


@dataclass(frozen=True)
class Column:
    """One column: the row key it reads, the title a reader sees, and the kind of number."""

    key: str
    title: str
    kind: Kind


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]

    def cells(self) -> list[list[str]]:
        """Every row's values, written by their column's kind."""
        return [[written(row.get(c.key), c.kind) for c in self.columns] for row in self.rows]

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c.title)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in self.cells()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def written(value: Any, kind: Kind) -> str:
    """`value` as a reader expects a number of this kind: written(0.284, "share") == "28%"."""
    if value is None:
        return MISSING
    if kind == "text":
        return str(value)
    number = float(value)
    if kind == "count":
        return f"{round(number):,}"
    if kind == "share":
        return percent(number)
    if kind == "money":
        return f"{number:,.2f}"
    if kind == "duration":
        return duration(number)
    return f"{number:,.1f}"


def percent(share: float) -> str:
    """A share as a percentage, with a decimal only where a whole number would mislead: a
    small share that is not zero is never written "0%", nor a share short of 1 "100%"."""
    text = f"{share:.0%}"
    if (text == "0%" and share > 0) or (text == "100%" and share < 1):
        text = f"{share:.1%}"
    return text


def duration(seconds: float) -> str:
    """Seconds as a person says them: 0, 45 s, 12 min 22 s, 3 h 5 min, 7 days, 2.5 days."""
    if not seconds:
        return "0"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if seconds < 86400:
        hours, rest = divmod(round(seconds / 60), 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days = seconds / 86400
    text = f"{days:.1f}".removesuffix(".0") if days < 10 else f"{days:,.0f}"
    return f"{text} day" if text == "1" else f"{text} days"
