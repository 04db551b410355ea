"""Normalisation as SQL: pure functions from a SQL expression (text) to a SQL expression.

Normalising in the engine, vectorised, is what lets an import run near the engine's raw read
speed. Each function returns an expression that is NULL when the input cannot be normalised;
the transform turns "present but NULL after normalising" into a quarantine reason.
"""

from __future__ import annotations

from parcours.collect.mapping import FieldSpec
from parcours.sql import lit


def email(raw: str) -> str:
    """Lower-cased, trimmed; NULL unless it looks like `local@domain.tld`."""
    value = f"lower(trim({raw}))"
    return f"CASE WHEN regexp_full_match({value}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+') THEN {value} END"


def phone_digits(raw: str) -> str:
    """The characters of a phone number that matter: digits and `+`."""
    return f"regexp_replace({raw}, '[^0-9+]', '', 'g')"


def phone(digits: str, country: str | None) -> str:
    """E.164 (`+33612345678`) from `phone_digits(...)`, or NULL when it cannot be made one.

    `+` and `00` prefixes are international. A national number (leading trunk `0`, as in France,
    the UK or Germany, or none, as in North America) takes the mapping's `country` calling code.
    Countries that keep the leading 0 after the code (Italy) need their numbers sent with `+`.
    """
    cc = lit(country) if country else "NULL"
    candidate = (
        f"CASE WHEN {digits} LIKE '+%' THEN '+' || replace({digits}, '+', '') "
        f"WHEN {digits} LIKE '00%' THEN '+' || substr({digits}, 3) "
        f"WHEN {digits} LIKE '0%' THEN '+' || {cc} || substr({digits}, 2) "
        f"ELSE '+' || {cc} || {digits} END"
    )
    return f"nullif(regexp_extract({candidate}, '^\\+[1-9][0-9]{{7,14}}$'), '')"


def social_handle(raw: str) -> str:
    """Lower-cased, without the leading `@`."""
    return f"nullif(lower(ltrim(trim({raw}), '@')), '')"


def identifier(kind: str, raw: str, spec: FieldSpec) -> str:
    """The normalised value of an identifier of type `kind`."""
    if kind == "email":
        return email(raw)
    if kind == "phone":
        return phone(phone_digits(raw), spec.country)
    if kind == "social_handle":
        return social_handle(raw)
    return f"trim({raw})"


LOCAL_ISO = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
"""An ISO date and time with nothing after it: local time, in the mapping's `timezone`."""

OFFSET = r"[zZ]|[+-][0-9]{2}(:?[0-9]{2})?"
ZONE_NAME = r"UTC|GMT|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+"
"""An IANA zone name (Area/Location), UTC or GMT. Abbreviations (BST, IST, CST) are not: each
names several zones (British or Bangladesh, India or Israel), and DuckDB would pick one."""
ZONED_ISO = rf"{LOCAL_ISO}(\s*({OFFSET}))?(\s+({ZONE_NAME})|\[({ZONE_NAME})\])?"
"""What an ISO value may be: a date and time, then an offset, a zone name, or both."""


def timestamp(raw: str, spec: FieldSpec) -> str:
    """A TIMESTAMPTZ parsed per the spec's format and time zone; NULL if it does not parse."""
    formats = spec.format or "iso"
    zone = lit(spec.timezone or "UTC")
    if formats == "epoch_s":
        return f"to_timestamp(TRY_CAST({raw} AS DOUBLE))"
    if formats == "epoch_ms":
        return f"to_timestamp(TRY_CAST({raw} AS DOUBLE) / 1000.0)"
    if formats == "iso":
        return iso_timestamp(raw, None if spec.timezone in (None, "UTC") else zone)
    listed = [formats] if isinstance(formats, str) else formats
    parsed = f"try_strptime({raw}, [{', '.join(lit(f) for f in listed)}])"
    if any("%z" in f or "%Z" in f for f in listed):
        return parsed
    return f"timezone({zone}, {parsed})"


def iso_timestamp(raw: str, zone: str | None) -> str:
    """An ISO 8601 date and time, `T` or space between them.

    With nothing after the time it is local to `zone` (SQL text; None for UTC, the engine
    session's zone, which spares a test per record). Anything after it says where:
    an offset (`Z`, `+01:00`, `-0500`, a space before it or not) or a zone name (`Europe/Paris`,
    with daylight saving time), read by the engine's time zone database; RFC 9557's
    `[Europe/Paris]` suffix too (after an offset, the offset gives the instant). Anything else
    there, such as an unknown zone or an abbreviation (`BST`: see `ZONE_NAME`), gives NULL:
    the record is quarantined rather than read wrong (a cast to TIMESTAMP would silently drop
    whatever follows the time).
    """
    spaced = f"regexp_replace({raw}, '\\s+([+-][0-9]{{2}}(:?[0-9]{{2}})?)', '\\1')"
    bracketed = (
        f"regexp_replace(regexp_replace({spaced}, "
        "'([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)\\[[^]]*\\]$', '\\1'), '\\[([^]]*)\\]$', ' \\1')"
    )
    zoned = f"CASE WHEN {raw} LIKE '%]' THEN {bracketed} ELSE {spaced} END"
    known = f"regexp_full_match({raw}, {lit(ZONED_ISO)})"
    if zone is None:
        return f"CASE WHEN {known} THEN TRY_CAST({zoned} AS TIMESTAMPTZ) END"
    return (
        f"CASE WHEN regexp_full_match({raw}, {lit(LOCAL_ISO)}) "
        f"THEN timezone({zone}, TRY_CAST({raw} AS TIMESTAMP)) "
        f"WHEN {known} THEN TRY_CAST({zoned} AS TIMESTAMPTZ) END"
    )


def number(raw: str, spec: FieldSpec) -> str:
    """A DOUBLE; a decimal comma (with `.` or space grouping) when the spec says so."""
    if spec.decimal == ",":
        raw = f"replace(replace(replace({raw}, ' ', ''), '.', ''), ',', '.')"
    return f"TRY_CAST({raw} AS DOUBLE)"


def duration_seconds(raw: str, spec: FieldSpec) -> str:
    """Seconds, from the spec's unit (`hms` reads `HH:MM:SS` or `MM:SS`)."""
    if spec.unit == "hms":
        hms = f"CASE WHEN {raw} LIKE '%:%:%' THEN {raw} ELSE '00:' || {raw} END"
        return f"epoch(TRY_CAST({hms} AS INTERVAL))"
    factor = {"minutes": " * 60", "milliseconds": " / 1000.0"}.get(spec.unit or "seconds", "")
    return f"({number(raw, spec)}{factor})"


def code(raw: str) -> str:
    """A code-like value (intent, outcome): lower-case words joined by `_`."""
    return f"nullif(regexp_replace(lower(trim({raw})), '[^a-z0-9]+', '_', 'g'), '')"
