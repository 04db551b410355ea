"""Hand-made Segment-spec messages at exact instants for the automation tests, imported through
the shipped `tracking` mapping (customers resolved on arrival), and automations published by
writing their `automations` row directly (version 1, live)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import orjson

import parcours
from parcours.automations.definition import AutomationDefinition, parse_automation

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
"""A Monday noon UTC, three weeks before Europe's change to summer time (2026-03-29) and a
week before America's (2026-03-08)."""
_numbers = itertools.count()


def message(
    user: str, at: dt.datetime, event: str, via: str = "web", **properties: Any
) -> dict[str, Any]:
    """A track message of `user` at `at` on channel `via`, with these properties."""
    return {
        "type": "track",
        "userId": user,
        "messageId": f"m{next(_numbers)}",
        "timestamp": at.isoformat(),
        "context": {"channel": via},
        "event": event,
        "properties": properties,
    }


def identify(user: str, at: dt.datetime, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": user,
        "messageId": f"m{next(_numbers)}",
        "timestamp": at.isoformat(),
        "context": {"channel": "other"},
        "traits": traits,
    }


def send_messages(p: parcours.Parcours, tmp_path: Path, messages: list[dict[str, Any]]) -> None:
    """Import `messages` as one file (each call a new file of the same source)."""
    path = tmp_path / f"batch{next(_numbers)}.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in messages) + "\n")
    summary = p.import_file(path, source="app", mapping="tracking")
    assert not summary.quarantined, summary.quarantined


def publish(
    p: parcours.Parcours, definition: dict[str, Any], *, at: dt.datetime = T0, status: str = "live"
) -> AutomationDefinition:
    """Publish `definition` as version 1 (the catalog's job; written directly here)."""
    parsed = parse_automation(definition)
    p.store.engine.execute(
        "INSERT INTO automations VALUES (?, 1, ?, ?, ?, 'finish', ?, NULL)",
        [parsed.name, orjson.dumps(parsed.to_json_dict()).decode(), None, status, at],
    )
    return parsed


def customer(p: parcours.Parcours, user: str) -> str:
    from parcours.identity.customers import customer_of

    return customer_of(p.store, "user_id", user)


def instances(p: parcours.Parcours, automation: str) -> dict[str, dict[str, Any]]:
    """The instances of `automation` by user id (one per user expected)."""
    rows = p.store.engine.query(
        "SELECT m.value AS user, i.* FROM automation_instances i "
        "JOIN identity_map m ON m.customer_id = i.customer_id AND m.type = 'user_id' "
        "WHERE i.automation = ?",
        [automation],
    ).to_pylist()
    return {r["user"]: r for r in rows}


def welcome(wait: str) -> dict[str, Any]:
    """A welcome on `Signed Up` (entered once ever): hello, a wait of `wait`, then a nudge;
    its goal a first order within 30 days."""
    email = {"channel": "email", "purpose": "marketing"}
    return {
        "name": "welcome",
        "trigger": {"event": {"name": "Signed Up"}},
        "entry": {"re_entry": "never"},
        "goal": {"event": {"name": "Order Completed"}, "within": "30d"},
        "steps": [
            {"id": "hello", "send": {**email, "subject": "Hi", "body": "Hello"}},
            {"id": "pause", "wait": wait},
            {"id": "nudge", "send": {**email, "subject": "Still there?", "body": "..."}},
        ],
    }
