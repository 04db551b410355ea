"""Normalisation SQL, checked against independent references.

Phones: the `phonenumbers` package (Google's libphonenumber port) formats the same inputs in
E.164; our vectorised SQL must agree with it.
"""

from __future__ import annotations

import datetime as dt

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
