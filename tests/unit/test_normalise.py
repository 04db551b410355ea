"""Normalisation SQL, checked against independent references.

Phones: the `phonenumbers` package (Google's libphonenumber port) formats the same inputs in
E.164; our vectorised SQL must agree with it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import phonenumbers
import pytest

from parcours.collect import normalise
from parcours.collect.mapping import FieldSpec
from parcours.engine.duckdb import DuckDBEngine
from parcours.sql import lit

PHONES = [
    ("06 12 34 56 78", "FR", "33"),
    ("+33 6 12 34 56 78", "FR", "33"),
    ("0033612345678", "FR", "33"),
    ("06.12.34.56.78", "FR", "33"),
    ("(0)6-12-34-56-78", "FR", "33"),
    ("020 7946 0018", "GB", "44"),
    ("+44 20 7946 0018", "GB", "44"),
    ("030 1234567", "DE", "49"),
    ("(415) 555-0132", "US", "1"),
    ("+1 415 555 0132", "US", "1"),
]


def _one(engine: DuckDBEngine, expression: str) -> object:
    return engine.scalar(f"SELECT {expression}")


@pytest.mark.parametrize(("raw", "region", "code"), PHONES)
def test_phone_matches_libphonenumber_e164(
    memory_engine: DuckDBEngine, raw: str, region: str, code: str
) -> None:
    expected = phonenumbers.format_number(
        phonenumbers.parse(raw, region), phonenumbers.PhoneNumberFormat.E164
    )
    phone = normalise.identifier("phone", lit(raw), FieldSpec(field="x", country=code))
    assert _one(memory_engine, phone) == expected


@pytest.mark.parametrize("raw", ["abc", "12", "+0612", ""])
def test_phone_that_cannot_be_e164_is_null(memory_engine: DuckDBEngine, raw: str) -> None:
    phone = normalise.identifier("phone", lit(raw), FieldSpec(field="x", country="33"))
    assert _one(memory_engine, phone) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Jane.Doe@Example.COM ", "jane.doe@example.com"), ("not-an-email", None), ("a@b", None)],
)
def test_email_is_lower_cased_and_validated(
    memory_engine: DuckDBEngine, raw: str, expected: str | None
) -> None:
    assert _one(memory_engine, normalise.email(lit(raw))) == expected


def test_social_handle_drops_at_and_case(memory_engine: DuckDBEngine) -> None:
    assert _one(memory_engine, normalise.social_handle(lit(" @Jane_Doe92"))) == "jane_doe92"


UTC = dt.UTC


@pytest.mark.parametrize(
    ("raw", "spec", "expected"),
    [
        # Paris is UTC+1 in winter, UTC+2 in summer (zoneinfo is the reference).
        (
            "2026-01-15 10:00:00",
            FieldSpec(field="x", timezone="Europe/Paris"),
            dt.datetime(2026, 1, 15, 9, tzinfo=UTC),
        ),
        (
            "2026-07-15T10:00:00",
            FieldSpec(field="x", timezone="Europe/Paris"),
            dt.datetime(2026, 7, 15, 8, tzinfo=UTC),
        ),
        (
            "2026-07-15T10:00:00Z",
            FieldSpec(field="x", timezone="Europe/Paris"),
            dt.datetime(2026, 7, 15, 10, tzinfo=UTC),
        ),
        (
            "2026-07-15T10:00:00+02:00",
            FieldSpec(field="x"),
            dt.datetime(2026, 7, 15, 8, tzinfo=UTC),
        ),
        (
            "15/07/2026 10:00",
            FieldSpec(field="x", format="%d/%m/%Y %H:%M", timezone="Europe/Paris"),
            dt.datetime(2026, 7, 15, 8, tzinfo=UTC),
        ),
        (
            "1784109600",
            FieldSpec(field="x", format="epoch_s"),
            dt.datetime(2026, 7, 15, 10, tzinfo=UTC),
        ),
        (
            "1784109600000",
            FieldSpec(field="x", format="epoch_ms"),
            dt.datetime(2026, 7, 15, 10, tzinfo=UTC),
        ),
        (
            "Wed Jul 15 10:00:00 +0000 2026",
            FieldSpec(field="x", format="%a %b %d %H:%M:%S %z %Y"),
            dt.datetime(2026, 7, 15, 10, tzinfo=UTC),
        ),
        ("31/02/2026 10:00", FieldSpec(field="x", format="%d/%m/%Y %H:%M"), None),
        ("yesterday", FieldSpec(field="x"), None),
    ],
)
def test_timestamps_are_utc_instants(
    memory_engine: DuckDBEngine, raw: str, spec: FieldSpec, expected: dt.datetime | None
) -> None:
    assert _one(memory_engine, normalise.timestamp(lit(raw), spec)) == expected


def _in_zone(zone: str, wall: str) -> dt.datetime:
    """The UTC instant of a wall-clock time in `zone`, by Python's zoneinfo (the reference)."""
    return dt.datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


PARIS = FieldSpec(field="x", timezone="Europe/Paris")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # A zone name in the value wins over the mapping's zone, with its daylight saving time.
        ("2026-03-01T10:00:00 Europe/Paris", _in_zone("Europe/Paris", "2026-03-01T10:00:00")),
        ("2026-07-01T10:00:00 Europe/Paris", _in_zone("Europe/Paris", "2026-07-01T10:00:00")),
        (
            "2026-03-01T12:00:00 America/New_York",
            _in_zone("America/New_York", "2026-03-01T12:00:00"),
        ),
        (
            "2026-07-01 12:00:00 America/New_York",
            _in_zone("America/New_York", "2026-07-01T12:00:00"),
        ),
        # A 'T' inside the zone name is not the date-time separator.
        ("2026-03-01T10:00:00 America/Tijuana", _in_zone("America/Tijuana", "2026-03-01T10:00:00")),
        ("2026-03-01T10:00:00 UTC", _in_zone("UTC", "2026-03-01T10:00:00")),
        # RFC 9557's bracketed zone; after an offset the offset gives the instant.
        ("2026-07-01T10:00:00[Europe/Paris]", _in_zone("Europe/Paris", "2026-07-01T10:00:00")),
        (
            "2026-03-01T10:00:00+01:00[Europe/Paris]",
            _in_zone("Europe/Paris", "2026-03-01T10:00:00"),
        ),
        # Offsets keep working; without offset or name the mapping's zone applies.
        ("2026-07-01T10:00:00+02:00", _in_zone("Europe/Paris", "2026-07-01T10:00:00")),
        ("2026-07-01T10:00:00-0500", _in_zone("America/Bogota", "2026-07-01T10:00:00")),
        ("2026-07-01T10:00:00Z", _in_zone("UTC", "2026-07-01T10:00:00")),
        ("2026-07-01T10:00:00", _in_zone("Europe/Paris", "2026-07-01T10:00:00")),
        ("2026-07-01 10:00:00.5", _in_zone("Europe/Paris", "2026-07-01T10:00:00.500000")),
        ("2026-07-01", _in_zone("Europe/Paris", "2026-07-01T00:00:00")),
        # What cannot be read is NULL (quarantined), never read as if it were UTC.
        ("2026-03-01T10:00:00 Europe/Pariss", None),
        ("2026-03-01 10:00:00 tomorrow", None),
    ],
)
def test_a_zone_in_the_value_is_honoured_never_ignored(
    memory_engine: DuckDBEngine, raw: str, expected: dt.datetime | None
) -> None:
    assert _one(memory_engine, normalise.timestamp(lit(raw), PARIS)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-07-01T10:00:00", _in_zone("UTC", "2026-07-01T10:00:00")),
        ("2026-07-01", _in_zone("UTC", "2026-07-01T00:00:00")),
        ("2026-07-01T10:00:00 Europe/Paris", _in_zone("Europe/Paris", "2026-07-01T10:00:00")),
        ("2026-07-01T10:00:00[Asia/Tokyo]", _in_zone("Asia/Tokyo", "2026-07-01T10:00:00")),
        ("2026-07-01T10:00:00+02:00", _in_zone("Europe/Paris", "2026-07-01T10:00:00")),
        ("2026-03-01 10:00:00 tomorrow", None),
        ("2026-07-01 10:00:00 +02:00", _in_zone("Europe/Paris", "2026-07-01T10:00:00")),
        ("2026-07-01 10:00:00 UTC", _in_zone("UTC", "2026-07-01T10:00:00")),
        (
            "2026-07-01 10:00:00 America/Argentina/Buenos_Aires",
            _in_zone("America/Argentina/Buenos_Aires", "2026-07-01T10:00:00"),
        ),
        # An abbreviation names several zones (British or Bangladesh summer time): refused.
        ("2026-07-01 10:00:00 BST", None),
        ("2026-07-01 10:00:00 IST", None),
    ],
)
def test_without_a_mapping_zone_local_times_are_utc_and_named_zones_still_count(
    memory_engine: DuckDBEngine, raw: str, expected: dt.datetime | None
) -> None:
    assert _one(memory_engine, normalise.timestamp(lit(raw), FieldSpec(field="x"))) == expected


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        (
            "01/07/2026 10:00 America/New_York",
            "%d/%m/%Y %H:%M %Z",
            _in_zone("America/New_York", "2026-07-01T10:00:00"),
        ),
        # A pattern without %Z does not match a value with a zone: quarantined, not misread.
        ("01/07/2026 10:00 America/New_York", "%d/%m/%Y %H:%M", None),
    ],
)
def test_a_strptime_pattern_reads_a_zone_only_with_percent_z(
    memory_engine: DuckDBEngine, raw: str, fmt: str, expected: dt.datetime | None
) -> None:
    spec = FieldSpec(field="x", format=fmt, timezone="Europe/Paris")
    assert _one(memory_engine, normalise.timestamp(lit(raw), spec)) == expected


@pytest.mark.parametrize(
    ("raw", "spec", "expected"),
    [
        ("00:04:12", FieldSpec(field="x", unit="hms"), 252.0),
        ("04:12", FieldSpec(field="x", unit="hms"), 252.0),
        ("2.5", FieldSpec(field="x", unit="minutes"), 150.0),
        ("1500", FieldSpec(field="x", unit="milliseconds"), 1.5),
        ("1 234,50", FieldSpec(field="x", decimal=","), 1234.5),
    ],
)
def test_durations_and_numbers(
    memory_engine: DuckDBEngine, raw: str, spec: FieldSpec, expected: float
) -> None:
    assert _one(memory_engine, normalise.duration_seconds(lit(raw), spec)) == pytest.approx(
        expected
    )
