"""The automations' settings (`[parcours.automations]`): the channels' providers, the contact
pressure, quiet hours, and the runtime's pace. Secrets are SecretStr: never printed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from parcours.config import Settings


class Smtp(BaseModel):
    """Email through an SMTP server."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(default="parcours@localhost", description="The From address.")
    timeout_s: float = Field(default=10.0, gt=0)


class HttpProvider(BaseModel):
    """An SMS or push gateway (or any receiver) reached by the documented request
    (docs/automations.md): a JSON POST of up to `batch` messages, signed with HMAC-SHA256 of
    the body under `secret` (`X-Parcours-Signature`), each message with its idempotency key."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    secret: SecretStr | None = None
    batch: int = Field(default=100, ge=1, le=1000)
    timeout_s: float = Field(default=10.0, gt=0)


class AutomationSettings(BaseModel):
    """Everything `[parcours.automations]` may hold."""

    model_config = ConfigDict(extra="forbid")

    smtp: Smtp = Smtp()
    sms: HttpProvider = HttpProvider()
    push: HttpProvider = HttpProvider()
    webhook_secret: SecretStr | None = Field(
        default=None, description="Signs webhook steps' requests (HMAC-SHA256), when set."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8765",
        description="Where recipients reach `parcours serve`: unsubscribe, open and click links.",
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description="Signs unsubscribe and tracking links (default: derived from the store's "
        "own secret).",
    )
    default_timezone: str = Field(
        default="UTC", description="A recipient's time zone when their profile names none."
    )
    quiet_hours: tuple[str, str] | None = Field(
        default=("21:00", "08:00"),
        description="No marketing or service message between these local times; `false` "
        "(or null in JSON) turns them off.",
    )
    marketing_per_week: int | None = Field(
        default=3,
        ge=0,
        description="Marketing messages a person may receive in a week of their own zone "
        "(Monday to Sunday).",
    )
    messages_per_day: int | None = Field(
        default=None,
        ge=0,
        description="Service and marketing messages a person may receive in a day of their own "
        "zone (transactional ones are never capped).",
    )
    max_attempts: int = Field(default=5, ge=1, description="Provider calls before failed.")
    retry_after_s: float = Field(default=30.0, gt=0, description="First retry; then doubling.")
    tick_s: float = Field(default=0.5, gt=0, description="How often the server's runtime runs.")
    send_batch: int = Field(default=1000, ge=1, description="Sends claimed per delivery round.")

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        """TOML has no null: `quiet_hours = false` (or "off") is how a file turns them off."""
        return None if value is False or value == "off" else value


def automation_settings(settings: Settings) -> AutomationSettings:
    """The automations' settings, from the settings' `[parcours.automations]` table."""
    return settings.section("automations", AutomationSettings)
