"""Typed settings: one place, read from `PARCOURS_*` environment variables and `parcours.toml`.

Precedence, highest first: explicit arguments, environment variables, the TOML file named by
`PARCOURS_CONFIG` (default `./parcours.toml` when present), then the defaults below.

The settings of the core (the store, the engine, the server) are declared here. A capability
owns its settings model and reads its own table (`[parcours.identity]`) through
`Settings.section`, so this module, below every capability, imports none of them; the front
ends validate every table when they open a store (`parcours.client.connect`).

The variables are read here (`_from_environment`), not by pydantic-settings: its import takes a
tenth of a second, which every command would spend before its work, for what is one lookup per
setting.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar, get_origin

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from parcours.errors import ConfigError

SectionModel = TypeVar("SectionModel", bound=BaseModel)

ENV_PREFIX = "PARCOURS_"


class Settings(BaseModel):
    """Everything that can be configured, with its unit."""

    model_config = ConfigDict(extra="forbid")

    store: Path = Field(
        default=Path("parcours.duckdb"), description="The DuckDB file that holds everything."
    )
    engine: str = Field(default="duckdb", description="Engine name: duckdb (spark later).")
    threads: int | None = Field(default=None, ge=1, description="Engine threads; default: all.")
    memory_limit: str | None = Field(
        default=None, description="Engine memory cap, e.g. '4GB'; default: the engine's own."
    )
    import_batch_rows: int = Field(
        default=200_000, ge=1, description="Rows per import batch (one commit each)."
    )
    import_memory_limit: str | None = Field(
        default="1GB",
        description="Engine memory cap while importing: an import streams, so what the engine "
        "would otherwise keep is its cache of written data, which grows with the file.",
    )
    max_record_bytes: int = Field(
        default=32 * 1024, ge=256, description="Largest accepted record; larger is quarantined."
    )
    keep_raw: bool = Field(
        default=True,
        description="Keep each event's original record in `raw` (lineage). Quarantine always "
        "keeps it. Off, wide JSON sources import about twice as fast and take half the space.",
    )
    host: str = Field(default="127.0.0.1", description="Where `parcours serve` listens.")
    port: int = Field(default=8765, ge=1, le=65535, description="The port it listens on.")
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the customer and identity routes of `parcours serve` "
        "(profiles are personal data). Unset, those routes answer 403.",
    )
    live_dedup_window_hours: float = Field(
        default=168.0,
        gt=0,
        description="A live message id seen from the same source within this window is stored "
        "once (RudderStack keeps 7 days, Segment about 24 hours). File imports dedup forever.",
    )
    max_batch_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted by the tracking API (RudderStack's 4 MB).",
    )
    identity: dict[str, Any] = Field(
        default_factory=dict,
        description="Identity resolution rules ([parcours.identity]; the model is "
        "`parcours.identity.rules.IdentityRules`).",
    )
    automations: dict[str, Any] = Field(
        default_factory=dict,
        description="Automations: channels, pressure, quiet hours ([parcours.automations]; the "
        "model is `parcours.automations.settings.AutomationSettings`).",
    )
    future_tolerance_hours: float = Field(
        default=24.0, ge=0, description="How far past now a timestamp may be before it is refused."
    )

    _sections: dict[str, BaseModel] = PrivateAttr(default_factory=dict)

    def section(self, name: str, model: type[SectionModel]) -> SectionModel:
        """A capability's own settings: its table (`[parcours.<name>]`) read as `model`,
        validated once and kept."""
        kept = self._sections.get(name)
        if isinstance(kept, model):
            return kept
        try:
            parsed = model.model_validate(getattr(self, name))
        except ValidationError as error:
            raise ConfigError(
                f"Invalid settings in [parcours.{name}]: {_problems(error)}",
                f"correct the [parcours.{name}] table of the settings file, or the "
                f"PARCOURS_{name.upper()} variable (JSON)",
                where=f"parcours.{name}",
            ) from error
        self._sections[name] = parsed
        return parsed


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from the TOML file, the environment and explicit overrides."""
    path = config_file or Path(os.environ.get("PARCOURS_CONFIG", "parcours.toml"))
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text()).get("parcours", {})
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(
                f"The settings file cannot be read: {error}",
                "correct the TOML syntax, or remove the file to use the defaults",
                where=str(path),
            ) from error
    values.update(_from_environment())
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigError(
            f"Invalid settings: {_problems(error)}",
            "correct the [parcours] table of the settings file or the PARCOURS_* variable",
            where=str(path) if path.exists() else "environment",
        ) from error


def _from_environment() -> dict[str, Any]:
    """The settings given as `PARCOURS_<NAME>` variables (the name in any case): text, which
    validation reads as the setting's type, or JSON for a table (`PARCOURS_IDENTITY`)."""
    given = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
    found: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        variable = ENV_PREFIX + name.upper()
        if variable not in given:
            continue
        found[name] = given[variable]
        if get_origin(field.annotation) is dict:
            try:
                found[name] = json.loads(given[variable])
            except json.JSONDecodeError as error:
                raise ConfigError(
                    f"{variable} is not JSON: {error}",
                    f"write the [parcours.{name}] table as one JSON object, or in the settings "
                    "file",
                    where="environment",
                ) from error
    return found
