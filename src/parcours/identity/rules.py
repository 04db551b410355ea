"""Identity rules: which identifiers may join a customer, in what order, and how many.

Declared in settings (`[parcours.identity]` in parcours.toml). The defaults follow what the
field has learnt: Segment Unify's per-type limits (one user id, five of anything else) and
priority (user id first), PostHog's refusal to merge two identified people through a shared
device, and the junk values every CRM export holds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PRIORITY = [
    "user_id",
    "crm_id",
    "email",
    "phone",
    "loyalty_id",
    "social_handle",
    "device_id",
    "previous_id",
    "anonymous_id",
]

DEFAULT_BLOCKED = [
    r"0+",
    r"(null|none|nil|undefined|unknown|anonymous|n/?a|test|guest|-)",
    r"test@test\.[a-z]+",
    r"(no|none|noreply|no-reply)@.*",
    r"\+?0+",
]


class IdentityRules(BaseModel):
    """The rules of identity resolution."""

    model_config = ConfigDict(extra="forbid")

    priority: list[str] = Field(
        default=DEFAULT_PRIORITY,
        description="Identifier types, most trusted first; unlisted types come after, by name.",
    )
    limits: dict[str, int] = Field(
        default={"user_id": 1, "crm_id": 1},
        description="At most this many values of a type per customer; a merge past it is "
        "refused. Types not listed: `default_limit`.",
    )
    default_limit: int = Field(default=5, ge=1)
    blocked: list[str] = Field(
        default=DEFAULT_BLOCKED,
        description="Values (whole-value regular expressions, any case) that never link.",
    )
    resolve_on_arrival: bool = Field(
        default=True,
        description="Update the customers an import or the live API touches as events arrive "
        "(`parcours identity resolve` recomputes everything).",
    )
    survivorship: dict[str, Literal["most_recent", "most_frequent", "most_trusted"]] = Field(
        default={},
        description="How each trait's value is chosen among its sources, per trait; "
        "`default_survivorship` for the others.",
    )
    default_survivorship: Literal["most_recent", "most_frequent", "most_trusted"] = "most_recent"
    trusted_sources: list[str] = Field(
        default=["crm"],
        description="Sources most trusted first, for `most_trusted` (then most recent).",
    )
    match_threshold: float = Field(
        default=0.99,
        gt=0,
        le=1,
        description="Probabilistic matches (identity_matches) at or above this probability "
        "link records; deterministic links are always united first.",
    )
    shared_types: list[str] = Field(
        default=["device_id", "anonymous_id"],
        description="A value of these types seen with two or more user ids is a shared device: "
        "it links nobody.",
    )

    def rank(self, kind: str) -> int:
        """Position in the priority (lower is more trusted)."""
        return self.priority.index(kind) if kind in self.priority else len(self.priority)

    def limit(self, kind: str) -> int:
        return self.limits.get(kind, self.default_limit)
