"""Where the simulation writes: the channel exports, the truth files and their tallies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from parcours.demo.clock import CHURN_CUTOFF, iso_utc
from parcours.demo.people import Customer
from parcours.demo.writers import APP_SCHEMA, CsvRows, JsonLines, ParquetColumns, Sink
from parcours.store import schema

EXPORT_FILES = {
    # source: (file name, shipped mapping)
    "web": ("web_events.jsonl.gz", "web"),
    "app": ("app_events.parquet", "app"),
    "pos": ("store_receipts.csv", "pos"),
    "call_centre": ("call_centre.csv", "call_centre"),
    "chat": ("chat_transcripts.jsonl", "chat"),
    "crm": ("crm_customers.csv", "crm"),
    "email": ("email_activity.csv", "email"),
    "social": ("social_posts.jsonl", "social"),
    "sms": ("sms.csv", "sms"),
}

POS_HEADER = (
    "receipt_id",
    "store_id",
    "sold_at",
    "loyalty_card",
    "total",
    "currency",
    "items",
    "payment",
    # The buyer, on receipts without a loyalty card that name them (visits.py).
    "first_name",
    "last_name",
    "street",
    "postcode",
    "city",
)
CALL_HEADER = (
    "call_id",
    "started_at",
    "caller_number",
    "queue",
    "wait_seconds",
    "talk_time",
    "agent_id",
    "team",
    "reason_code",
    "outcome_code",
    "notes",
    # The caller, as the agent checked who was calling (service.py).
    "first_name",
    "last_name",
    "date_of_birth",
)
CRM_HEADER = (
    "customer_number",
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "postcode",
    "city",
    "birth_date",
    "loyalty_card",
    "web_user_id",
    "social_handle",
    "updated_at",
)
EMAIL_HEADER = ("email", "campaign", "activity", "timestamp")
SMS_HEADER = ("sid", "direction", "msisdn", "sender", "body", "status", "date_created")

CHANNELS = schema.CHANNELS
IDENTIFIER_TYPES = ("anonymous_id", "user_id", *schema.IDENTIFIER_TYPES)


class Exports:
    """The nine channel exports, with good-record counts per channel and planted bad ones."""

    def __init__(self, directory: Path) -> None:
        def path(source: str) -> Path:
            return directory / EXPORT_FILES[source][0]

        self.web = JsonLines(path("web"), compress=True)
        self.app = ParquetColumns(path("app"), APP_SCHEMA)
        self.pos = CsvRows(path("pos"), POS_HEADER, delimiter=";")
        self.call_centre = CsvRows(path("call_centre"), CALL_HEADER)
        self.chat = JsonLines(path("chat"))
        self.crm = CsvRows(path("crm"), CRM_HEADER)
        self.email = CsvRows(path("email"), EMAIL_HEADER)
        self.social = JsonLines(path("social"))
        self.sms = CsvRows(path("sms"), SMS_HEADER)
        self.channels = dict.fromkeys(CHANNELS, 0)
        self.planted: dict[str, dict[str, int]] = {source: {} for source in EXPORT_FILES}

    def sinks(self) -> dict[str, Sink]:
        return {
            "web": self.web,
            "app": self.app,
            "pos": self.pos,
            "call_centre": self.call_centre,
            "chat": self.chat,
            "crm": self.crm,
            "email": self.email,
            "social": self.social,
            "sms": self.sms,
        }

    def plant(self, source: str, reason_code: str) -> None:
        """Record that the record just written to `source` is deliberately bad."""
        counts = self.planted[source]
        counts[reason_code] = counts.get(reason_code, 0) + 1

    def close(self) -> None:
        for sink in self.sinks().values():
            sink.close()


@dataclass
class Counters:
    """Sequences for ids that must be unique across the whole world."""

    receipts: int = 0
    calls: int = 0
    chats: int = 0
    orders: int = 0
    cases: int = 0
    posts: int = 0
    crm_rows: int = 0

    def next(self, name: str) -> int:
        value: int = getattr(self, name) + 1
        setattr(self, name, value)
        return value


@dataclass(frozen=True)
class Outcome:
    """What the truth says of a customer's year besides identity (world.py fills it in)."""

    inactive: bool
    last_activity: int
    active_before_cutoff: bool
    """An activity in the 8 weeks before the churn cut-off (journey.py ACTIVE_WINDOW)."""
    churned: bool
    """Some activity, and nothing from the last one to the world's end (a month at least)."""
    churn_date: int | None
    """The last activity of a churned customer."""
    orders: int
    max_orders_7d: int
    """The most orders in any 7 days (7 × 24 h from an order): what tiers qualify on."""
    last_visit: int = 0
    """The latest event on a visit channel (marketing.py)."""
    stays_inactive: bool = False
    """Anonymised by the demo's inactivity automation (marketing.py)."""


@dataclass
class Contact:
    """One contact attempt of a case, as the truth records it."""

    source: str
    event_id: str
    case_id: str
    intent: str
    channel: str
    attempt: int
    previous_channel: str
    outcome: str
    occurred_at: int


class Truth:
    """The ground truth files, written as the world is generated."""

    def __init__(self, directory: Path) -> None:
        self.customers = CsvRows(
            directory / "customers.csv",
            (
                "customer_id",
                "journey_type",
                "inactive",
                "first_name",
                "last_name",
                "birth_date",
                "postcode",
                "city",
                "last_activity_at",
                "active_before_cutoff",
                "churned",
                "churn_date",
                "orders",
                "max_orders_7d",
                "last_visit_at",
                "stays_inactive",
            ),
        )
        self.signups = CsvRows(
            directory / "signups.csv",
            (
                "customer_id",
                "email",
                "signed_up_at",
                "first_name_given",
                "consent",
                "responder",
                "response_lag_days",
            ),
        )
        self.milestones = CsvRows(
            directory / "milestones.csv",
            (
                "customer_id",
                "enrolled_at",
                "deadline",
                "app_logins",
                "purchases",
                "achieved_at",
                "status",
            ),
        )
        self.identifiers = CsvRows(
            directory / "identifiers.csv", ("customer_id", "type", "value", "evidence_group")
        )
        self.shared = CsvRows(directory / "shared.csv", ("type", "value", "kind", "customer_id"))
        self.contacts = CsvRows(
            directory / "contacts.csv",
            (
                "source",
                "event_id",
                "customer_id",
                "case_id",
                "intent",
                "channel",
                "attempt",
                "is_repeat",
                "previous_channel",
                "outcome",
                "occurred_at",
            ),
        )
        self.conversions = CsvRows(
            directory / "conversions.csv",
            (
                "source",
                "event_id",
                "customer_id",
                "channel",
                "visit_number",
                "occurred_at",
                "amount",
            ),
        )
        self.visits = CsvRows(
            directory / "visits.csv",
            (
                "customer_id",
                "visit_number",
                "channel",
                "session_id",
                "started_at",
                "ended_at",
                "events",
                "converted",
            ),
        )
        self.posts = CsvRows(
            directory / "social_posts.csv",
            ("post_id", "customer_id", "sentiment", "case_id", "intent", "occurred_at"),
        )
        self.visits_by_number: dict[int, int] = {}
        self.conversions_by_visit_number: dict[int, int] = {}
        self.identifiers_by_type = dict.fromkeys(IDENTIFIER_TYPES, 0)
        self.repeat_contacts = 0
        self.cases = 0
        self.active_before_cutoff = 0
        self.churned = 0
        self.churned_before_cutoff = 0
        self.max_orders_7d: dict[int, int] = {}
        self.milestone_statuses = dict.fromkeys(("achieved", "missed", "in progress"), 0)
        self.stays_inactive = 0
        self.signup_counts = dict.fromkeys(
            ("signups", "first_name_given", "consent", "responders", "welcome_reachable"), 0
        )

    def customer(self, c: Customer, outcome: Outcome) -> None:
        self.active_before_cutoff += outcome.active_before_cutoff
        self.churned += outcome.churned
        self.churned_before_cutoff += outcome.active_before_cutoff and (
            outcome.churn_date is not None and outcome.churn_date < CHURN_CUTOFF
        )
        peak = outcome.max_orders_7d
        self.max_orders_7d[peak] = self.max_orders_7d.get(peak, 0) + 1
        self.customers.write(
            (
                c.customer_id,
                c.journey_type,
                "true" if outcome.inactive else "false",
                c.first_name,
                c.last_name,
                c.birth_date,
                c.town.postcode,
                c.town.city,
                iso_utc(outcome.last_activity),
                int(outcome.active_before_cutoff),
                int(outcome.churned),
                "" if outcome.churn_date is None else iso_utc(outcome.churn_date)[:10],
                outcome.orders,
                outcome.max_orders_7d,
                iso_utc(outcome.last_visit) if outcome.last_visit else "",
                int(outcome.stays_inactive),
            )
        )
        self.stays_inactive += outcome.stays_inactive
        groups = c.evidence.groups()
        for kind in IDENTIFIER_TYPES:
            values = c.seen.get(kind, {})
            # Values are unique per customer by construction (see people.py), so the sum of
            # per-customer counts is the number of distinct values.
            self.identifiers_by_type[kind] += len(values)
            for value in values:
                self.identifiers.write((c.customer_id, kind, value, groups[(kind, value)]))
        for (kind, value), why in c.shared.items():
            self.shared.write((kind, value, why, c.customer_id))

    def signup(
        self, c: Customer, at: int, named: bool, consent: bool, responder: bool, lag: float
    ) -> None:
        """A sign-up of the drive (marketing.py): what it gave, and whether (and how many
        days after the welcome arrives) it orders because of it."""
        counts = self.signup_counts
        counts["signups"] += 1
        counts["first_name_given"] += named
        counts["consent"] += consent
        counts["responders"] += responder
        counts["welcome_reachable"] += named and consent
        self.signups.write(
            (c.customer_id, c.email, iso_utc(at), int(named), int(consent), int(responder),
             round(lag, 3))
        )  # fmt: skip

    def milestone(
        self,
        c: Customer,
        enrolled_at: int,
        deadline: int,
        counts: tuple[int, int],
        achieved_at: int | None,
        status: str,
    ) -> None:
        """The onboarding milestone of a customer who enrolled in the loyalty programme."""
        self.milestone_statuses[status] += 1
        self.milestones.write(
            (
                c.customer_id,
                iso_utc(enrolled_at),
                iso_utc(deadline),
                *counts,
                "" if achieved_at is None else iso_utc(achieved_at),
                status,
            )
        )

    def visit(
        self,
        c: Customer,
        number: int,
        channel: str,
        session_id: str,
        started: int,
        ended: int,
        events: int,
        converted: bool,
    ) -> None:
        self.visits_by_number[number] = self.visits_by_number.get(number, 0) + 1
        self.visits.write(
            (
                c.customer_id,
                number,
                channel,
                session_id,
                iso_utc(started),
                iso_utc(ended),
                events,
                "true" if converted else "false",
            )
        )

    def conversion(
        self,
        c: Customer,
        source: str,
        event_id: str,
        channel: str,
        visit_number: int,
        occurred_at: int,
        amount: float,
    ) -> None:
        counts = self.conversions_by_visit_number
        counts[visit_number] = counts.get(visit_number, 0) + 1
        self.conversions.write(
            (
                source,
                event_id,
                c.customer_id,
                channel,
                visit_number,
                iso_utc(occurred_at),
                f"{amount:.2f}",
            )
        )

    def contact(self, c: Customer, contact: Contact) -> None:
        self.repeat_contacts += contact.attempt > 1
        self.cases += contact.attempt == 1
        self.contacts.write(
            (
                contact.source,
                contact.event_id,
                c.customer_id,
                contact.case_id,
                contact.intent,
                contact.channel,
                contact.attempt,
                "true" if contact.attempt > 1 else "false",
                contact.previous_channel,
                contact.outcome,
                iso_utc(contact.occurred_at),
            )
        )

    def post(
        self, c: Customer, post_id: str, sentiment: str, case_id: str, intent: str, occurred_at: int
    ) -> None:
        self.posts.write((post_id, c.customer_id, sentiment, case_id, intent, iso_utc(occurred_at)))

    def close(self) -> None:
        for sink in (
            self.customers,
            self.milestones,
            self.identifiers,
            self.shared,
            self.contacts,
            self.conversions,
            self.visits,
            self.posts,
            self.signups,
        ):
            sink.close()


@dataclass
class Run:
    """Everything a customer's simulation writes to, shared across customers."""

    exports: Exports
    truth: Truth
    counters: Counters = field(default_factory=Counters)
    kiosks: dict[str, str] = field(default_factory=dict)
    """Store id -> the cookie of the web kiosk in that store, which many customers sign in on."""
