"""Small worlds for the delivery tests: customers with traits and consents, imported through
the real path, and automations whose sends are planned in the ledger as the runtime plans
them (an instance row, a ledger row `planned`), without the runtime."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import parcours
from parcours.store.store import Store


def person(
    user: str,
    *,
    traits: dict[str, str],
    consents: list[tuple[str, str]] = (),  # type: ignore[assignment]
    at: str = "2026-01-01T00:00:00Z",
) -> list[dict[str, Any]]:
    """A customer's messages in the tracking format: an identify with `traits` and a
    `Consent Given` per (channel, purpose)."""
    messages: list[dict[str, Any]] = [
        {
            "type": "identify",
            "userId": user,
            "messageId": f"{user}-id",
            "timestamp": at,
            "traits": traits,
        }
    ]
    for n, (channel, purpose) in enumerate(consents):
        messages.append(
            {
                "type": "track",
                "event": "Consent Given",
                "userId": user,
                "messageId": f"{user}-consent-{n}",
                "timestamp": at,
                "properties": {"channel": channel, "purpose": purpose},
            }
        )
    return messages


def import_people(p: parcours.Parcours, tmp_path: Path, people: list[list[dict[str, Any]]]) -> None:
    path = tmp_path / "people.jsonl"
    path.write_text("\n".join(json.dumps(m) for messages in people for m in messages) + "\n")
    p.import_file(path, source="crm", mapping="tracking")


def publish(
    store: Store,
    name: str,
    steps: list[dict[str, Any]],
    *,
    at: dt.datetime,
    extra: dict[str, Any] | None = None,
) -> None:
    """An automation row, live, version 1 (as the catalog will publish it)."""
    definition = {"name": name, "trigger": {"event": {"name": "Signed Up"}}, "steps": steps}
    definition |= extra or {}
    store.engine.execute(
        "INSERT INTO automations (name, version, definition, status, on_publish, published_at) "
        "VALUES (?, 1, ?, 'live', 'finish', ?)",
        [name, json.dumps(definition), at],
    )


def send_key(automation: str, version: int, instance: int, step: str, channel: str) -> str:
    return hashlib.md5(f"{automation}|{version}|{instance}|{step}|{channel}".encode()).hexdigest()


def customer_of(store: Store, user: str) -> str:
    return str(
        store.engine.scalar(
            "SELECT customer_id FROM identity_map WHERE type = 'user_id' AND value = ?", [user]
        )
    )


def plan(
    store: Store,
    automation: str,
    step: str,
    users: list[str],
    *,
    channel: str,
    purpose: str = "marketing",
    priority: str = "marketing",
    at: dt.datetime,
    entry: dict[str, Any] | None = None,
) -> list[str]:
    """An instance per user that went past `step` (done: the runtime has nothing left to do
    with it), and the send that step planned, due `at`; returns the send keys."""
    keys = []
    with store.engine.transaction():
        for user in users:
            customer = customer_of(store, user)
            instance = int(
                hashlib.md5(f"{automation}|{customer}|{step}".encode()).hexdigest()[:15], 16
            )
            store.engine.execute(
                "INSERT INTO automation_instances (instance_id, automation, version, customer_id, "
                "entry_key, entry, arm, step, state, entered_at, updated_at) "
                "VALUES (?, ?, 1, ?, 'e', ?, 'treated', NULL, 'done', ?, ?)",
                [instance, automation, customer, json.dumps(entry or {}), at, at],
            )
            key = send_key(automation, 1, instance, step, channel)
            store.engine.execute(
                "INSERT INTO automation_sends (send_key, instance_id, automation, version, step, "
                "customer_id, channel, purpose, priority, state, attempts, next_attempt_at, "
                "planned_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, 'planned', 0, ?, ?, ?)",
                [key, instance, automation, step, customer, channel, purpose, priority, at, at, at],
            )
            keys.append(key)
    return keys


def ledger(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.engine.query("SELECT * FROM automation_sends").to_pylist()
    return {r["send_key"]: r for r in rows}
