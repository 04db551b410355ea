"""The import transform: a pure builder from a mapping to one SQL query.

The query reads a relation of source records and returns, for every record, the canonical event
columns plus `_record_no`, `_raw`, `_reason_code` and `_reason`. A record with no reason is an
event; a record with a reason goes to quarantine with it. All of it runs vectorised in the engine.

Two input shapes exist:

* `columns`: one column per source field (CSV, Parquet), plus `_record_no`; `_raw` is made here
  as a JSON object of the record, which is also what quarantine keeps for replay.
* `json`: `_record_no` and `_raw`, one JSON object per record (JSON lines, and every replay).

Besides the event columns, the query gives `_raw` for the records refused (with `keep_raw`, a
stored record's text is in `raw` instead of both), `_record_no`, `_reason_code` and `_reason`.

Records without an id field get a deterministic event id: the MD5 of `_raw`, the record's JSON
text. The same record imported twice therefore has the same id, in any run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parcours.collect import normalise as n
from parcours.collect.json_fields import JsonFields
from parcours.collect.mapping import FieldSpec, Mapping
from parcours.sql import ident, lit
from parcours.store.schema import CHANNELS, EVENT_COLUMNS, EVENT_TYPES

InputKind = Literal["columns", "json"]

NUMBER_FIELDS = ("amount", "wait_seconds", "duration_seconds")
TEXT_FIELDS = ("anonymous_id", "user_id", "session_id", "agent", "team", "text", "name")


@dataclass(frozen=True)
class InputShape:
    """What the relation handed to the transform looks like."""

    kind: InputKind
    columns: tuple[str, ...] = ()
    """Source columns (kind `columns`), in file order."""
    text_columns: frozenset[str] = frozenset()
    """Columns already of text type; others are cast (Parquet numbers, timestamps...)."""
    instant_columns: frozenset[str] = frozenset()
    """Columns already holding instants (Parquet timestamps with a zone): used as they are."""


@dataclass(frozen=True)
class Check:
    code: str
    condition: str
    message: str


def build_transform(
    mapping: Mapping,
    shape: InputShape,
    *,
    relation: str,
    source: str,
    import_id: str,
    max_record_bytes: int,
    future_tolerance_hours: float,
    keep_raw: bool = True,
) -> str:
    """The SQL that turns the records in `relation` into events and quarantine candidates.

    Stages, each computing every expensive expression once: `_src` parses JSON once per
    record; `_a` reads each field as trimmed text after its default and map; `_b` types and
    normalises; `_k` evaluates each check; `_c` names the reasons to refuse. The final
    projection is the event row.
    """
    fields = _FieldReader(shape, mapping)
    # The context is read as JSON, not text.
    texts = {n: _text(fields, spec) for n, spec in mapping.fields().items() if n != "context"}
    ids = {kind: _text(fields, spec) for kind, spec in mapping.identifiers.items()}

    stage_a = {
        **{"f_" + name: expr for name, expr in texts.items()},
        **{"i_" + kind: expr for kind, expr in ids.items()},
        **{"d_" + kind: n.phone_digits(expr) for kind, expr in ids.items() if kind == "phone"},
        "_context": _json_field(fields, mapping.context),
        "_properties": _properties(mapping, shape, fields),
        **_skew_fields(fields, mapping.fields()["occurred_at"]),
        # Timestamps that are already instants skip the text round trip.
        **{
            "x_" + name: f"CAST({ident(column)} AS TIMESTAMPTZ)"
            for name, spec in mapping.fields().items()
            if name in ("occurred_at", "sent_at") and (column := _instant_source(spec, shape))
        },
    }
    stage_b = {
        **{"t_" + name: expr for name, expr in _typed_columns(mapping, texts, shape).items()},
        **{"n_" + kind: _normalised(kind, spec) for kind, spec in mapping.identifiers.items()},
    }
    checks = _checks(mapping, texts, max_record_bytes, future_tolerance_hours)
    # Each condition is evaluated once (`_k`), then read by both the code and the words.
    failed = {f"_k{i}": f"coalesce({c.condition}, false)" for i, c in enumerate(checks)}
    reason_code = (
        "CASE " + " ".join(f"WHEN _k{i} THEN {lit(c.code)}" for i, c in enumerate(checks)) + " END"
    )
    # A record that is no JSON object (`_checks` asks that first) has no fields to find
    # wanting: that alone is its reason.
    unparseable, *others = checks
    reason = (
        f"CASE WHEN _k0 THEN {unparseable.message} ELSE nullif(concat_ws('; ', "
        + ", ".join(f"CASE WHEN _k{i} THEN {c.message} END" for i, c in enumerate(others, 1))
        + "), '') END"
    )

    outputs = _outputs(mapping, texts, source, import_id)
    if keep_raw:
        # CSV and Parquet records are made JSON above; a JSON record is kept as it came.
        outputs["raw"] = (
            "CASE WHEN _reason_code IS NULL THEN CAST(_raw AS JSON) END"
            if shape.kind == "json"
            else "_raw"
        )
    final = [f"{outputs.get(c.name, 'NULL')} AS {c.name}" for c in EVENT_COLUMNS]
    # `_raw` is what quarantine keeps; a stored event keeps it in `raw`, so it is not staged
    # twice (see `staged_record`).
    staged_raw = "CAST(_raw AS VARCHAR)"
    if keep_raw:
        staged_raw = f"CASE WHEN _reason_code IS NOT NULL THEN {staged_raw} END"
    return (
        f"WITH _src AS ({fields.source_select(relation)}),\n"
        f"_a AS (SELECT _record_no, _raw, _parsed, "
        f"{_aliased(stage_a)} FROM _src),\n"
        f"_b AS (SELECT *, {_aliased(stage_b)} FROM _a),\n"
        f"_k AS (SELECT *, {_aliased(failed)} FROM _b),\n"
        f"_c AS (SELECT *, {reason_code} AS _reason_code, {reason} AS _reason FROM _k)\n"
        f"SELECT {', '.join(final)}, _record_no, {staged_raw} AS _raw, "
        f"_reason_code, _reason FROM _c"
    )


def _skew_fields(fields: _FieldReader, spec: FieldSpec) -> dict[str, str]:
    if spec.skew is None:
        return {}
    return {
        "skew_sent": _text(fields, FieldSpec(field=spec.skew.sent)),
        "skew_received": _text(fields, FieldSpec(field=spec.skew.received)),
    }


def _corrected(occurred: str, spec: FieldSpec) -> str:
    """`occurred` moved by the client's clock error: received − (sent − occurred)."""
    if spec.skew is None:
        return occurred
    iso = FieldSpec(field="_", format="iso")
    sent = n.timestamp(ident("skew_sent"), iso)
    received = n.timestamp(ident("skew_received"), iso)
    # try(): a year-1 timestamp against a year-9999 sentAt overflows; then it stands as sent.
    return f"coalesce(try({received} - ({sent} - {occurred})), {occurred})"


def _instant_source(spec: FieldSpec, shape: InputShape) -> str | None:
    """The source column of a timestamp field when it already holds instants, else None."""
    if len(spec.sources) == 1 and spec.sources[0] in shape.instant_columns and not spec.map:
        return spec.sources[0]
    return None


def _aliased(columns: dict[str, str]) -> str:
    return ", ".join(f"{expr} AS {ident(alias)}" for alias, expr in columns.items())


def _normalised(kind: str, spec: FieldSpec) -> str:
    if kind == "phone":
        return n.phone(ident("d_" + kind), spec.country)
    return n.identifier(kind, ident("i_" + kind), spec)


def _outputs(
    mapping: Mapping, texts: dict[str, str], source: str, import_id: str
) -> dict[str, str]:
    """Event column → expression over the last stage (columns not listed are NULL)."""
    identifiers = ", ".join(
        f"{{'type': {lit(kind)}, 'value': {ident('n_' + kind)}}}" for kind in mapping.identifiers
    )
    typed = {name: ident("t_" + name) for name in _typed_columns(mapping, texts)}
    return {
        **typed,
        "event_id": f"coalesce({ident('f_event_id')}, md5(CAST(_raw AS VARCHAR)))"
        if "event_id" in texts
        else "md5(CAST(_raw AS VARCHAR))",
        "source": lit(source),
        "received_at": "now()",
        "identifiers": f"list_filter([{identifiers}], lambda x: x.value IS NOT NULL)"
        if identifiers
        else "[]",
        "context": "_context",
        "properties": "_properties",
        "import_id": lit(import_id),
    }


class _FieldReader:
    """SQL text of a source field, whatever the input shape.

    JSON records are parsed once, into a struct of exactly the fields the mapping reads
    (`json_fields`).
    """

    def __init__(self, shape: InputShape, mapping: Mapping) -> None:
        self.shape = shape
        self.record = JsonFields(*_json_reads(mapping)) if shape.kind == "json" else None

    def source_select(self, relation: str) -> str:
        if self.record:
            return (
                f"SELECT *, {self.record.is_object()} AS _parsed "
                f"FROM (SELECT _record_no, _raw, {self.record.columns()} FROM {relation})"
            )
        return (
            f"SELECT *, true AS _parsed, {_record_json(self.shape.columns)} AS _raw FROM {relation}"
        )

    def text(self, field: str) -> str:
        if self.record:
            return self.record.text(field)
        if field in self.shape.text_columns:
            return ident(field)
        return f"CAST({ident(field)} AS VARCHAR)"

    def json(self, field: str) -> str:
        if self.record:
            return self.record.json(field)
        return f"TRY_CAST({ident(field)} AS JSON)"


def _json_reads(mapping: Mapping) -> tuple[set[str], set[str]]:
    """The fields a mapping reads from a JSON record: as text, and as JSON objects."""
    specs = [spec for name, spec in mapping.fields().items() if name != "context"]
    specs += mapping.identifiers.values()
    as_text = {name for spec in specs for name in spec.sources}
    as_text |= {name for s in specs if s.skew for name in (s.skew.sent, s.skew.received)}
    chosen = mapping.properties
    if isinstance(chosen, list):
        as_text |= set(chosen)
    as_json = set(mapping.context.sources) if mapping.context else set()
    if isinstance(chosen, FieldSpec):
        as_json |= set(chosen.sources)
    return as_text, as_json


def _record_json(columns: tuple[str, ...]) -> str:
    pairs = ", ".join(f"{lit(c)}, {ident(c)}" for c in columns)
    return f"json_object({pairs})"


def _text(fields: _FieldReader, spec: FieldSpec) -> str:
    """The field's value as trimmed text, after its default and value map."""
    value = lit(spec.value) if spec.value is not None else "NULL"
    if spec.sources:
        present = [f"nullif(trim({fields.text(name)}), '')" for name in spec.sources]
        value = present[0] if len(present) == 1 else f"coalesce({', '.join(present)})"
    if spec.default is not None:
        value = f"coalesce({value}, {lit(spec.default)})"
    if spec.map:
        cases = " ".join(
            f"WHEN {lit(k.strip().lower())} THEN {lit(v)}" for k, v in spec.map.items()
        )
        value = f"(CASE lower(trim({value})) {cases} ELSE {value} END)"
    if spec.keywords:
        rules = " ".join(
            f"WHEN regexp_matches(lower({value}), {lit(_words_pattern(words))}) THEN {lit(label)}"
            for label, words in spec.keywords.items()
        )
        value = f"(CASE {rules} END)"
    return value


def _words_pattern(words: list[str]) -> str:
    """A regular expression (RE2) finding any of `words` (or phrases) as whole words in
    lower-case text: not inside a longer word, whatever its alphabet."""
    special = "\\.^$|?*+()[]{}"
    escaped = ("".join("\\" + c if c in special else c for c in w.lower()) for w in words)
    alternatives = "|".join(w for w in escaped if w)
    return f"(^|[^\\pL\\pN_])({alternatives})([^\\pL\\pN_]|$)"


def _json_field(fields: _FieldReader, spec: FieldSpec | None) -> str:
    if spec is None or not spec.sources:
        return "NULL::JSON"
    found = [fields.json(name) for name in spec.sources]
    return found[0] if len(found) == 1 else f"coalesce({', '.join(found)})"


def _properties(mapping: Mapping, shape: InputShape, fields: _FieldReader) -> str:
    chosen = mapping.properties
    if isinstance(chosen, FieldSpec):
        return _json_field(fields, chosen)
    if chosen == "*":
        used = mapping.used_source_fields()
        if shape.kind == "json":
            top = sorted({f for f in used if "." not in f})
            patch = "{" + ", ".join(f'"{k}": null' for k in top) + "}"
            return f"CASE WHEN _parsed THEN json_merge_patch(_raw, {lit(patch)}) END"
        chosen = [c for c in shape.columns if c not in used]
    if not chosen:
        return "'{}'::JSON"
    pairs = ", ".join(f"{lit(f)}, {fields.text(f)}" for f in chosen)
    return f"json_object({pairs})"


def _typed_columns(
    mapping: Mapping, texts: dict[str, str], shape: InputShape | None = None
) -> dict[str, str]:
    """Typed value of each declared field, as SQL over stage `_a`."""
    specs = mapping.fields()

    def f(name: str) -> str:
        return ident("f_" + name)

    typed: dict[str, str] = {
        "type": f"lower({f('type')})",
        "channel": f"lower({f('channel')})",
        "occurred_at": _corrected(
            n.timestamp(f("occurred_at"), specs["occurred_at"]), specs["occurred_at"]
        ),
    }
    for name in TEXT_FIELDS:
        if name in texts:
            typed[name] = f(name)
    for name in ("intent", "outcome"):
        if name in texts:
            typed[name] = n.code(f(name))
    if "currency" in texts:
        typed["currency"] = f"upper({f('currency')})"
    if "sent_at" in texts:
        typed["sent_at"] = n.timestamp(f("sent_at"), specs["sent_at"])
    for name in ("occurred_at", "sent_at"):
        if shape and name in specs and _instant_source(specs[name], shape):
            typed[name] = ident("x_" + name)
    if "amount" in texts:
        # TRY_: NaN, infinities and amounts past 10^14 are refused as wrong_type, not a crash.
        typed["amount"] = f"TRY_CAST({n.number(f('amount'), specs['amount'])} AS DECIMAL(18,4))"
    for name in ("wait_seconds", "duration_seconds"):
        if name in texts:
            typed[name] = n.duration_seconds(f(name), specs[name])
    return typed


def _checks(
    mapping: Mapping,
    texts: dict[str, str],
    max_record_bytes: int,
    future_tolerance_hours: float,
) -> list[Check]:
    """Every reason a record may be refused, in the order they are reported."""
    specs = mapping.fields()
    typed = {name: ident("t_" + name) for name in _typed_columns(mapping, texts)}

    def f(name: str) -> str:
        return ident("f_" + name)

    def where(spec: FieldSpec) -> str:
        return spec.describe()

    def quoted(expr: str) -> str:
        return f"'''' || {expr} || ''''"

    ts_spec = specs["occurred_at"]
    ts_format = ts_spec.format or "iso"
    if ts_format == "iso":
        # An unknown zone name fails here too: say what an ISO value may end with.
        ts_format = "iso (a date and time, then optionally an offset or a known zone name)"
    checks = [
        Check("unparseable", "NOT _parsed", lit("the record is not a JSON object")),
        Check(
            "oversize",
            f"strlen(CAST(_raw AS VARCHAR)) > {max_record_bytes}",
            f"'the record is ' || strlen(CAST(_raw AS VARCHAR)) || ' bytes, more than the "
            f"{max_record_bytes} allowed (setting max_record_bytes)'",
        ),
        Check(
            "missing_timestamp",
            f"{f('occurred_at')} IS NULL",
            lit(f"no timestamp: {where(ts_spec)} is empty"),
        ),
        Check(
            "bad_timestamp",
            f"{f('occurred_at')} IS NOT NULL AND {typed['occurred_at']} IS NULL",
            f"'timestamp ' || {quoted(f('occurred_at'))} || "
            + lit(f" in {where(ts_spec)} does not match the format {ts_format} of the mapping"),
        ),
        Check(
            "bad_timestamp",
            f"{typed['occurred_at']} < TIMESTAMPTZ '1970-01-01' OR {typed['occurred_at']} > "
            f"now() + INTERVAL {future_tolerance_hours * 3600:.0f} SECOND",
            f"'timestamp ' || {quoted(f('occurred_at'))} || "
            + lit(
                f" in {where(ts_spec)} is before 1970 or more than "
                f"{future_tolerance_hours:g} hours in the future (setting future_tolerance_hours)"
            ),
        ),
        Check(
            "unknown_channel",
            f"{typed['channel']} IS NULL OR {typed['channel']} NOT IN ({_in_list(CHANNELS)})",
            f"'channel ' || coalesce({quoted(f('channel'))}, '(empty)') || "
            + lit(
                f" in {where(specs['channel'])} is not one of {', '.join(CHANNELS)}: "
                "add it to the mapping's channel map"
            ),
        ),
        Check(
            "unknown_type",
            f"{typed['type']} IS NULL OR {typed['type']} NOT IN ({_in_list(EVENT_TYPES)})",
            f"'event type ' || coalesce({quoted(f('type'))}, '(empty)') || "
            + lit(f" is not one of {', '.join(EVENT_TYPES)}"),
        ),
    ]
    who = [f(name) for name in ("anonymous_id", "user_id") if name in texts]
    who += [ident("i_" + kind) for kind in mapping.identifiers]
    checks.append(
        Check(
            "missing_identity",
            " AND ".join(f"{w} IS NULL" for w in who),
            lit(
                "nobody to attribute it to: every identifying field ("
                + ", ".join(_who_fields(mapping))
                + ") is empty"
            ),
        )
    )
    for kind, spec in mapping.identifiers.items():
        raw = ident("i_" + kind)
        checks.append(
            Check(
                "bad_identifier",
                f"{raw} IS NOT NULL AND {ident('n_' + kind)} IS NULL",
                f"{lit(kind + ' ')} || {quoted(raw)} || "
                + lit(f" in {where(spec)} is not a valid {kind.replace('_', ' ')}"),
            )
        )
    for name in (*NUMBER_FIELDS, "sent_at"):
        if name in texts:
            checks.append(
                Check(
                    "wrong_type",
                    f"{f(name)} IS NOT NULL AND {typed[name]} IS NULL",
                    f"{lit(name + ' ')} || {quoted(f(name))} || "
                    + lit(
                        f" in {where(specs[name])} is not a "
                        + ("timestamp" if name == "sent_at" else "number")
                    ),
                )
            )
    name_spec = specs.get("name")
    checks.append(
        Check(
            "missing_name",
            f"{typed['type']} = 'track' AND " + (f"{f('name')} IS NULL" if name_spec else "true"),
            lit(
                "a track event needs a name: "
                + (
                    f"{where(name_spec)} is empty"
                    if name_spec
                    else "the mapping declares no `event`"
                )
            ),
        )
    )
    return checks


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(lit(v) for v in values)


def _who_fields(mapping: Mapping) -> list[str]:
    specs = {
        **{k: v for k, v in mapping.fields().items() if k in ("anonymous_id", "user_id")},
        **mapping.identifiers,
    }
    return [f"{k} from {s.describe()}" if s.sources else k for k, s in specs.items()]
