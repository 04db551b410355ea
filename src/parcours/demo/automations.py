"""The demo's automations: the shipped welcome and inactivity automations run over the world's
last two months in simulated time, sending email into an SMTP server on loopback.

They run on a copy of the demo's store (`automations.duckdb` beside it): the inactivity
automation anonymises customers and the welcome brings orders, and the store the rest of the
demo reports on stays the world as its exports and truth describe it.

The simulated clock starts when the sign-up drive does (marketing.AUTOMATIONS_FROM) and moves
from morning to morning (`AT`), skipping those with nothing due; at each, the runtime reads the
events that occurred since the last (the store's own events, replayed in the order they
happened), acts, and delivery sends what is due into the mail server. The demo's customers read
their mail there: a responder (truth signups.csv) whose welcome arrived orders `lag` days
later; those orders are written as the site would export them and imported through the real
import path once the drive is over, before their time comes (marketing.RESPONSE_LAG_DAYS).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from parcours.automations import catalog
from parcours.automations.channels.smtp import SmtpChannel
from parcours.automations.clock import SimulatedClock
from parcours.automations.delivery import Delivery
from parcours.automations.feed import replay_feed, write_cursor
from parcours.automations.runtime import Runtime
from parcours.automations.settings import Smtp
from parcours.automations.uplift import uplift
from parcours.client import connect
from parcours.demo import marketing
from parcours.demo.catalog import PRODUCTS
from parcours.demo.clock import SECOND, iso_utc
from parcours.demo.mailbox import Mail, Mailbox
from parcours.sql import lit

SHIPPED = Path(catalog.__file__).parent / "templates"
AUTOMATIONS = ("welcome", "inactivity")
STEP = dt.timedelta(days=1)
"""The simulated clock's step, each morning at `AT` UTC: the runtime's tick and a round of
delivery once a simulated day (a tick costs the same whether it covers an hour or a day)."""
AT = dt.timedelta(hours=9)
"""The ticks' time of day: the inactivity schedule's, and outside the quiet hours."""
SENDER = "Ampère <bonjour@ampere.example>"
RESPONSES = "welcome_orders.jsonl"


def _instant(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / SECOND, dt.UTC)


@dataclass
class AutomationsRun:
    """What the demo's automations did, on which store, in how long."""

    store: str
    start: str
    end: str
    ticks: int = 0
    emails: int = 0
    """Messages the SMTP server on loopback received (one per Message-ID)."""
    responses: int = 0
    """Orders the welcome brought: responders whose welcome arrived."""
    anonymised: int = 0
    seconds: float = 0.0
    uplift: dict[str, Any] = field(default_factory=dict)
    """Per automation: automations.uplift's measure."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def copy_store(store: Path, out_dir: Path) -> Path:
    """The store copied to `out_dir/automations.duckdb` (a stale copy replaced), for the
    automations to act on."""
    copy = out_dir / "automations.duckdb"
    for stale in (copy, copy.with_name(copy.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(store, copy)
    journal = store.with_name(store.name + ".wal")
    if journal.exists():
        shutil.copyfile(journal, copy.with_name(copy.name + ".wal"))
    return copy


def run_automations(
    copy: Path,
    out_dir: Path,
    truth_dir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> AutomationsRun:
    """Publish the shipped welcome and inactivity automations in the store `copy` and run them
    over the world's last two months in simulated time."""
    started = time.perf_counter()
    start = _instant(marketing.AUTOMATIONS_FROM)
    end = _instant(marketing.AUTOMATIONS_UNTIL)
    run = AutomationsRun(str(copy), start.isoformat(), end.isoformat())
    signups = _signups(truth_dir)
    clock = SimulatedClock(start)
    with Mailbox() as mailbox, connect(copy) as p:
        engine = p.store.engine
        for name in AUTOMATIONS:
            catalog.publish(p.store, SHIPPED / f"{name}.yaml", clock=clock)
            write_cursor(engine, f"schedule:{name}", start)
        runtime = Runtime(p.store, clock=clock)
        smtp = Smtp(host="127.0.0.1", port=mailbox.port, sender=SENDER)
        delivery = Delivery(p.store, clock=clock, channels={"email": SmtpChannel(smtp)})
        respond_at = _instant(marketing.SIGNUP_DRIVE[1]) + dt.timedelta(days=1)
        orders: list[dict[str, Any]] = []
        mornings = _mornings(start, end)
        last = start
        for done, at in enumerate(mornings, start=1):
            if progress is not None:
                progress(done, len(mornings))
            if at != end and not _something_due(engine, start, last, at, respond_at):
                continue
            replay_feed(engine, last, at, "customer_events")
            clock.set(at)
            runtime.tick(feed=False)
            while _delivered(delivery):  # every batch of what is due, held ones too
                pass
            orders += _responses(engine, mailbox.new(), signups, at)
            if orders and at >= respond_at and not run.responses:
                run.responses = _import_orders(p, out_dir / "exports" / RESPONSES, orders)
            run.ticks += 1
            last = at
        run.emails = mailbox.received
        run.anonymised = int(
            engine.scalar(
                "SELECT count(*) FROM automation_steps WHERE automation = 'inactivity' "
                "AND outcome = 'anonymised'"
            )
            or 0
        )
        run.uplift = {name: uplift(p.store, name).to_dict() for name in AUTOMATIONS}
    run.seconds = round(time.perf_counter() - started, 1)
    return run


def _something_due(
    engine: Any, start: dt.datetime, last: dt.datetime, at: dt.datetime, respond_at: dt.datetime
) -> bool:
    """Whether the morning `at` has work: the first morning, a sign-up since `last` (the
    welcome's trigger), a timer or a send due by `at`, or the responders' orders to import.
    A morning without is skipped: the next tick reads its events (before the timers then due,
    in the order things happened) and the inactivity schedule's missed mornings (their
    entrants enter then; none of them could be anonymised before the clock stops anyway)."""
    if last == start or last < respond_at <= at:
        return True
    due = engine.scalar(
        f"""SELECT (SELECT count(*) FROM automation_instances
                    WHERE state = 'waiting' AND wake_at <= ?)
                 + (SELECT count(*) FROM automation_sends
                    WHERE state IN ('planned', 'deferred') AND next_attempt_at <= ?)
                 + (SELECT count(*) FROM customer_events
                    WHERE name = {lit(marketing.SIGNED_UP)}
                      AND occurred_at >= ? AND occurred_at < ?)""",
        [at, at, last, at],
    )
    return bool(due)


def _delivered(delivery: Delivery) -> bool:
    """One round of delivery (a batch); whether sends are still due after it that it made
    progress on (a batch is `send_batch` rows: a morning can have more)."""
    due = (
        "SELECT count(*) FROM automation_sends WHERE state IN ('planned', 'deferred') "
        "AND next_attempt_at <= ?"
    )
    now, engine = delivery.clock.now(), delivery.store.engine
    before = int(engine.scalar(due, [now]) or 0)
    if not before:
        return False
    delivery.run_once()
    after = int(engine.scalar(due, [now]) or 0)
    return 0 < after < before


def _mornings(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Each day's `AT` from `start` on, and `end`."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0) + AT
    first += STEP * (first < start)
    days = int((end - first) / STEP) + 1
    return [t for t in (first + STEP * n for n in range(days)) if t < end] + [end]


def _signups(truth_dir: Path) -> dict[str, dict[str, str]]:
    with (truth_dir / "signups.csv").open(encoding="utf-8") as handle:
        return {row["email"]: row for row in csv.DictReader(handle)}


def _responses(
    engine: Any, mails: list[Mail], signups: dict[str, dict[str, str]], at: dt.datetime
) -> list[dict[str, Any]]:
    """The orders of the responders whose welcome just arrived (at `at`), `lag` days on."""
    if not mails:
        return []
    keys = {m.message_id.strip("<>").split("@")[0]: m for m in mails}
    welcomes = engine.query(
        "SELECT send_key FROM automation_sends WHERE automation = 'welcome' AND step = 'hello' "
        "AND send_key IN (SELECT unnest(?))",
        [list(keys)],
    ).column(0)
    orders = []
    for key in welcomes.to_pylist():
        mail = keys[key]
        signup = signups.get(mail.to)
        if signup is None or signup["responder"] != "1":
            continue
        placed = at + dt.timedelta(days=float(signup["response_lag_days"]))
        orders.append(_order(mail.to, key, placed))
    return orders


def _order(email: str, key: str, placed: dt.datetime) -> dict[str, Any]:
    """The order as the site's export writes one (Segment's `Order Completed`)."""
    rng = random.Random(f"welcome-order:{key}")
    product = rng.choice(PRODUCTS)
    return {
        "messageId": f"welcome-order-{key}",
        "type": "track",
        "event": "Order Completed",
        "timestamp": iso_utc(int(placed.timestamp() * SECOND)),
        "properties": {
            "order_id": f"CMD-W{key[:10].upper()}",
            "revenue": product.price,
            "currency": "EUR",
            "products": [
                {"product_id": product.sku, "name": product.name, "price": product.price,
                 "quantity": 1}
            ],
        },
        "context": {
            "page": {"url": "https://www.ampere.example/commande/confirmation"},
            "locale": "fr-FR",
            "traits": {"email": email},
        },
    }  # fmt: skip


def _import_orders(p: Any, path: Path, orders: list[dict[str, Any]]) -> int:
    """Write the responders' orders as a web export and import them (source `web`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for order in orders:
            handle.write(json.dumps(order, ensure_ascii=False) + "\n")
    summary = p.import_file(path, source="web", mapping="web")
    return int(summary.accepted)
