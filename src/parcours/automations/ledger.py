"""The send ledger's transitions that delivery writes (`automation_sends`): what a claim
decided for each due send, and what the providers answered.

- A claim's decisions: `sending` (handed to the provider now: attempts + 1), `held` (with the
  reason), `deferred` (with the next allowed moment).
- An outcome: `sent` (with the provider's reference), `failed` (bounced, refused for good, or
  retries spent: with the reason), or `planned` again after a backoff (`retry_after_s`,
  doubled per attempt) — the same row, so the same key at the next attempt.

Each send and each bounce also comes back as an event of the customer (`Email Sent`,
`SMS Sent`, `Email Bounced`...; `properties.send_key`), written in the transaction that
records the outcome: exactly one per message, even when a crash made it go out twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from parcours.automations.channels import Outcome
from parcours.automations.events import EMAIL_BOUNCED, SEND_KEY, SENT
from parcours.automations.settings import AutomationSettings
from parcours.automations.tracking import write_events
from parcours.store.store import Store

EVENT_NAMES, BOUNCED = SENT, EMAIL_BOUNCED


@dataclass(frozen=True)
class Decision:
    """What a claim decided for one due send."""

    key: str
    state: str
    next_attempt_at: dt.datetime | None = None
    reason: str | None = None


def write_decisions(store: Store, decisions: list[Decision], now: dt.datetime) -> None:
    """A claim's decisions, in the caller's transaction."""
    table = pa.table(
        {
            "key": [d.key for d in decisions],
            "state": [d.state for d in decisions],
            "next_attempt_at": pa.array(
                [d.next_attempt_at for d in decisions], pa.timestamp("us", "UTC")
            ),
            "reason": pa.array([d.reason for d in decisions], pa.string()),
        }
    )
    with store.engine.registered("_delivery_decisions", table) as name:
        store.engine.execute(
            f"""
            UPDATE automation_sends s SET
                state = d.state,
                attempts = s.attempts + CASE d.state WHEN 'sending' THEN 1 ELSE 0 END,
                next_attempt_at = CASE d.state WHEN 'deferred' THEN d.next_attempt_at
                                  WHEN 'held' THEN NULL ELSE s.next_attempt_at END,
                reason = d.reason, updated_at = ?
            FROM {name} d WHERE s.send_key = d.key
            """,
            [now],
        )


def record_outcomes(
    store: Store, outcomes: list[Outcome], now: dt.datetime, settings: AutomationSettings
) -> list[str]:
    """Write `outcomes` to the ledger and their events, in one transaction; return the new
    state of each send recorded. Only rows still `sending` are touched: an outcome that comes
    twice is recorded once."""
    engine = store.engine
    table = pa.table(
        {
            "key": [o.key for o in outcomes],
            "status": [o.status for o in outcomes],
            "reason": pa.array([o.reason for o in outcomes], pa.string()),
            "provider_ref": pa.array([o.provider_ref for o in outcomes], pa.string()),
        }
    )
    with engine.transaction(), engine.registered("_delivery_outcomes", table) as name:
        rows = engine.query(
            f"SELECT o.*, s.customer_id, s.automation, s.version, s.step, s.channel, "
            f"s.attempts FROM {name} o JOIN automation_sends s ON s.send_key = o.key "
            "WHERE s.state = 'sending'"
        ).to_pylist()
        updates, events = _outcome_rows(rows, now, settings)
        with engine.registered("_delivery_updates", updates) as changed:
            engine.execute(
                "UPDATE automation_sends s SET state = u.state, reason = u.reason, "
                "next_attempt_at = u.next_attempt_at, provider_ref = coalesce("
                "u.provider_ref, s.provider_ref), sent_at = CASE u.state WHEN 'sent' "
                f"THEN ?::TIMESTAMPTZ ELSE s.sent_at END, updated_at = ? FROM {changed} u "
                "WHERE s.send_key = u.key",
                [now, now],
            )
        write_events(store, events)
    return [str(state) for state in updates.column("state").to_pylist()]


def _next_state(
    row: dict[str, Any], now: dt.datetime, settings: AutomationSettings
) -> tuple[str, str | None, dt.datetime | None]:
    """The ledger state an outcome leads to, its reason, and when to try again."""
    status, reason, attempts = row["status"], row["reason"], row["attempts"]
    if status == "retry":
        if attempts >= settings.max_attempts:
            return "failed", f"gave up after {attempts} attempts: {reason}", None
        after = now + dt.timedelta(seconds=settings.retry_after_s * 2 ** max(attempts - 1, 0))
        return "planned", f"attempt {attempts} failed, again at {after:%H:%M:%S}: {reason}", after
    return ("failed" if status == "bounced" else status), reason, None


def _outcome_rows(
    rows: list[dict[str, Any]], now: dt.datetime, settings: AutomationSettings
) -> tuple[pa.Table, list[dict[str, Any]]]:
    columns: dict[str, list[Any]] = {c: [] for c in ("key", "state", "reason", "next", "ref")}
    events: list[dict[str, Any]] = []
    for r in rows:
        state, reason, after = _next_state(r, now, settings)
        for column, value in zip(
            columns, (r["key"], state, reason, after, r["provider_ref"]), strict=True
        ):
            columns[column].append(value)
        properties = {
            SEND_KEY: r["key"],
            "automation": r["automation"],
            "version": r["version"],
            "step": r["step"],
        }
        name, channel = EVENT_NAMES.get(r["channel"], ("Message Sent", "other"))
        if r["status"] == "bounced":
            name, properties = BOUNCED, {**properties, "reason": reason}
        elif r["status"] != "sent":
            continue
        events.append(
            {
                "customer_id": r["customer_id"],
                "event_id": f"{r['status']}:{r['key']}",
                "name": name,
                "channel": channel,
                "occurred_at": now,
                "properties": properties,
            }
        )
    table = pa.table(
        {
            "key": columns["key"],
            "state": columns["state"],
            "reason": pa.array(columns["reason"], pa.string()),
            "next_attempt_at": pa.array(columns["next"], pa.timestamp("us", "UTC")),
            "provider_ref": pa.array(columns["ref"], pa.string()),
        }
    )
    return table, events
