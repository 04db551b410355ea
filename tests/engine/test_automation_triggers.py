"""Each trigger of the runtime on a hand-made log (tests/automation_log.py) with a simulated
clock: a segment entered (and left: the exit), a geofence, a date trait with an offset, a
schedule, an HTTP entry under an audience; and the set_trait and tag steps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from automation_log import T0, customer, identify, instances, message, publish, send_messages

import parcours
from parcours.automations.clock import SimulatedClock
from parcours.automations.runtime import Runtime

DAY = dt.timedelta(days=1)
UTC = dt.UTC
SEND: dict[str, Any] = {"channel": "email", "purpose": "marketing", "subject": "Hi", "body": "x"}


def test_a_segment_entry_starts_and_leaving_it_ends(p: parcours.Parcours, tmp_path: Path) -> None:
    """a and b become Lyon customers (segment lyon): both enter and wait 10 days; b moves to
    Paris, leaves the segment, and the next tick ends b's instance as left segment. (z, in
    Paris, makes the trait known before the segment is saved.)"""
    send_messages(p, tmp_path, [identify("z", T0 - DAY, city="Paris")])
    p.segments.create({"name": "lyon", "where": {"trait": {"name": "city", "equals": "Lyon"}}})
    publish(
        p,
        {
            "name": "lyon-hello",
            "trigger": {"segment": {"name": "lyon"}},
            "exit": [{"left_segment": "lyon"}],
            "steps": [{"id": "pause", "wait": "10d"}, {"id": "hi", "send": SEND}],
        },
    )
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    send_messages(p, tmp_path, [identify(u, T0, city="Lyon") for u in ("a", "b")])
    assert runtime.tick().entered == {"lyon-hello": 2}
    clock.advance(DAY)
    send_messages(p, tmp_path, [identify("b", T0 + DAY, city="Paris")])
    report = runtime.tick()
    assert report.exits == {"left segment: lyon": 1}
    found = instances(p, "lyon-hello")
    assert (found["a"]["state"], found["b"]["state"]) == ("waiting", "done")
    assert found["b"]["exit_reason"] == "left segment: lyon"


def test_a_location_inside_a_geofence_starts_an_instance(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """The store at 45.7640 N, 4.8357 E with a 500 m radius: near is 0.0010° of latitude
    north (111 m), far 0.0160° north (1.8 km): only near enters."""
    publish(
        p,
        {
            "name": "nearby",
            "trigger": {
                "geofence": {
                    "places": [
                        {"name": "lyon", "latitude": 45.764, "longitude": 4.8357, "radius_m": 500}
                    ]
                }
            },
            "steps": [
                {
                    "id": "offer",
                    "send": {"channel": "push", "purpose": "marketing", "body": "10% today"},
                }
            ],
        },
    )
    send_messages(
        p,
        tmp_path,
        [
            message("near", T0, "Location Updated", "app", latitude=45.765, longitude=4.8357),
            message("far", T0, "Location Updated", "app", latitude=45.780, longitude=4.8357),
        ],
    )
    Runtime(p.store, clock=SimulatedClock(T0)).tick()
    assert set(instances(p, "nearby")) == {"near"}


def test_a_date_trait_thirty_days_before_at_nine_local(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """renew's renewal is 2026-04-15 in Paris: 30 days before is 16 March, 09:00 CET = 08:00
    UTC. past's renewal (2026-03-01) was due before the automation was first evaluated: never.
    Ticks at 07:59 (not yet), 08:00 (enters, key the date) and the day after (not again)."""
    publish(
        p,
        {
            "name": "renewal",
            "trigger": {"date": {"trait": "renewal_date", "offset": "-30d", "at": "09:00"}},
            "steps": [{"id": "remind", "send": SEND}],
        },
    )
    send_messages(
        p,
        tmp_path,
        [
            identify("renew", T0 - DAY, renewal_date="2026-04-15", timezone="Europe/Paris"),
            identify("past", T0 - DAY, renewal_date="2026-03-01", timezone="Europe/Paris"),
        ],
    )
    clock = SimulatedClock(T0)
    runtime = Runtime(p.store, clock=clock)
    assert runtime.tick().entered == {}
    clock.set(dt.datetime(2026, 3, 16, 7, 59, tzinfo=UTC))
    assert runtime.tick().entered == {}
    clock.set(dt.datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    assert runtime.tick().entered == {"renewal": 1}
    clock.advance(DAY)
    assert runtime.tick().entered == {}
    found = instances(p, "renewal")
    assert set(found) == {"renew"} and found["renew"]["entry_key"] == "2026-04-15"


def test_a_schedule_on_mondays_at_nine_in_each_zone(p: parcours.Parcours, tmp_path: Path) -> None:
    """Every Monday at 09:00 local, for everyone: paris's slot on 9 March is 08:00 UTC, ny's
    13:00 UTC (summer time since the 8th). First evaluated on Tuesday 3 March; a tick at
    08:30 admits paris only; at 13:00 ny; Tuesday no one; the next Monday both again (a new
    slot, a new key)."""
    publish(
        p,
        {
            "name": "weekly",
            "trigger": {"schedule": {"every": "1d", "at": "09:00", "weekdays": ["mon"]}},
            "steps": [{"id": "digest", "send": SEND}],
        },
    )
    send_messages(
        p,
        tmp_path,
        [
            identify("paris", T0 - DAY, timezone="Europe/Paris"),
            identify("ny", T0 - DAY, timezone="America/New_York"),
        ],
    )
    clock = SimulatedClock(T0 + DAY)
    runtime = Runtime(p.store, clock=clock)
    runtime.tick()
    clock.set(dt.datetime(2026, 3, 9, 8, 30, tzinfo=UTC))
    assert runtime.tick().entered == {"weekly": 1}
    clock.set(dt.datetime(2026, 3, 9, 13, 0, tzinfo=UTC))
    assert runtime.tick().entered == {"weekly": 1}
    clock.set(dt.datetime(2026, 3, 10, 13, 0, tzinfo=UTC))
    assert runtime.tick().entered == {}
    clock.set(dt.datetime(2026, 3, 16, 14, 0, tzinfo=UTC))
    assert runtime.tick().entered == {"weekly": 2}
    keys = p.store.engine.query(
        "SELECT customer_id, list(entry_key ORDER BY entry_key) AS k FROM automation_instances "
        "GROUP BY 1"
    ).to_pylist()
    assert {r["customer_id"]: r["k"] for r in keys} == {
        customer(p, "paris"): ["2026-03-09T08:00:00+00:00", "2026-03-16T08:00:00+00:00"],
        customer(p, "ny"): ["2026-03-09T13:00:00+00:00", "2026-03-16T13:00:00+00:00"],
    }


def test_an_http_entry_under_an_audience_sets_a_trait_and_a_tag(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """enter() offers everyone; the audience (vip = yes) admits v only, with the entry's
    properties; its steps write an identify event (tier gold, now v's trait) and a Tag Added
    event through own events, placed with v's customer at the clock's instant."""
    publish(
        p,
        {
            "name": "vip-welcome",
            "trigger": {"http": {}},
            "audience": {"trait": {"name": "vip", "equals": "yes"}},
            "steps": [
                {"id": "tier", "set_trait": {"tier": "gold"}},
                {"id": "mark", "tag": "vip-welcomed"},
            ],
        },
    )
    send_messages(p, tmp_path, [identify("v", T0 - DAY, vip="yes"), identify("n", T0 - DAY)])
    runtime = Runtime(p.store, clock=SimulatedClock(T0))
    entered = runtime.enter(
        "vip-welcome", "SELECT customer_id FROM identity_map", entry={"source": "crm"}
    )
    assert entered == 1
    v = customer(p, "v")
    row = instances(p, "vip-welcome")["v"]
    assert (row["state"], row["exit_reason"], row["entry"]) == ("done", "end", '{"source":"crm"}')
    own = p.store.engine.query(
        "SELECT type, name, properties, occurred_at FROM customer_events "
        "WHERE customer_id = ? AND source = 'parcours' ORDER BY type",
        [v],
    ).to_pylist()
    assert [(e["type"], e["name"], e["properties"]) for e in own] == [
        ("identify", None, '{"tier":"gold"}'),
        ("track", "Tag Added", '{"tag":"vip-welcomed"}'),
    ]
    assert {e["occurred_at"] for e in own} == {T0}


def test_events_before_the_first_publish_start_no_one(p: parcours.Parcours, tmp_path: Path) -> None:
    """A welcome published at T0: old's sign-up occurred a day before (an old file imported
    now) and starts nothing; new's, at T0, does."""
    publish(
        p,
        {
            "name": "welcome",
            "trigger": {"event": {"name": "Signed Up"}},
            "steps": [{"id": "hello", "send": SEND}],
        },
    )
    send_messages(
        p, tmp_path, [message("old", T0 - DAY, "Signed Up"), message("new", T0, "Signed Up")]
    )
    Runtime(p.store, clock=SimulatedClock(T0)).tick()
    assert set(instances(p, "welcome")) == {"new"}
