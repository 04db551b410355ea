"""Which source fields a mapping names that no record has.

A misspelt field (`outcome: statut`) breaks no single record: each one simply lacks it, and is
stored without it. Only the whole file tells, so a file import notes, batch by batch, which of
the mapped fields some record holds; what is still unseen at the end is named in the import
summary, and a strict import refuses the file before storing anything.

A field with a `default`, or marked `optional: true`, is optional by declaration and is not
checked. CSV and Parquet files
name their fields in their header, so their answer is known before the first record; JSON lines
are asked per batch, only while some field is still unseen: a text search for each field's
key, and a parse of only the records that hold one (see `FieldPresence.observe`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from parcours.collect.json_fields import json_path
from parcours.collect.mapping import FieldSpec, Mapping, closest
from parcours.collect.transform import InputShape
from parcours.engine import Engine
from parcours.errors import MappingError
from parcours.sql import lit

KEYS_KEPT = 200
"""At most this many distinct top-level keys are kept to show which fields the records have."""
KEY_SAMPLE = 1000
"""The records of each batch whose keys are read for that."""


def mapped_fields(mapping: Mapping) -> dict[str, tuple[str, ...]]:
    """What each part of the mapping reads: a label (`outcome`, `identifiers.email`) → the
    source fields it names, any one of which is enough. Fields with a `default` are left out."""
    specs: dict[str, FieldSpec] = {
        **mapping.fields(),
        **{f"identifiers.{kind}": spec for kind, spec in mapping.identifiers.items()},
    }
    if isinstance(mapping.properties, FieldSpec):
        specs["properties"] = mapping.properties
    wanted = {
        label: tuple(spec.sources)
        for label, spec in specs.items()
        if spec.sources and spec.default is None and not spec.optional
    }
    for label, spec in mapping.fields().items():
        if spec.skew is not None:
            wanted[f"{label}.skew.sent"] = (spec.skew.sent,)
            wanted[f"{label}.skew.received"] = (spec.skew.received,)
    if isinstance(mapping.properties, list):
        wanted.update({f"properties.{name}": (name,) for name in mapping.properties})
    return wanted


@dataclass
class FieldPresence:
    """The mapped fields not yet seen in any record, and the top-level keys records have."""

    unseen: dict[str, tuple[str, ...]]
    keys: set[str] = field(default_factory=set)
    per_record: bool = True
    """Whether records must be asked (JSON lines), or the header already answered."""
    objects: int = 0
    """JSON records seen so far: with none (an empty file), no field is missing any."""

    @classmethod
    def of(cls, mapping: Mapping, shape: InputShape) -> FieldPresence:
        presence = cls(mapped_fields(mapping))
        if shape.kind == "columns":
            presence._saw(set(shape.columns))
            presence.keys, presence.per_record = set(shape.columns), False
        return presence

    def observe(self, engine: Engine, relation: str) -> None:
        """Note which unseen fields some JSON record of `relation` (`_raw`) holds.

        A field can only be in a record whose text holds its last key in quotes: that text
        search, with no JSON parse, settles the fields no record names (a misspelt field,
        an optional one this export never has), batch after batch. Only the records that do
        hold such a key are parsed to tell where it is. (A key written with JSON escapes,
        `"\\u0070hone"`, is taken for absent.)"""
        if not (self.unseen and self.per_record):
            return
        names = sorted({name for names in self.unseen.values() for name in names})
        leaves = sorted({name.split(".")[-1] for name in names})
        # One regular expression finds every such key in one pass over each record's text.
        pattern = lit('"(' + "|".join(re.escape(leaf) for leaf in leaves) + ')"')
        texts = engine.query(
            f"SELECT (SELECT list(DISTINCT k) FROM (SELECT unnest(regexp_extract_all("
            f"_raw, {pattern}, 1)) AS k FROM {relation})) AS found, "
            "count(*) FILTER (WHERE starts_with(ltrim(_raw), '{')) AS n "
            f"FROM {relation}"
        ).to_pylist()[0]
        self.objects += texts["n"]
        if len(self.keys) < KEYS_KEPT:
            self.keys.update(self._keys(engine, relation))
        present = set(texts["found"] or [])
        named = [
            (name, lit('"' + name.split(".")[-1] + '"'))
            for name in names
            if name.split(".")[-1] in present
        ]
        if not named:
            return
        # One multi-path `json_exists` asks every such field in one parse of each record.
        paths = ", ".join(lit(json_path(name)) for name, _ in named)
        holding = " OR ".join(f"contains(_raw, {q})" for _, q in named)
        found = ", ".join(f"coalesce(bool_or(_e[{i}]), false)" for i in range(1, len(named) + 1))
        row = engine.query(
            f"SELECT [{found}] AS found FROM (SELECT json_exists(_j, [{paths}]) AS _e "
            f"FROM (SELECT TRY_CAST(_raw AS JSON) AS _j FROM {relation} WHERE {holding}) "
            "WHERE json_type(_j) = 'OBJECT')"
        ).to_pylist()[0]
        self._saw({name for (name, _), seen in zip(named, row["found"], strict=True) if seen})

    @staticmethod
    def _keys(engine: Engine, relation: str) -> list[str]:
        """Top-level keys of the batch's first records: what a refusal lists as the fields the
        records have (records of one export mostly share their keys)."""
        keys = engine.scalar(
            f"SELECT list_distinct(flatten(list(json_keys(_j))))[:{KEYS_KEPT}] FROM ("
            f"SELECT TRY_CAST(_raw AS JSON) AS _j FROM {relation} LIMIT {KEY_SAMPLE}) "
            "WHERE json_type(_j) = 'OBJECT'"
        )
        return list(keys or [])

    def scan(self, engine: Engine, tables: Iterable[pa.Table]) -> None:
        """Read ahead (a strict import, before storing anything) until every field is seen
        or the file ends."""
        for table in tables:
            if not (self.unseen and self.per_record):
                return
            with engine.registered("_parcours_presence", table):
                self.observe(engine, "_parcours_presence")

    def _saw(self, present: set[str]) -> None:
        self.unseen = {
            label: names
            for label, names in self.unseen.items()
            if not any(name in present for name in names)
        }

    def never_found(self) -> dict[str, list[str]]:
        """Label → the source fields it names, for every part of the mapping no record fed."""
        if self.per_record and not self.objects:
            return {}
        return {label: list(names) for label, names in self.unseen.items()}

    def refusal(self, path: str, mapping: str) -> MappingError:
        """The error of a strict import whose file lacks fields the mapping names."""
        missing = "; ".join(
            f"the field {' or '.join(repr(n) for n in names)} the mapping reads for {label}"
            f"{self._hint(names)}"
            for label, names in self.unseen.items()
        )
        have = sorted(self.keys)
        shown = ", ".join(have[:30]) + (", ..." if len(have) > 30 else "")
        return MappingError(
            f"No record of {path} has {missing}; the records have the fields {shown or '(none)'}",
            "correct the field names in the mapping, or import without strict (--strict) to "
            "store the records without these fields",
            where=mapping,
        )

    def _hint(self, names: tuple[str, ...]) -> str:
        near = [hint for name in names if (hint := closest(name, self.keys))]
        return f" (did you mean {near[0]!r}?)" if near else ""
