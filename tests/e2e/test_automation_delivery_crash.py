"""SIGKILL `parcours serve` during a burst of sends, restart it: every due message arrived
exactly once at the receivers (counted there by idempotency key), nothing lost, nothing twice.

The receivers (tests/receivers.py) are slowed a little, as real providers are, so that the
kill finds sends in flight: rows claimed (`sending`) whose outcome was never recorded. After
the restart those go out again with the same key; the receivers, honouring it, deliver each
once. The test says how many were offered twice — and that only in-flight ones were.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
from pathlib import Path

import pytest
from automation_world import import_people, ledger, person, plan, publish
from receivers import HttpReceiver, SmtpReceiver
from servers import add_source, start_server
from waiting import poll

import parcours

PEOPLE = 300
"""Each with an email and an SMS due: 600 messages."""
KILL_AT = 150
"""Messages delivered (both receivers) after which the server is killed."""


def test_a_sigkill_during_a_burst_of_sends_loses_none_and_repeats_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store.duckdb"
    with SmtpReceiver() as smtp, HttpReceiver() as gateway:
        smtp.mailbox.delay_s = 0.004
        gateway.gateway.delay_s = 0.03
        settings = {
            "smtp": smtp.settings,
            "sms": {**gateway.settings, "batch": 10},
            "quiet_hours": None,
            "marketing_per_week": None,
            "send_batch": 100,
            "tick_s": 0.1,
        }
        monkeypatch.setenv("PARCOURS_AUTOMATIONS", json.dumps(settings))
        key = add_source(store)
        due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        users = [f"u{i}" for i in range(PEOPLE)]
        people = [
            person(
                u,
                traits={"email": f"{u}@example.com", "phone": f"+3361{i:07d}", "first_name": u},
                consents=[("email", "marketing"), ("sms", "marketing")],
            )
            for i, u in enumerate(users)
        ]
        steps = [
            {
                "id": "mail",
                "send": {"channel": "email", "purpose": "marketing", "template": "welcome"},
            },
            {
                "id": "text",
                "send": {"channel": "sms", "purpose": "marketing", "template": "welcome"},
            },
        ]
        with parcours.connect(store) as p:
            import_people(p, tmp_path, people)
            publish(p.store, "welcome", steps, at=due)
            emails = plan(p.store, "welcome", "mail", users, channel="email", at=due)
            texts = plan(p.store, "welcome", "text", users, channel="sms", at=due)

        def delivered() -> int:
            return len(smtp.mailbox.delivered) + len(gateway.gateway.delivered)

        server = start_server(store, key)
        poll(delivered, until=lambda n: n >= KILL_AT, every=0.005)
        server.stop(signal.SIGKILL)
        at_kill = delivered()
        with parcours.connect(store) as p:
            in_flight = {k for k, r in ledger(p.store).items() if r["state"] == "sending"}
        assert KILL_AT <= at_kill < 2 * PEOPLE, "the kill came during the burst"
        assert in_flight, "the kill found sends in flight"

        restarted = start_server(store, key)
        poll(delivered, until=lambda n: n >= 2 * PEOPLE)
        restarted.stop()

    assert set(smtp.mailbox.delivered) == {f"<{k}@parcours>" for k in emails}
    assert set(gateway.gateway.delivered) == set(texts)
    offered_twice = {
        k.strip("<>").removesuffix("@parcours") for k, n in smtp.mailbox.offered.items() if n > 1
    }
    offered_twice |= {k for k, n in gateway.gateway.offered.items() if n > 1}
    assert offered_twice <= in_flight, "only a send in flight at the kill is offered again"
    assert max([*smtp.mailbox.offered.values(), *gateway.gateway.offered.values()]) <= 2
    with parcours.connect(store, read_only=True) as p:
        states = {r["state"] for r in ledger(p.store).values()}
        sent_events = p.sql(
            "SELECT json_extract_string(properties, '$.send_key') AS k, count(*) AS n "
            "FROM customer_events WHERE name IN ('Email Sent', 'SMS Sent') GROUP BY k"
        ).to_pylist()
    assert states == {"sent"}
    assert len(sent_events) == 2 * PEOPLE and {e["n"] for e in sent_events} == {1}
    print(
        f"killed at {at_kill} delivered; {len(in_flight)} in flight; "
        f"{len(offered_twice)} offered twice, each delivered once"
    )
