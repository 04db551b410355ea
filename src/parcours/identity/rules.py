"""Identity rules: which identifiers may join a customer, in what order, and how many.

Declared in settings (`[parcours.identity]` in parcours.toml). The defaults follow what the
field has learnt: Segment Unify's per-type limits (one user id, five of anything else) and
priority (user id first), PostHog's refusal to merge two identified people through a shared
device, and the junk values every CRM export holds.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parcours.config import Settings

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

DEFAULT_PERSON_FIELDS = {
    "first_name": ["first_name", "given_name", "firstname"],
    "last_name": ["last_name", "surname", "lastname"],
    "birth_date": ["birth_date", "date_of_birth", "dob", "birthdate"],
    "postcode": ["postcode", "postal_code", "zip", "zip_code"],
    "city": ["city", "suburb", "town"],
    "street": ["street", "address_1", "address_line_1"],
    "street_number": ["street_number", "house_number"],
}


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
    person_fields: dict[str, list[str]] = Field(
        default=DEFAULT_PERSON_FIELDS,
        description="Event properties that describe a person, by attribute: an event with two "
        "or more of them (a CRM row, a receipt with a name and postcode) is a record that "
        "probabilistic matching compares; the first property present is taken. Known "
        "attributes: first_name, last_name, birth_date, postcode, city, street, "
        "street_number; others are compared exactly.",
    )
    shared_types: list[str] = Field(
        default=["device_id", "anonymous_id"],
        description="A value of these types seen with two or more user ids is a shared device: "
        "it links nobody.",
    )

    @field_validator("person_fields")
    @classmethod
    def _attribute_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for attribute, properties in value.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", attribute) or attribute.startswith("record"):
                raise ValueError(
                    f"person attribute {attribute!r} must be a lower-case word like 'first_name' "
                    "(and not start with 'record')"
                )
            if not properties:
                raise ValueError(f"person attribute {attribute!r} lists no property names")
        return value

    def rank(self, kind: str) -> int:
        """Position in the priority (lower is more trusted)."""
        return self.priority.index(kind) if kind in self.priority else len(self.priority)

    def limit(self, kind: str) -> int:
        return self.limits.get(kind, self.default_limit)


def identity_rules(settings: Settings) -> IdentityRules:
    """The identity station's rules, from the settings' `[parcours.identity]` table."""
    return settings.section("identity", IdentityRules)
