"""The fields a mapping reads from JSON records, in one parse per record.

Parsing is most of what a JSON-lines import costs, so each record is parsed once:
`json_transform` turns it into a struct holding exactly the fields the mapping reads. A field
read as text is a VARCHAR (an object or a number as its JSON text, as `json_extract_string`
gives it); an object read whole (`context`, `properties`) is kept as JSON. When a field is read
both whole and inside (`context` and `context.sessionId`), it is kept whole and its parts are
read from that smaller text, in one call per object.

Struct field names are not case-sensitive, JSON keys are: two keys that differ only in case
(or an empty key) cannot both be struct fields. Their parent object is then kept whole and read
by path; at the top level, every field is read by path from the parsed record (two parses), as
when the mapping reads no field at all.

A record that is not valid JSON gives a NULL struct. One that is valid but not an object (an
array, a string) gives a struct of NULLs, told apart from an object by its first character.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from parcours.sql import lit

STRUCT = "_s"
"""The column holding each record's struct."""
WHOLE_PARTS = "_w"
"""Prefix of the columns listing the parts read inside a field kept whole."""
BY_PATH = "_x"
"""The column listing top-level fields read by path (keys that cannot be struct fields)."""


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    text: bool = False
    whole: bool = False

    def child(self, key: str) -> _Node:
        return self.children.setdefault(key, _Node())

    def kept_whole(self) -> bool:
        return self.whole or (self.text and bool(self.children)) or _awkward(self.children)


def _awkward(children: dict[str, _Node]) -> bool:
    """Keys that cannot all be fields of one struct: empty, or equal but for case."""
    lowered = [k.lower() for k in children]
    return "" in lowered or len(set(lowered)) < len(lowered)


def json_path(field: str) -> str:
    """The JSON path of a source field: dots step into objects (`context.traits.email`)."""
    return _path(field.split("."))


def _path(parts: Iterable[str]) -> str:
    return "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in parts)


class JsonFields:
    """SQL reading the fields at `text_paths` (as text) and `json_paths` (as JSON) from a
    relation with one JSON text per record in `_raw`. Paths are dotted (`context.traits.email`)."""

    def __init__(self, text_paths: Iterable[str], json_paths: Iterable[str]) -> None:
        self._root = _Node()
        for path, as_json in [*((p, False) for p in text_paths), *((p, True) for p in json_paths)]:
            node = self._root
            for key in path.split("."):
                node = node.child(key)
            node.whole |= as_json
            node.text |= not as_json
        # A struct needs a field: with none to read, the record is only parsed.
        self._by_path = _awkward(self._root.children) or not self._root.children
        self._by_path_texts = _leaves(self._root, ())
        self._wholes: dict[tuple[str, ...], list[str]] = {}
        """Each field kept whole that has parts read inside it → those parts' JSON paths."""
        self._plan(self._root, ())

    def _plan(self, node: _Node, at: tuple[str, ...]) -> None:
        if self._by_path:
            return
        for key, child in node.children.items():
            here = (*at, key)
            if child.kept_whole():
                inside = [_path(rest) for rest in _leaves(child, ())]
                if child.text:
                    inside.insert(0, "$")
                if inside:
                    self._wholes[here] = inside
            else:
                self._plan(child, here)

    def columns(self, raw: str = "_raw") -> str:
        """The select list that parses each record once: the struct, then the lists of parts
        read inside whole fields (from the struct's smaller texts)."""
        if self._by_path:
            paths = ", ".join(lit(_path(p)) for p in self._by_path_texts) or "'$.none'"
            return (
                f"TRY_CAST({raw} AS JSON) AS {STRUCT}, "
                f"json_extract_string({STRUCT}, [{paths}]) AS {BY_PATH}"
            )
        structure = json.dumps(_structure(self._root))
        parts = [f"try(json_transform({raw}, {lit(structure)})) AS {STRUCT}"]
        for i, (at, inside) in enumerate(self._wholes.items()):
            parts.append(
                f"json_extract_string({_member(at)}, [{', '.join(map(lit, inside))}]) "
                f"AS {WHOLE_PARTS}{i}"
            )
        return ", ".join(parts)

    def is_object(self, raw: str = "_raw") -> str:
        """True for a record that is a JSON object."""
        if self._by_path:
            return f"coalesce(json_type({STRUCT}) = 'OBJECT', false)"
        return f"({STRUCT} IS NOT NULL AND regexp_matches({raw}, '^\\s*\\{{'))"

    def text(self, path: str) -> str:
        """The field at `path` as text (NULL when absent or null)."""
        parts = tuple(path.split("."))
        if self._by_path:
            return f"{BY_PATH}[{self._by_path_texts.index(parts) + 1}]"
        for i, (at, inside) in enumerate(self._wholes.items()):
            if parts[: len(at)] == at:
                rest = _path(parts[len(at) :]) if len(parts) > len(at) else "$"
                return f"{WHOLE_PARTS}{i}[{inside.index(rest) + 1}]"
        return _member(parts)

    def json(self, path: str) -> str:
        """The field at `path` as JSON (NULL when absent or null)."""
        parts = tuple(path.split("."))
        if self._by_path:
            return _object(STRUCT, parts)
        for at in self._wholes:
            if parts[: len(at)] == at and len(parts) > len(at):
                return _object(_member(at), parts[len(at) :])
        return _member(parts)


def _leaves(node: _Node, at: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The paths below `node` read as text."""
    found = []
    for key, child in node.children.items():
        here = (*at, key)
        if child.text:
            found.append(here)
        found += _leaves(child, here)
    return found


def _structure(node: _Node) -> dict[str, object]:
    """`json_transform`'s structure for `node`'s children."""
    shaped: dict[str, object] = {}
    for key, child in node.children.items():
        if child.kept_whole():
            shaped[key] = "JSON"
        elif child.children:
            shaped[key] = _structure(child)
        else:
            shaped[key] = "VARCHAR"
    return shaped


def _object(json_text: str, parts: Iterable[str]) -> str:
    """The JSON at `parts` inside `json_text`; JSON `null` as NULL, as `json_transform` gives."""
    return f"nullif(json_extract({json_text}, {lit(_path(parts))}), 'null')"


def _member(parts: Iterable[str]) -> str:
    return STRUCT + "".join(f"[{lit(part)}]" for part in parts)
