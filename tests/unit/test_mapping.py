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
