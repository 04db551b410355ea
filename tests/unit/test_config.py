"""Settings (`parcours.config.load_settings`): where each value comes from, highest first:
an explicit argument, a `PARCOURS_*` variable, the settings file, the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from parcours.config import load_settings
from parcours.errors import ConfigError


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "parcours.toml"
    path.write_text('[parcours]\nport = 9001\nthreads = 3\nstore = "from-file.duckdb"\n')
    return path


def test_a_variable_beats_the_file_and_an_argument_beats_both(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARCOURS_PORT", "9002")
    monkeypatch.setenv("parcours_keep_raw", "false")  # a variable's name in any case
    settings = load_settings(settings_file, threads=4)
    assert (settings.port, settings.keep_raw, settings.threads) == (9002, False, 4)
    assert settings.store == Path("from-file.duckdb")  # only the file sets it
    assert settings.import_batch_rows == 200_000  # nothing sets it: the default


def test_a_table_is_given_as_json_and_a_secret_stays_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARCOURS_IDENTITY", '{"max_per_type": {"email": 3}}')
    monkeypatch.setenv("PARCOURS_ADMIN_TOKEN", "s3cret")
    settings = load_settings(tmp_path / "absent.toml")
    assert settings.identity == {"max_per_type": {"email": 3}}
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_a_variable_that_is_not_json_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARCOURS_IDENTITY", "{max_per_type: 3}")
    with pytest.raises(ConfigError, match="PARCOURS_IDENTITY is not JSON") as raised:
        load_settings(tmp_path / "absent.toml")
    assert raised.value.where == "environment"


def test_a_value_of_the_wrong_type_names_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARCOURS_PORT", "eighty")
    with pytest.raises(ConfigError, match="port: Input should be a valid integer"):
        load_settings(tmp_path / "absent.toml")


def test_an_unknown_setting_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "parcours.toml"
    path.write_text("[parcours]\nprot = 9001\n")
    with pytest.raises(ConfigError, match="prot: Extra inputs are not permitted"):
        load_settings(path)
