"""The single customer view: traits by survivorship rule, and consents per channel and purpose.

Expected values are read off the hand-made records below (the test says why)."""

from __future__ import annotations

import json
from pathlib import Path

import parcours
from parcours.identity.customers import customer_of, show_customer
from parcours.identity.profile import consent_allows
from parcours.identity.resolve import resolve_full


def _identify(source: str, at: str, traits: dict[str, str], n: int) -> str:
    return json.dumps(
        {
            "type": "identify",
            "userId": "u1",
            "messageId": f"{source}-{n}",
            "timestamp": at,
            "traits": traits,
        }
    )


def _load(p: parcours.Parcours, tmp_path: Path, lines_by_source: dict[str, list[str]]) -> None:
    for source, lines in lines_by_source.items():
        path = tmp_path / f"{source}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        p.import_file(path, source=source, mapping="tracking")
    resolve_full(p.store)


def test_traits_follow_their_survivorship_rule(tmp_path: Path) -> None:
    rules = {
        "survivorship": {"city": "most_trusted", "first_name": "most_frequent"},
        "trusted_sources": ["crm"],
    }
    with parcours.connect(tmp_path / "s.duckdb", identity=rules) as p:
        _load(
            p,
            tmp_path,
            {
                "crm": [
                    _identify(
                        "crm", "2026-01-01T00:00:00Z", {"city": "Lyon", "first_name": "Jeanne"}, 1
                    )
                ],
                "web": [
                    _identify(
                        "web", "2026-03-01T00:00:00Z", {"city": "Paris", "first_name": "Jane"}, 1
                    ),
                    _identify(
                        "web", "2026-02-01T00:00:00Z", {"first_name": "Jeanne", "plan": "gold"}, 2
                    ),
                    _identify("web", "2026-04-01T00:00:00Z", {"plan": "silver"}, 3),
                ],
            },
        )
        view = show_customer(p.store, customer_of(p.store, "user_id", "u1"))
    chosen = {t["trait"]: (t["value"], t["source"], t["rule"]) for t in view.traits}
    # city: the CRM is trusted first, though the web said Paris later.
    assert chosen["city"] == ("Lyon", "crm", "most_trusted")
    # first_name: two records say Jeanne, one says Jane.
    assert chosen["first_name"][0] == "Jeanne"
    # plan: the default rule, the latest record.
    assert chosen["plan"] == ("silver", "web", "most_recent")


def test_the_latest_consent_decision_stands(p: parcours.Parcours, tmp_path: Path) -> None:
    def consent(name: str, at: str, channel: str, n: int) -> str:
        return json.dumps(
            {
                "type": "track",
                "event": name,
                "userId": "u1",
                "messageId": f"c{n}",
                "timestamp": at,
                "properties": {"channel": channel, "purpose": "marketing"},
            }
        )

    _load(
        p,
        tmp_path,
        {
            "prefs": [
                consent("Consent Given", "2026-01-01T00:00:00Z", "email", 1),
                consent("Consent Given", "2026-01-01T00:00:00Z", "sms", 2),
                consent("Consent Withdrawn", "2026-02-01T00:00:00Z", "email", 3),
            ]
        },
    )
    customer = customer_of(p.store, "user_id", "u1")
    assert not consent_allows(p.store, customer, "email", "marketing")
    assert consent_allows(p.store, customer, "sms", "marketing")
    assert not consent_allows(p.store, customer, "call", "marketing"), "no record: no consent"
