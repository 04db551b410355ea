"""Typed settings: one place, read from `PARCOURS_*` environment variables and `parcours.toml`.

Precedence, highest first: explicit arguments, environment variables, the TOML file named by
`PARCOURS_CONFIG` (default `./parcours.toml` when present), then the defaults below.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from parcours.errors import ConfigError
from parcours.identity.rules import IdentityRules


class Settings(BaseSettings):
    """Everything that can be configured, with its unit."""

    model_config = SettingsConfigDict(env_prefix="PARCOURS_", extra="forbid")

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
    identity: IdentityRules = Field(
        default_factory=IdentityRules,
        description="Identity resolution rules ([parcours.identity]).",
    )
    future_tolerance_hours: float = Field(
        default=24.0, ge=0, description="How far past now a timestamp may be before it is refused."
    )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from the TOML file, the environment and explicit overrides."""
    path = config_file or Path(os.environ.get("PARCOURS_CONFIG", "parcours.toml"))
    from_file: dict[str, Any] = {}
    if path.exists():
        try:
            from_file = tomllib.loads(path.read_text()).get("parcours", {})
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(
                f"The settings file cannot be read: {error}",
                "correct the TOML syntax, or remove the file to use the defaults",
                where=str(path),
            ) from error
    env_set = {name for name in Settings.model_fields if f"PARCOURS_{name.upper()}" in os.environ}
    values = {k: v for k, v in from_file.items() if k not in env_set}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(
            f"Invalid settings: {problems}",
            "correct the [parcours] table of the settings file or the PARCOURS_* variable",
            where=str(path) if path.exists() else "environment",
        ) from error
