"""Mappings: shipped ones are valid; a wrong one is refused with a message that says the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from parcours.collect.mapping import load_mapping, shipped_mappings
from parcours.errors import MappingError


def test_every_shipped_mapping_validates() -> None:
    names = shipped_mappings()
    assert {"web", "app", "pos", "call_centre", "chat", "crm", "email", "social"} <= set(names)
    for name in names:
        mapping, where = load_mapping(name)
        assert mapping.name == name and "shipped" in where


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\noccurred_at: t\nuser_id: u\n", "channel is required"),
        ("name: x\nchannel: {value: fax}\noccurred_at: t\nuser_id: u\n", "'fax' is not one of web"),
        ("name: x\nchannel: {value: web}\nuser_id: u\n", "occurred_at is required"),
        ("name: x\nchannel: {value: web}\noccurred_at: t\n", "at least one of anonymous_id"),
        ("name: x\nchannel: {value: web}\noccurred_at: t\nuser_id: u\nchanel: c\n", "chanel"),
        ("name: x\nchannel: {field: c, value: web}\noccurred_at: t\nuser_id: u\n", "not both"),
        ("name: [unclosed\n", "cannot be parsed"),
        (
            "name: x\nchannel: {value: web}\noccurred_at: t\nuser_id: u\n"
            "intent: {value: x, keywords: {a: [b]}}\n",
            "`keywords` reads a `field`'s text",
        ),
        (
            "name: x\nchannel: {value: web}\noccurred_at: t\nuser_id: u\n"
            "intent: {field: t, keywords: {delivery: []}}\n",
            "gives 'delivery' no word",
        ),
    ],
)
def test_invalid_mapping_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(MappingError) as raised:
        load_mapping(path)
    assert message in raised.value.message
    assert str(path) in raised.value.message


BASE = "name: x\nchannel: {value: web}\nuser_id: u\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "occurred_at: {field: t, format: epoch_sec}",
            "occurred_at.format: unknown timestamp format 'epoch_sec' (did you mean 'epoch_s'?): "
            "a format is iso, epoch_s, epoch_ms, or a strptime pattern",
        ),
        ("occurred_at: {field: t, format: ISO}", "(did you mean 'iso'?)"),
        ("occurred_at: {field: t, format: [iso]}", "format 'iso' stands alone"),
        (
            "occurred_at: {field: t, timezone: Europe/Pariss}",
            "occurred_at.timezone: unknown time zone 'Europe/Pariss' (did you mean "
            "'Europe/Paris'?): a zone is an IANA name",
        ),
        ("occurred_at: t\nsent_at: {field: s, timezone: Mars/Olympus}", "sent_at.timezone"),
    ],
)
def test_unknown_format_or_zone_is_refused_when_the_mapping_loads(
    tmp_path: Path, line: str, message: str
) -> None:
    """Refused at load, naming the value, the allowed ones and the closest, the field and the
    file, rather than quarantining every row (format) or failing mid-import (zone)."""
    path = tmp_path / "m.yaml"
    path.write_text(BASE + line + "\n")
    with pytest.raises(MappingError) as raised:
        load_mapping(path)
    assert message in raised.value.message
    assert str(path) in raised.value.message


def test_known_formats_and_zones_load(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        BASE + 'occurred_at: {field: t, format: ["%d/%m/%Y %H:%M", "%Y"], timezone: Asia/Tokyo}\n'
        "sent_at: {field: s, format: epoch_ms, timezone: europe/paris}\n"
    )
    mapping, _ = load_mapping(path)
    assert mapping.fields()["occurred_at"].timezone == "Asia/Tokyo"
    # Another case of a known name is unambiguous: written as the zone database writes it.
    assert mapping.fields()["sent_at"].timezone == "Europe/Paris"


def test_toml_mapping_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        'name = "t"\nevent = {value = "Call"}\nchannel = {value = "call"}\n'
        'occurred_at = "start"\n[identifiers]\nphone = {field = "caller", country = "33"}\n'
    )
    mapping, _ = load_mapping(path)
    assert mapping.identifiers["phone"].country == "33"


def test_unknown_mapping_lists_the_shipped_ones() -> None:
    with pytest.raises(MappingError, match="call_centre"):
        load_mapping("no-such-mapping")
