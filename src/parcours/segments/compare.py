"""Comparators and words: a leaf's comparison as SQL (never NULL) and as a sentence.

Comparator values are written by `parcours.sql.lit` (text) or from Python floats (numbers,
ages in seconds); a value of the wrong kind is a DefinitionError naming its place.
"""

from __future__ import annotations

import math
from typing import Any

from parcours.segments.definition import Comparison, DefinitionError, window_seconds
from parcours.sql import lit

COMPARATOR_SQL = {"at_least": ">=", "at_most": "<=", "above": ">", "below": "<"}
WORDS = {
    "at_least": "at least",
    "at_most": "at most",
    "above": "above",
    "below": "below",
    "equals": "equals",
    "not_equals": "is not",
    "in": "in",
    "between": "between",
}


def compare(value: str, comparison: Comparison, kind: str, path: str) -> str:
    """SQL holding when `value` meets every comparator of `comparison` (never NULL).
    `kind`: number, text, age (seconds, compared with windows), or auto (a trait's text,
    compared as a number when the comparator's value is one). With no comparator the value
    must be there: a count or a sum above zero, anything else not missing."""
    parts = []
    if not comparison.comparators():
        there = f"{value} > 0" if kind == "number" else f"{value} IS NOT NULL"
        return f"coalesce({there}, false)"
    for name, given in comparison.comparators():
        items = list(given) if isinstance(given, list | tuple) else [given]
        if not items:
            raise DefinitionError(
                f"{path}.{name}: an empty list, which no value is in",
                "list at least one value, e.g. in: [Lyon, Paris]",
                where=path,
            )
        subject = value
        if kind == "auto" and all(_is_number(i) for i in items):
            subject, as_ = f"TRY_CAST({value} AS DOUBLE)", "number"
        elif kind == "auto":
            as_ = "text"
        else:
            as_ = kind
        written = [_literal(i, as_, f"{path}.{name}") for i in items]
        if name in COMPARATOR_SQL:
            parts.append(f"{subject} {COMPARATOR_SQL[name]} {written[0]}")
        elif name == "equals":
            parts.append(f"{subject} = {written[0]}")
        elif name == "not_equals":
            parts.append(f"{subject} <> {written[0]}")
        elif name == "in":
            parts.append(f"{subject} IN ({', '.join(written)})")
        else:
            parts.append(f"{subject} BETWEEN {written[0]} AND {written[1]}")
    return f"coalesce({' AND '.join(parts) or 'true'}, false)"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _literal(value: Any, kind: str, path: str) -> str:
    if kind == "age":
        try:
            return repr(window_seconds(value))
        except ValueError as error:
            raise DefinitionError(f"{path}: {error}", "write an age like 90d", where=path) from None
    if kind == "number":
        if not _is_number(value):
            raise DefinitionError(
                f"{path}: {value!r} is not a number, and this value is one",
                "compare it with a number, e.g. at_least: 2",
                where=path,
            )
        if not math.isfinite(float(value)):
            raise DefinitionError(
                f"{path}: {value!r} is not a finite number",
                "compare with a number such as 2 or 1000.5",
                where=path,
            )
        return repr(float(value))
    return lit(text(value))


def text(value: Any) -> str:
    """A value as the store's text holds it: true/false, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def words(comparison: Comparison) -> str:
    said = []
    for name, value in comparison.comparators():
        shown = (
            " and ".join(map(text, value))
            if name == "between"
            else (", ".join(map(text, value)) if isinstance(value, list) else text(value))
        )
        said.append(f"{WORDS[name]} {shown}")
    return (" " + ", ".join(said)) if said else ""


def describe_events(leaf: Any) -> str:
    parts = ["events"]
    if leaf.name:
        parts.append(f"named {leaf.name}")
    if leaf.channel:
        parts.append(f"on {leaf.channel}")
    if leaf.type:
        parts.append(f"of type {leaf.type}")
    for key, value in leaf.properties.items():
        parts.append(f"with {key}={text(value)}")
    if leaf.within:
        parts.append(f"in the last {leaf.within}")
    return " ".join(parts)
