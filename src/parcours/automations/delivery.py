"""Delivery: the send ledger's due messages checked, rendered, handed to their providers
exactly once in effect, and their outcomes recorded (docs/automations.md, "Delivery").

The runtime plans a send by writing its ledger row (`automation_sends`, state `planned`)
before anything is sent; delivery moves it on, in three parts that suit the server's one
writer:

- `claim(limit)` — store work. The due rows (planned or deferred, `next_attempt_at` passed; a
  retry is a planned row with attempts) of live automations, in priority order, are checked
  for the whole batch at once: consent for the channel and purpose (the latest decision in the
  customer's events, no record: no), an address, contact pressure and quiet hours in each
  recipient's zone (`pressure`), then the content rendered (`render`). A send that cannot go
  is held (no consent, no address, a missing trait: with the reason) or deferred (capped,
  quiet hours: to the next allowed moment). The rest turn `sending` and are returned.
- `send(outgoing)` — provider I/O only, no store: each channel's batch to its provider, with
  the send key as the provider's idempotency key (Message-ID, Idempotency-Key).
- `record(outcomes)` — store work: sent, failed (bounced, refused, or retries spent), or
  planned again later with an exponential backoff; and each send and bounce as an event of
  the customer (`Email Sent`, `SMS Sent`, `Email Bounced`...) through `identity.own_events`.

A crash between claim and record leaves rows `sending`: `reconcile()`, at start-up, makes
them due again, and they go out with the same key, so a provider that honours the key
delivers each once. A provider that is down delays its sends; it never loses one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from parcours.automations.channels import Channel, Outcome, Outgoing, channels_from_settings
from parcours.automations.clock import Clock
from parcours.automations.definition import AutomationDefinition, Send, parse_automation
from parcours.automations.ledger import Decision, record_outcomes, write_decisions
from parcours.automations.pressure import Budget, Pressure, priority_rank
from parcours.automations.render import Missing, Renderer, html_of, track_links
from parcours.automations.settings import automation_settings
from parcours.automations.timezones import checked_zone, zones_query
from parcours.automations.tracking import Links, link_secret
from parcours.identity.profile import CONSENT_GIVEN, CONSENT_WITHDRAWN, traits_of_many
from parcours.sql import lit
from parcours.store.store import Store

BATCH = "_delivery_batch"
ADDRESS = {"email": "email", "sms": "phone", "push": "device_token"}
"""The identifier type (or trait) each channel's address is."""
DUE = (
    "s.state IN ('planned', 'deferred') AND s.next_attempt_at <= ? "
    "AND s.automation NOT IN (SELECT name FROM automations "
    "  QUALIFY row_number() OVER (PARTITION BY name ORDER BY version DESC) = 1 "
    "  AND (status <> 'live' OR retired_at IS NOT NULL))"
)
"""The sends due now (parameter: now) of automations whose current version is live: a
paused automation's sends wait for it to resume."""
SENDS_COLUMNS = (
    "send_key, instance_id, automation, version, step, customer_id, channel, purpose, "
    "priority, attempts, planned_at"
)


@dataclass(frozen=True)
class DeliveryReport:
    """What one round did: claimed (handed to providers), and how each ended."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    deferred: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _cancelled_by(exit_reason: str | None) -> bool:
    """Whether an instance's end cancels the sends it planned and had not sent yet: a goal
    reached, an exit event, a segment left (automations.wakes) — not its natural end."""
    if exit_reason is None:
        return False
    return exit_reason == "goal" or exit_reason.startswith(("exit: ", "left segment: "))


def default_templates(store: Store) -> list[Path]:
    """The project's templates: `automations/templates/` beside the store."""
    return [Path(store.settings.store).resolve().parent / "automations" / "templates"]


class Delivery:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        channels: dict[str, Channel] | None = None,
        templates: list[Path] | None = None,
    ) -> None:
        self.store, self.clock = store, clock
        self.settings = automation_settings(store.settings)
        self.channels = channels if channels is not None else channels_from_settings(self.settings)
        self.renderer = Renderer(templates if templates is not None else default_templates(store))
        self.links = Links(self.settings.public_url, link_secret(store, self.settings))
        self._definitions: dict[tuple[str, int], AutomationDefinition] = {}
        self.last_claim: dict[str, int] = {}

    # --- start-up -------------------------------------------------------------------------

    def reconcile(self) -> int:
        """Make the rows a crash left `sending` due again (same key, attempts kept): they go
        out at the next claim. Returns how many."""
        now = self.clock.now()
        with self.store.engine.transaction():
            return self.store.engine.write(
                "UPDATE automation_sends SET state = 'planned', next_attempt_at = ?, "
                "updated_at = ?, reason = 'sent again after a restart, with the same key' "
                "WHERE state = 'sending'",
                [now, now],
            )

    # --- claim: store work ----------------------------------------------------------------

    def has_due(self) -> bool:
        """Whether any send is due now (a read: the server's loop asks before it claims)."""
        return bool(
            self.store.engine.scalar(
                f"SELECT count(*) > 0 FROM automation_sends s WHERE {DUE}", [self.clock.now()]
            )
        )

    def claim(self, limit: int | None = None) -> list[Outgoing]:
        """Check and render up to `limit` due sends (settings `send_batch`); hold or defer
        what cannot go, set the rest `sending` and return them."""
        limit = limit or self.settings.send_batch
        now = self.clock.now()
        engine = self.store.engine
        with engine.transaction():
            engine.execute(
                f"CREATE OR REPLACE TEMP TABLE {BATCH} AS SELECT {SENDS_COLUMNS}, "
                "(SELECT CASE WHEN i.exited_at >= s.planned_at THEN i.exit_reason END "
                " FROM automation_instances i WHERE i.instance_id = s.instance_id) AS left_for "
                f"FROM automation_sends s WHERE {DUE} "
                "ORDER BY CASE priority WHEN 'transactional' THEN 0 WHEN 'service' THEN 1 "
                "ELSE 2 END, next_attempt_at, send_key LIMIT ?",
                [now, limit],
            )
            rows = engine.query(f"SELECT * FROM {BATCH}").to_pylist()
            if not rows:
                engine.execute(f"DROP TABLE {BATCH}")
                return []
            decisions, outgoing = self._decide(rows, now)
            write_decisions(self.store, decisions, now)
            engine.execute(f"DROP TABLE {BATCH}")
        counts: dict[str, int] = {}
        for d in decisions:
            counts[d.state] = counts.get(d.state, 0) + 1
        self.last_claim = counts
        return outgoing

    def _decide(
        self, rows: list[dict[str, Any]], now: dt.datetime
    ) -> tuple[list[Decision], list[Outgoing]]:
        self.renderer.fresh()
        consents = self._consents()
        addresses = self._addresses()
        traits = traits_of_many(self.store, f"SELECT customer_id FROM {BATCH}")
        entries = self._entries()
        budgets = self._budgets(now)
        pressure = Pressure(self.settings, now)
        decisions: list[Decision] = []
        outgoing: list[Outgoing] = []
        rows.sort(key=lambda r: (priority_rank(r["priority"]), r["planned_at"], r["send_key"]))
        for row in rows:
            key, customer, channel = row["send_key"], row["customer_id"], row["channel"]
            send = self._send_step(row)
            if _cancelled_by(row["left_for"]) and row["priority"] != "transactional":
                reason = f"the customer left the automation ({row['left_for']})"
                decisions.append(Decision(key, "held", None, reason))
                continue
            if send is None:
                decisions.append(Decision(key, "held", None, "the step is no longer a send"))
                continue
            if channel != "webhook" and channel not in self.channels:
                later = now + dt.timedelta(seconds=self.settings.retry_after_s)
                reason = f"no {channel} provider: set [parcours.automations.{channel}] url"
                decisions.append(Decision(key, "deferred", later, reason))
                continue
            if channel != "webhook" and not consents.get((customer, channel, row["purpose"])):
                reason = f"no consent for {row['purpose']} on {channel}"
                decisions.append(Decision(key, "held", None, reason))
                continue
            profile = traits.get(customer, {})
            address = self._address(channel, send, addresses.get((customer, channel)), profile)
            if address is None:
                decisions.append(Decision(key, "held", None, f"no {ADDRESS[channel]} address"))
                continue
            verdict = pressure.judge(row["priority"], budgets[customer])
            if not verdict.go:
                decisions.append(Decision(key, "deferred", verdict.until, verdict.reason))
                continue
            try:
                message = self._message(row, send, address, profile, entries.get(key, {}))
            except Missing as missing:
                budgets[customer].spent.pop()  # not sent: it spends nothing
                decisions.append(Decision(key, "held", None, str(missing)))
                continue
            decisions.append(Decision(key, "sending"))
            outgoing.append(message)
        return decisions, outgoing

    def _send_step(self, row: dict[str, Any]) -> Send | None:
        ident = (row["automation"], row["version"])
        definition = self._definitions.get(ident)
        if definition is None:
            text = self.store.engine.scalar(
                "SELECT definition FROM automations WHERE name = ? AND version = ?", list(ident)
            )
            definition = parse_automation(json.loads(text), origin=f"{ident[0]} v{ident[1]}")
            self._definitions[ident] = definition
        try:
            return definition.step(row["step"]).send
        except StopIteration:
            return None

    def _consents(self) -> dict[tuple[str, str, str], bool]:
        """The standing consent (latest decision) per customer, channel and purpose the batch
        needs, in one query (identity.profile.consents_query's rule, for many customers)."""
        found = self.store.engine.query(
            f"""
            SELECT customer_id, json_extract_string(properties, '$.channel') AS channel,
                   json_extract_string(properties, '$.purpose') AS purpose,
                   arg_max(name = {lit(CONSENT_GIVEN)}, occurred_at) AS granted
            FROM customer_events
            WHERE customer_id IN (SELECT customer_id FROM {BATCH})
              AND name IN ({lit(CONSENT_GIVEN)}, {lit(CONSENT_WITHDRAWN)})
            GROUP BY ALL
            """
        ).to_pylist()
        return {(r["customer_id"], r["channel"], r["purpose"]): bool(r["granted"]) for r in found}

    def _addresses(self) -> dict[tuple[str, str], str]:
        """Each customer's latest email, phone and device token identifiers."""
        kinds = {kind: channel for channel, kind in ADDRESS.items()}
        found = self.store.engine.query(
            "SELECT customer_id, type, arg_max(value, coalesce(last_seen, first_seen)) AS value "
            f"FROM identity_map WHERE customer_id IN (SELECT customer_id FROM {BATCH}) "
            f"AND type IN ({', '.join(lit(k) for k in kinds)}) GROUP BY ALL"
        ).to_pylist()
        return {(r["customer_id"], kinds[r["type"]]): r["value"] for r in found}

    def _entries(self) -> dict[str, dict[str, Any]]:
        found = self.store.engine.query(
            "SELECT b.send_key, i.entry FROM automation_instances i "
            f"JOIN {BATCH} b USING (instance_id)"
        ).to_pylist()
        return {r["send_key"]: json.loads(r["entry"]) if r["entry"] else {} for r in found}

    def _budgets(self, now: dt.datetime) -> dict[str, Budget]:
        """Each recipient's zone and what they were sent in the last eight days (enough for
        a local week and a local day in any zone)."""
        zones = self.store.engine.query(
            zones_query(f"SELECT customer_id FROM {BATCH}", self.settings.default_timezone)
        ).to_pylist()
        budgets = {
            z["customer_id"]: Budget(checked_zone(z["zone"], where="timezone trait")) for z in zones
        }
        spent = self.store.engine.query(
            "SELECT customer_id, priority, coalesce(sent_at, updated_at) AS at "
            "FROM automation_sends WHERE state IN ('sent', 'sending') "
            f"AND customer_id IN (SELECT customer_id FROM {BATCH}) "
            "AND coalesce(sent_at, updated_at) >= ?",
            [now - dt.timedelta(days=8)],
        ).to_pylist()
        for s in spent:
            budgets[s["customer_id"]].spent.append((s["priority"], s["at"]))
        return budgets

    def _address(
        self, channel: str, send: Send, known: str | None, traits: dict[str, str]
    ) -> str | None:
        if channel == "webhook":
            return send.url
        return known or traits.get(ADDRESS[channel])

    def _message(
        self,
        row: dict[str, Any],
        send: Send,
        address: str,
        traits: dict[str, str],
        entry: dict[str, Any],
    ) -> Outgoing:
        key, customer, channel = row["send_key"], row["customer_id"], row["channel"]
        common = {
            "key": key,
            "channel": channel,
            "customer_id": customer,
            "automation": row["automation"],
            "step": row["step"],
            "purpose": row["purpose"],
            "to": address,
        }
        if channel == "webhook":
            data = {"instance_id": row["instance_id"], "version": row["version"], "entry": entry}
            return Outgoing(**common, url=send.url, data=data)
        context = {"traits": traits, "customer_id": customer, "entry": entry}
        unsubscribe = None
        if row["priority"] == "marketing" or row["purpose"] == "marketing":
            unsubscribe = self.links.unsubscribe(key, customer, channel, row["purpose"])
            context["unsubscribe_url"] = unsubscribe
        rendered = self.renderer.render(
            channel,
            template=send.template,
            subject=send.subject,
            body=send.body,
            context=context,
        )
        if channel != "email":
            return Outgoing(**common, body=rendered.body)
        return self._email(common, rendered.subject, rendered.body, rendered.html, unsubscribe)

    def _email(
        self,
        common: dict[str, Any],
        subject: str | None,
        text: str,
        html: str | None,
        unsubscribe: str | None,
    ) -> Outgoing:
        """The email with its unsubscribe link (marketing: in the text, the HTML and the
        List-Unsubscribe headers), its links tracked and its open pixel."""
        headers: dict[str, str] = {}
        html = html if html is not None else html_of(text)
        if unsubscribe is not None:
            if unsubscribe not in text:
                text += f"\n\n--\nTo stop receiving these messages: {unsubscribe}"
            if unsubscribe not in html:
                html += f'\n<p><a href="{unsubscribe}">Unsubscribe</a></p>'
            headers["List-Unsubscribe"] = f"<{unsubscribe}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        ids = (common["key"], common["customer_id"], common["channel"], common["purpose"])
        html = track_links(html, lambda url: self.links.click(*ids, url), skip=self.links.base)
        html += f'\n<img src="{self.links.pixel(*ids)}" width="1" height="1" alt="">'
        return Outgoing(**common, subject=subject, body=text, html=html, headers=headers)

    # --- send: provider I/O only ----------------------------------------------------------

    def send(self, outgoing: list[Outgoing]) -> list[Outcome]:
        """Hand each message to its channel's provider; one outcome each. No store access:
        in the server this runs in a worker thread, outside the store's writer."""
        by_channel: dict[str, list[Outgoing]] = {}
        for message in outgoing:
            by_channel.setdefault(message.channel, []).append(message)
        outcomes: list[Outcome] = []
        for channel, messages in by_channel.items():
            try:
                outcomes += self.channels[channel].send(messages)
            except Exception as error:  # a connector's bug must not lose the batch
                reason = f"{channel} connector failed: {type(error).__name__}: {error}"
                outcomes += [Outcome(m.key, "retry", reason) for m in messages]
        return outcomes

    # --- record: store work ---------------------------------------------------------------

    def record(self, outcomes: list[Outcome]) -> DeliveryReport:
        """Write the outcomes to the ledger, and the sends and bounces back as events, in
        one transaction (automations.ledger.record_outcomes)."""
        if not outcomes:
            return DeliveryReport()
        states = record_outcomes(self.store, outcomes, self.clock.now(), self.settings)
        return DeliveryReport(
            claimed=len(states),
            sent=states.count("sent"),
            retried=states.count("planned"),
            failed=states.count("failed"),
        )

    # --- all three ------------------------------------------------------------------------

    def run_once(self, limit: int | None = None) -> DeliveryReport:
        """Claim, send and record one batch (a batch run, the tests)."""
        outgoing = self.claim(limit)
        claimed = dict(self.last_claim)
        report = self.record(self.send(outgoing))
        return DeliveryReport(
            claimed=len(outgoing),
            sent=report.sent,
            retried=report.retried,
            failed=report.failed,
            held=claimed.get("held", 0),
            deferred=claimed.get("deferred", 0),
        )
