"""Delivery against real providers on loopback: an aiosmtpd SMTP server and an HTTP receiver
standing for the SMS gateway (tests/receivers.py), both counting by idempotency key. Time is
a SimulatedClock; sends are planned in the ledger as the runtime plans them
(tests/automation_world.py). Expected values are hand-computed from each test's fixture."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from automation_world import customer_of, import_people, ledger, person, plan, publish
from receivers import HttpReceiver, SmtpReceiver

import parcours
from parcours.automations.clock import SimulatedClock
from parcours.automations.delivery import Delivery
from parcours.automations.settings import automation_settings
from parcours.automations.tracking import link_secret, record_link, verify

WEDNESDAY = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)
"""Noon UTC on Wednesday 4 March 2026: 13:00 in Paris (UTC+1, before DST), 07:00 in New York."""

WELCOME = [
    {
        "id": "hello",
        "send": {"channel": "email", "purpose": "marketing", "template": "welcome"},
    }
]


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def gateway() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


def _connect(
    tmp_path: Path, smtp: SmtpReceiver, gateway: HttpReceiver | None = None, **more: Any
) -> parcours.Parcours:
    settings: dict[str, Any] = {
        "smtp": smtp.settings,
        "quiet_hours": None,
        "marketing_per_week": None,
    }
    if gateway is not None:
        settings["sms"] = gateway.settings
    settings.update(more)
    return parcours.connect(tmp_path / "s.duckdb", automations=settings)


ADA = person(
    "ada",
    traits={
        "email": "ada@example.com",
        "first_name": "Ada",
        "timezone": "Europe/Paris",
        "phone": "+33612345678",
    },
    consents=[("email", "marketing"), ("sms", "marketing")],
)


def test_a_due_email_arrives_once_with_its_key_the_name_and_an_unsubscribe_link(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    with _connect(tmp_path, smtp) as p:
        import_people(p, tmp_path, [ADA])
        publish(p.store, "welcome", WELCOME, at=WEDNESDAY)
        [key] = plan(p.store, "welcome", "hello", ["ada"], channel="email", at=WEDNESDAY)
        report = Delivery(p.store, clock=clock).run_once()
        assert (report.claimed, report.sent) == (1, 1)
        assert Delivery(p.store, clock=clock).run_once().claimed == 0, "sent once"
        row = ledger(p.store)[key]
        assert (row["state"], row["attempts"], row["sent_at"]) == ("sent", 1, WEDNESDAY)
        sent = p.sql(
            "SELECT name, channel, json_extract_string(properties, '$.send_key') AS k "
            "FROM customer_events WHERE source = 'parcours'"
        ).to_pylist()
        assert sent == [{"name": "Email Sent", "channel": "email", "k": key}]

    [message] = smtp.mailbox.messages()
    assert message["Message-ID"] == f"<{key}@parcours>"
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Welcome, Ada!"
    text = message.get_body(("plain",)).get_content()
    assert "Hello Ada," in text
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://127.0.0.1:8765/u/") and unsubscribe in text
    html = message.get_body(("html",)).get_content()
    assert unsubscribe in html and "/o/" in html  # the link and the open pixel


def test_a_template_naming_a_missing_trait_holds_that_send_with_the_reason(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    nameless = person("bob", traits={"email": "bob@example.com"}, consents=[("email", "marketing")])
    with _connect(tmp_path, smtp) as p:
        import_people(p, tmp_path, [ADA, nameless])
        publish(p.store, "welcome", WELCOME, at=WEDNESDAY)
        ada, bob = plan(p.store, "welcome", "hello", ["ada", "bob"], channel="email", at=WEDNESDAY)
        report = Delivery(p.store, clock=clock).run_once()
        rows = ledger(p.store)
    assert (report.sent, report.held) == (1, 1)
    assert (rows[bob]["state"], rows[bob]["reason"]) == ("held", "missing trait first_name")
    assert rows[ada]["state"] == "sent"
    assert [m["To"] for m in smtp.mailbox.messages()] == ["ada@example.com"]
    assert not any(
        "Hello ," in m.get_body(("plain",)).get_content() for m in smtp.mailbox.messages()
    )


def test_no_message_without_consent_for_its_channel_and_purpose(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    service_only = person(
        "cy",
        traits={"email": "cy@example.com", "first_name": "Cy"},
        consents=[("email", "service")],
    )
    with _connect(tmp_path, smtp) as p:
        import_people(p, tmp_path, [service_only])
        publish(p.store, "welcome", WELCOME, at=WEDNESDAY)
        [key] = plan(p.store, "welcome", "hello", ["cy"], channel="email", at=WEDNESDAY)
        Delivery(p.store, clock=clock).run_once()
        row = ledger(p.store)[key]
    assert (row["state"], row["reason"]) == ("held", "no consent for marketing on email")
    assert smtp.mailbox.messages() == []


def test_following_the_unsubscribe_link_withdraws_consent_and_stops_the_next_marketing_send(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    with _connect(tmp_path, smtp) as p:
        import_people(p, tmp_path, [ADA])
        publish(
            p.store,
            "welcome",
            [*WELCOME, {"id": "again", "send": WELCOME[0]["send"]}],
            at=WEDNESDAY,
        )
        plan(p.store, "welcome", "hello", ["ada"], channel="email", at=WEDNESDAY)
        Delivery(p.store, clock=clock).run_once()
        [message] = smtp.mailbox.messages()
        token = message["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
        secret = link_secret(p.store, automation_settings(p.store.settings))
        assert record_link(p.store, verify(token, secret, "u"), at=WEDNESDAY)
        assert not record_link(p.store, verify(token, secret, "u"), at=WEDNESDAY), "once"
        [again] = plan(p.store, "welcome", "again", ["ada"], channel="email", at=WEDNESDAY)
        Delivery(p.store, clock=clock).run_once()
        row = ledger(p.store)[again]
    assert (row["state"], row["reason"]) == ("held", "no consent for marketing on email")
    assert len(smtp.mailbox.messages()) == 1


NEW_YORKER = person(
    "ny",
    traits={"email": "ny@example.com", "first_name": "Zoé", "timezone": "America/New_York"},
    consents=[("email", "marketing"), ("email", "service"), ("email", "transactional")],
)
PARISIAN = person(
    "ada",
    traits={"email": "ada@example.com", "first_name": "Ada", "timezone": "Europe/Paris"},
    consents=[("email", "marketing"), ("email", "service"), ("email", "transactional")],
)
STEPS = [
    {
        "id": s,
        "send": {
            "channel": "email",
            "purpose": p,
            "subject": f"{s} {{{{ traits.first_name }}}}",
            "body": "Hi",
        },
    }
    for s, p in [
        ("m1", "marketing"),
        ("m2", "marketing"),
        ("s1", "service"),
        ("t1", "transactional"),
    ]
]


def test_a_capped_send_is_deferred_to_the_next_allowed_moment_then_sent(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    """At most 1 marketing message a week; quiet hours 21:00-08:00. The second marketing
    message of Wednesday 4 March waits for the next local week: Monday 9 March, 00:00 in
    Paris, inside quiet hours, so 08:00 Paris (UTC+1) = 07:00 UTC. A transactional message
    due the same moment is never capped."""
    clock = SimulatedClock(WEDNESDAY)
    with _connect(tmp_path, smtp, marketing_per_week=1, quiet_hours=["21:00", "08:00"]) as p:
        import_people(p, tmp_path, [PARISIAN])
        publish(p.store, "news", STEPS, at=WEDNESDAY)
        [m1] = plan(p.store, "news", "m1", ["ada"], channel="email", at=WEDNESDAY)
        [m2] = plan(p.store, "news", "m2", ["ada"], channel="email", at=WEDNESDAY)
        [t1] = plan(
            p.store,
            "news",
            "t1",
            ["ada"],
            channel="email",
            purpose="transactional",
            priority="transactional",
            at=WEDNESDAY,
        )
        delivery = Delivery(p.store, clock=clock)
        report = delivery.run_once()
        assert (report.sent, report.deferred) == (2, 1)
        rows = ledger(p.store)
        assert rows[t1]["state"] == "sent"
        # Two marketing messages due at once: the first planned (then by key) goes.
        first, m2 = sorted([m1, m2])
        assert rows[first]["state"] == "sent"
        allowed = dt.datetime(2026, 3, 9, 7, 0, tzinfo=dt.UTC)
        assert (rows[m2]["state"], rows[m2]["next_attempt_at"]) == ("deferred", allowed)
        assert rows[m2]["reason"] == "capped at 1 marketing messages a week in Europe/Paris"
        clock.set(allowed - dt.timedelta(minutes=1))
        assert delivery.run_once().claimed == 0, "not before the next allowed moment"
        clock.set(allowed)
        assert delivery.run_once().sent == 1
        assert ledger(p.store)[m2]["sent_at"] == allowed
    assert sorted(m["Subject"] for m in smtp.mailbox.messages()) == ["m1 Ada", "m2 Ada", "t1 Ada"]


def test_higher_priorities_spend_the_daily_budget_first(tmp_path: Path, smtp: SmtpReceiver) -> None:
    """One message a day: the service message goes though the marketing one was planned
    first; the marketing one waits for the next local day in New York: Thursday 5 March,
    00:00 EST (UTC-5) = 05:00 UTC (no quiet hours in this test)."""
    clock = SimulatedClock(WEDNESDAY)
    with _connect(tmp_path, smtp, messages_per_day=1) as p:
        import_people(p, tmp_path, [NEW_YORKER])
        publish(p.store, "news", STEPS, at=WEDNESDAY)
        [m1] = plan(
            p.store, "news", "m1", ["ny"], channel="email", at=WEDNESDAY - dt.timedelta(hours=1)
        )
        [s1] = plan(
            p.store,
            "news",
            "s1",
            ["ny"],
            channel="email",
            purpose="service",
            priority="service",
            at=WEDNESDAY,
        )
        Delivery(p.store, clock=clock).run_once()
        rows = ledger(p.store)
    assert rows[s1]["state"] == "sent"
    assert (rows[m1]["state"], rows[m1]["next_attempt_at"]) == (
        "deferred",
        dt.datetime(2026, 3, 5, 5, 0, tzinfo=dt.UTC),
    )


def test_quiet_hours_are_honoured_in_each_recipients_time_zone(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    """Wednesday 20:30 UTC is 21:30 in Paris (quiet until 08:00 = 07:00 UTC Thursday) and
    15:30 in New York (not quiet). Six hours later, 02:30 UTC is 21:30 in New York (quiet
    until 08:00 EST = 13:00 UTC). A transactional message goes whatever the hour."""
    evening = dt.datetime(2026, 3, 4, 20, 30, tzinfo=dt.UTC)
    clock = SimulatedClock(evening)
    with _connect(tmp_path, smtp, quiet_hours=["21:00", "08:00"]) as p:
        import_people(p, tmp_path, [PARISIAN, NEW_YORKER])
        publish(p.store, "news", STEPS, at=evening)
        paris, new_york = plan(p.store, "news", "m1", ["ada", "ny"], channel="email", at=evening)
        [urgent] = plan(
            p.store,
            "news",
            "t1",
            ["ada"],
            channel="email",
            purpose="transactional",
            priority="transactional",
            at=evening,
        )
        delivery = Delivery(p.store, clock=clock)
        delivery.run_once()
        rows = ledger(p.store)
        assert rows[new_york]["state"] == rows[urgent]["state"] == "sent"
        assert (rows[paris]["state"], rows[paris]["next_attempt_at"]) == (
            "deferred",
            dt.datetime(2026, 3, 5, 7, 0, tzinfo=dt.UTC),
        )
        assert rows[paris]["reason"] == "quiet hours in Europe/Paris until 08:00"
        clock.advance(dt.timedelta(hours=6))
        [late] = plan(p.store, "news", "m2", ["ny"], channel="email", at=clock.now())
        delivery.run_once()
        assert ledger(p.store)[late]["next_attempt_at"] == dt.datetime(
            2026, 3, 5, 13, 0, tzinfo=dt.UTC
        )
        clock.set(dt.datetime(2026, 3, 5, 7, 0, tzinfo=dt.UTC))
        assert delivery.run_once().sent == 1, "Paris at 08:00; New York still asleep"
        clock.set(dt.datetime(2026, 3, 5, 13, 0, tzinfo=dt.UTC))
        assert delivery.run_once().sent == 1
    assert len(smtp.mailbox.messages()) == 4
    subjects = {m["Subject"] for m in smtp.mailbox.messages()}
    assert {"m1 Zoé", "m2 Zoé", "m1 Ada", "t1 Ada"} == subjects, "non-ASCII names survive"


def test_the_sms_gateway_gets_signed_batches_with_a_key_per_message(
    tmp_path: Path, smtp: SmtpReceiver, gateway: HttpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    people = [
        person(
            f"p{i}",
            traits={"phone": f"+3361234{i:04d}", "first_name": f"P{i}"},
            consents=[("sms", "marketing")],
        )
        for i in range(120)
    ]
    sms = [{"id": "hi", "send": {"channel": "sms", "purpose": "marketing", "template": "welcome"}}]
    with _connect(tmp_path, smtp, gateway) as p:
        import_people(p, tmp_path, people)
        publish(p.store, "sms", sms, at=WEDNESDAY)
        keys = plan(
            p.store, "sms", "hi", [f"p{i}" for i in range(120)], channel="sms", at=WEDNESDAY
        )
        assert Delivery(p.store, clock=clock).run_once().sent == 120
        events = (
            p.sql("SELECT count(*) FROM customer_events WHERE name = 'SMS Sent'")
            .column(0)[0]
            .as_py()
        )
    received = gateway.gateway
    assert set(received.delivered) == set(keys) and received.bad_signatures == 0
    assert received.requests == 3, "120 messages in batches of 50"
    assert received.delivered[keys[7]]["body"].startswith("Welcome P7!")
    assert events == 120


def test_a_provider_that_is_down_delays_sends_with_backoff_and_then_fails_them_visibly(
    tmp_path: Path, smtp: SmtpReceiver, gateway: HttpReceiver
) -> None:
    """retry_after_s 30, max_attempts 3: attempts at 0 s, 30 s, 90 s (30 then doubled)."""
    clock = SimulatedClock(WEDNESDAY)
    sms = [
        {"id": s, "send": {"channel": "sms", "purpose": "marketing", "body": "Hi"}}
        for s in ("hi", "again")
    ]
    with _connect(tmp_path, smtp, gateway, max_attempts=3) as p:
        import_people(p, tmp_path, [ADA])
        publish(p.store, "sms", sms, at=WEDNESDAY)
        [key] = plan(p.store, "sms", "hi", ["ada"], channel="sms", at=WEDNESDAY)
        delivery = Delivery(p.store, clock=clock)
        gateway.gateway.down = True
        assert delivery.run_once().retried == 1
        row = ledger(p.store)[key]
        assert (row["state"], row["attempts"]) == ("planned", 1)
        assert row["next_attempt_at"] == WEDNESDAY + dt.timedelta(seconds=30)
        clock.advance(dt.timedelta(seconds=30))
        delivery.run_once()
        assert ledger(p.store)[key]["next_attempt_at"] == WEDNESDAY + dt.timedelta(seconds=90)
        clock.advance(dt.timedelta(seconds=60))
        assert delivery.run_once().failed == 1
        row = ledger(p.store)[key]
        assert row["state"] == "failed"
        assert row["reason"] == "gave up after 3 attempts: sms gateway answered 503"
        assert gateway.gateway.delivered == {}
        # A gateway back up before the last attempt: the message goes, once.
        [back] = plan(p.store, "sms", "again", ["ada"], channel="sms", at=clock.now())
        assert delivery.run_once().retried == 1
        gateway.gateway.down = False
        clock.advance(dt.timedelta(seconds=30))
        assert delivery.run_once().sent == 1
        assert ledger(p.store)[back]["attempts"] == 2
    assert list(gateway.gateway.delivered) == [back]


def test_a_crash_between_send_and_record_sends_again_with_the_same_key(
    tmp_path: Path, smtp: SmtpReceiver, gateway: HttpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    with _connect(tmp_path, smtp, gateway) as p:
        import_people(p, tmp_path, [ADA])
        publish(
            p.store,
            "welcome",
            [
                *WELCOME,
                {
                    "id": "sms",
                    "send": {"channel": "sms", "purpose": "marketing", "template": "welcome"},
                },
            ],
            at=WEDNESDAY,
        )
        [mail] = plan(p.store, "welcome", "hello", ["ada"], channel="email", at=WEDNESDAY)
        [text] = plan(p.store, "welcome", "sms", ["ada"], channel="sms", at=WEDNESDAY)
        crashed = Delivery(p.store, clock=clock)
        crashed.send(crashed.claim())  # handed to the providers; the outcomes never recorded
        assert {r["state"] for r in ledger(p.store).values()} == {"sending"}
        restarted = Delivery(p.store, clock=clock)
        assert restarted.reconcile() == 2
        assert restarted.run_once().sent == 2
        rows = ledger(p.store)
        sent_events = (
            p.sql("SELECT count(*) FROM customer_events WHERE name IN ('Email Sent', 'SMS Sent')")
            .column(0)[0]
            .as_py()
        )
    assert rows[mail]["state"] == rows[text]["state"] == "sent"
    assert smtp.mailbox.offered[f"<{mail}@parcours>"] == 2 and len(smtp.mailbox.delivered) == 1
    assert gateway.gateway.offered[text] == 2 and len(gateway.gateway.delivered) == 1
    assert sent_events == 2, "one event per message"


def test_html_escapes_what_customers_wrote_and_tracks_only_the_messages_links(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    mallory = person(
        "mal",
        traits={"email": "mal@example.com", "first_name": '<img src=x onerror="alert(1)">'},
        consents=[("email", "marketing")],
    )
    offer = [
        {
            "id": "offer",
            "send": {
                "channel": "email",
                "purpose": "marketing",
                "subject": "Offer",
                "body": "Hello {{ traits.first_name }}, see https://shop.example/offer?a=1&b=2",
            },
        }
    ]
    with _connect(tmp_path, smtp) as p:
        import_people(p, tmp_path, [mallory])
        publish(p.store, "offer", offer, at=WEDNESDAY)
        [key] = plan(p.store, "offer", "offer", ["mal"], channel="email", at=WEDNESDAY)
        Delivery(p.store, clock=clock).run_once()
        secret = link_secret(p.store, automation_settings(p.store.settings))
    [message] = smtp.mailbox.messages()
    html = message.get_body(("html",)).get_content()
    assert 'onerror="alert(1)"' not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    clicks = [part.split('"')[0] for part in html.split('href="http://127.0.0.1:8765/c/')[1:]]
    assert len(clicks) == 1
    assert (
        verify(clicks[0].replace("&amp;", "&"), secret, "c").url
        == "https://shop.example/offer?a=1&b=2"
    )
    assert verify(clicks[0], secret, "c").key == key


def test_a_refused_address_is_a_bounce_recorded_as_an_event(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    smtp.mailbox.refuse.add("ada@example.com")
    with _connect(tmp_path, smtp) as p:
        import_people(p, tmp_path, [ADA])
        publish(p.store, "welcome", WELCOME, at=WEDNESDAY)
        [key] = plan(p.store, "welcome", "hello", ["ada"], channel="email", at=WEDNESDAY)
        assert Delivery(p.store, clock=clock).run_once().failed == 1
        row = ledger(p.store)[key]
        names = (
            p.sql("SELECT name FROM customer_events WHERE source = 'parcours'")
            .column(0)
            .to_pylist()
        )
    assert row["state"] == "failed" and row["reason"].startswith("SMTP 550")
    assert names == ["Email Bounced"]


def test_a_goal_reached_before_a_deferred_send_goes_cancels_it(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    """A marketing email deferred by quiet hours; the customer reaches the automation's goal
    meanwhile (the runtime ends the instance, reason goal): the email is held, not sent."""
    evening = dt.datetime(2026, 3, 4, 21, 30, tzinfo=dt.UTC)
    clock = SimulatedClock(evening)
    with _connect(tmp_path, smtp, quiet_hours=["21:00", "08:00"]) as p:
        import_people(p, tmp_path, [ADA])
        publish(p.store, "welcome", WELCOME, at=evening)
        [key] = plan(p.store, "welcome", "hello", ["ada"], channel="email", at=evening)
        delivery = Delivery(p.store, clock=clock)
        assert delivery.run_once().deferred == 1
        p.store.engine.execute(
            "UPDATE automation_instances SET exited_at = ?, exit_reason = 'goal'",
            [evening + dt.timedelta(hours=1)],
        )
        clock.set(dt.datetime(2026, 3, 5, 7, 0, tzinfo=dt.UTC))
        assert delivery.run_once().held == 1
        row = ledger(p.store)[key]
    assert (row["state"], row["reason"]) == ("held", "the customer left the automation (goal)")
    assert smtp.mailbox.messages() == []


def test_a_template_cannot_reach_pythons_internals(tmp_path: Path, smtp: SmtpReceiver) -> None:
    """Jinja2's sandbox refuses `__class__`: the send is held with the reason, nothing leaks."""
    clock = SimulatedClock(WEDNESDAY)
    probe = [
        {
            "id": "probe",
            "send": {
                "channel": "email",
                "purpose": "marketing",
                "subject": "Hi",
                "body": "{{ traits.__class__.__mro__[-1].__subclasses__() }}",
            },
        }
    ]
    with _connect(tmp_path, smtp) as p:
        import_people(p, tmp_path, [ADA])
        publish(p.store, "probe", probe, at=WEDNESDAY)
        [key] = plan(p.store, "probe", "probe", ["ada"], channel="email", at=WEDNESDAY)
        Delivery(p.store, clock=clock).run_once()
        row = ledger(p.store)[key]
    assert row["state"] == "held" and "unsafe" in row["reason"]
    assert smtp.mailbox.messages() == []


def test_a_webhook_posts_the_instances_data_signed_with_its_key(
    tmp_path: Path, smtp: SmtpReceiver, gateway: HttpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    hook = [{"id": "crm", "send": {"channel": "webhook", "purpose": "service", "url": gateway.url}}]
    with _connect(tmp_path, smtp, webhook_secret=gateway.gateway.secret) as p:
        import_people(p, tmp_path, [ADA])
        publish(p.store, "quote", hook, at=WEDNESDAY)
        [key] = plan(
            p.store,
            "quote",
            "crm",
            ["ada"],
            channel="webhook",
            at=WEDNESDAY,
            entry={"quote_id": "Q-17"},
        )
        assert Delivery(p.store, clock=clock).run_once().sent == 1
        ada = customer_of(p.store, "ada")
        names = p.sql("SELECT name FROM customer_events WHERE source = 'parcours'").column(0)
    received = gateway.gateway.delivered[key]
    assert gateway.gateway.bad_signatures == 0
    assert (received["automation"], received["step"], received["customer_id"]) == (
        "quote",
        "crm",
        ada,
    )
    assert received["data"]["entry"] == {"quote_id": "Q-17"}
    assert names.to_pylist() == ["Webhook Sent"]


def test_a_paused_automation_sends_nothing_until_it_resumes(
    tmp_path: Path, smtp: SmtpReceiver
) -> None:
    clock = SimulatedClock(WEDNESDAY)
    with _connect(tmp_path, smtp) as p:
        import_people(p, tmp_path, [ADA])
        publish(p.store, "welcome", WELCOME, at=WEDNESDAY)
        [key] = plan(p.store, "welcome", "hello", ["ada"], channel="email", at=WEDNESDAY)
        p.store.engine.execute("UPDATE automations SET status = 'paused'")
        delivery = Delivery(p.store, clock=clock)
        assert not delivery.has_due() and delivery.run_once().claimed == 0
        assert ledger(p.store)[key]["state"] == "planned"
        p.store.engine.execute("UPDATE automations SET status = 'live'")
        assert delivery.run_once().sent == 1
    assert len(smtp.mailbox.messages()) == 1
