"""Declarative segments on a small hand-made log: members, history, events, refusals, explain.

The log (tests/segment_log.py) is four customers' Segment-spec messages imported through the
shipped `tracking` mapping, at times counted back from now; every expected member is read off
it by hand, and each test says how.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from segment_log import LOG, NOW, order

import parcours
from parcours.identity.customers import customer_of
from parcours.identity.graph import unresolved_events_query
from parcours.segments.definition import DefinitionError
from parcours.segments.scored import write_scores

SEGMENTS: dict[str, dict[str, Any]] = {
    "two-orders-30d": {
        "events": {"name": "Order Completed", "within": "30d", "count": {"at_least": 2}}
    },
    "lyon": {"trait": {"name": "city", "equals": "Lyon"}},
    "reachable": {
        "all": [
            {"has": {"identifier": "email"}},
            {"consent": {"channel": "email", "purpose": "marketing"}},
        ]
    },
    "big-spenders": {
        "events": {"name": "Order Completed", "within": "365d", "sum": "amount", "at_least": 500}
    },
    "lyon-not-buyers": {"all": [{"segment": "lyon"}, {"not": {"segment": "two-orders-30d"}}]},
    "no-web-90d": {"events": {"channel": "web", "within": "90d", "count": {"equals": 0}}},
    "frequent-visitors": {"journey": {"visits": {"at_least": 3}, "within": "30d"}},
    "lapsed": {"events": {"name": "Order Completed", "last": {"at_least": "30d"}}},
    "repeaters": {"journey": {"repeated_contacts": {"at_least": 1}}},
}
EXPECTED = {
    "two-orders-30d": {"u1"},  # u1: 2 orders in 30 days; u2 one; u3's are 40+ days old
    "lyon": {"u1", "u3"},
    "reachable": {"u1"},  # u3 has no email and withdrew; u2 never consented
    "big-spenders": {"u1", "u3"},  # 550 and 600; u2 100
    "lyon-not-buyers": {"u3"},  # Lyon without two orders in 30 days
    "no-web-90d": {"u1", "u3"},  # u1's page is 100 days old; u3 never browsed
    # u4: 4 web visits; u1 and u2: 2 visits each (store orders, a page, calls count as
    # visits: u2 has 1 order + 1 page + 2 calls a day apart = 4 visits)
    "frequent-visitors": {"u4", "u2"},
    "lapsed": {"u3"},  # last order 40 days ago; u4 never ordered (no last order)
    "repeaters": {"u2"},  # u2 called twice on one intent within 7 days
}


def _import(p: parcours.Parcours, tmp_path: Path, lines: list[str], name: str) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    summary = p.import_file(path, source=name, mapping="tracking")
    assert not summary.quarantined


def _users(p: parcours.Parcours) -> dict[str, str]:
    return {customer_of(p.store, "user_id", u): u for u in ("u1", "u2", "u3", "u4")}


def _members(p: parcours.Parcours, users: dict[str, str]) -> dict[str, set[str]]:
    rows = p.sql("SELECT segment, customer_id FROM segment_members").to_pylist()
    found: dict[str, set[str]] = {name: set() for name in SEGMENTS}
    for row in rows:
        found[row["segment"]].add(users[row["customer_id"]])
    return found


@pytest.fixture
def store(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    _import(p, tmp_path, LOG, "log")
    for name, where in SEGMENTS.items():
        p.segments.create({"name": name, "where": where})
    return p


def test_members_are_those_read_off_the_log(store: parcours.Parcours) -> None:
    assert _members(store, _users(store)) == EXPECTED


def test_each_entry_is_a_change_and_one_event_exactly_once(store: parcours.Parcours) -> None:
    users = _users(store)
    entries = sum(len(m) for m in EXPECTED.values())
    assert store.sql("SELECT count(*) FROM segment_changes").column(0)[0].as_py() == entries
    again = store.segments.recompute()
    assert sum(again.entered.values()) == sum(again.left.values()) == 0
    events = store.sql(
        "SELECT customer_id, properties FROM customer_events WHERE name = 'Segment Entered' "
        "AND source = 'parcours' AND type = 'track' AND channel = 'other'"
    ).to_pylist()
    placed = {(json.loads(e["properties"])["segment"], users[e["customer_id"]]) for e in events}
    assert len(events) == entries
    assert placed == {(s, u) for s, members in EXPECTED.items() for u in members}
    assert (
        store.sql("SELECT count(*) FROM events WHERE source = 'parcours'").column(0)[0].as_py()
        == entries
    )
    # Written placed: no resolve needs to see them (a later import stays incremental).
    assert (
        store.store.engine.scalar(
            unresolved_events_query("(SELECT NULL AS source, NULL AS event_id)")
        )
        == 0
    )


def test_a_new_import_moves_its_customers_and_a_full_recompute_agrees(
    store: parcours.Parcours, tmp_path: Path
) -> None:
    users = _users(store)
    # u2 orders again today: two orders in 30 days now, so u2 enters two-orders-30d.
    _import(store, tmp_path, [order("u2", 0, 50, 9)], "more")
    members = _members(store, users)
    assert members["two-orders-30d"] == {"u1", "u2"}
    u2 = next(c for c, u in users.items() if u == "u2")
    history = store.segments.history("two-orders-30d", customer_id=u2)
    assert [h["change"] for h in history] == ["entered"]
    entered = (
        store.sql(
            f"SELECT count(*) FROM customer_events WHERE customer_id = '{u2}' "
            "AND name = 'Segment Entered' "
            "AND json_extract_string(properties, '$.segment') = 'two-orders-30d'"
        )
        .column(0)[0]
        .as_py()
    )
    assert entered == 1
    # The incremental refresh left nothing for a full recompute to change.
    full = store.segments.recompute()
    assert sum(full.entered.values()) == sum(full.left.values()) == 0


def test_scores_are_read_whichever_scorer_wrote_them(store: parcours.Parcours) -> None:
    users = _users(store)
    health = " UNION ALL ".join(
        f"SELECT '{c}' AS customer_id, {v} AS value, NULL AS label, NULL AS details"
        for c, v in zip(users, (80, 30, 55, 10), strict=True)
    )
    write_scores(store.store.engine, "health", health, version="t")
    store.segments.create(
        {"name": "unhealthy", "where": {"score": {"name": "health", "below": 40}}}
    )
    unhealthy = store.segments.members("unhealthy")
    assert {users[m["customer_id"]] for m in unhealthy} == {"u2", "u4"}  # 30 and 10


def test_explain_gives_each_condition_with_the_customers_value(store: parcours.Parcours) -> None:
    u3 = customer_of(store.store, "user_id", "u3")
    why = store.segments.explain("lyon-not-buyers", u3)
    assert why.member and why.materialised
    assert [(c["path"], c["value"], c["held"]) for c in why.conditions] == [
        ("where.all[0].segment", True, True),
        ("where.all[1].not.segment", False, False),
    ]
    spend = store.segments.explain("big-spenders", u3).conditions[0]
    assert (spend["value"], spend["held"]) == (600.0, True)  # three orders of 200
    u2 = customer_of(store.store, "user_id", "u2")
    visits = store.segments.explain("two-orders-30d", u2)
    assert not visits.member and visits.conditions[0]["value"] == 1


def test_preview_counts_without_saving(store: parcours.Parcours) -> None:
    before = store.sql("SELECT count(*) FROM segments").column(0)[0].as_py()
    seen = store.segments.preview(
        {
            "name": "lyon-or-big",
            "where": {"any": [{"segment": "lyon"}, {"segment": "big-spenders"}]},
        }
    )
    assert seen.customers == 2 and seen.of == 4
    assert [c["customers"] for c in seen.conditions] == [2, 2]
    assert store.sql("SELECT count(*) FROM segments").column(0)[0].as_py() == before


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ({"trait": {"name": "cty", "equals": "Lyon"}}, "unknown trait 'cty' (closest: 'city'"),
        ({"events": {"name": "Order Completed", "within": "3mo"}}, "the units are h"),
        ({"events": {"name": "Order Complete"}}, "closest: 'Order Completed'"),
        ({"segment": "lyonn"}, "unknown segment 'lyonn' (closest: 'lyon'"),
        ({"has": {"identifier": "emial"}}, "closest: 'email'"),
        ({"score": {"name": "healht", "below": 3}}, "closest: 'health'"),
        ({"events": {"channel": "webb"}}, "closest: 'web'"),
        ({"events": {"name": "Order Completed", "count": {"at_least": "two"}}}, "not a number"),
    ],
)
def test_bad_definitions_are_refused_with_the_fix_and_nothing_saved(
    store: parcours.Parcours, where: dict[str, Any], said: str
) -> None:
    tables = ("segments", "segment_members", "segment_changes", "events")
    before = [store.sql(f"SELECT count(*) FROM {t}").column(0)[0].as_py() for t in tables]
    with pytest.raises(DefinitionError) as refused:
        store.segments.create({"name": "bad", "where": where})
    assert said in refused.value.message
    after = [store.sql(f"SELECT count(*) FROM {t}").column(0)[0].as_py() for t in tables]
    assert after == before


def test_a_cycle_is_refused_naming_it(store: parcours.Parcours) -> None:
    versions = store.sql("SELECT count(*) FROM segments").column(0)[0].as_py()
    with pytest.raises(DefinitionError) as refused:
        store.segments.create({"name": "lyon", "where": {"segment": "lyon-not-buyers"}})
    assert "lyon → lyon-not-buyers → lyon" in refused.value.message
    assert store.sql("SELECT count(*) FROM segments").column(0)[0].as_py() == versions


def test_a_yaml_mistake_names_its_line(p: parcours.Parcours, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nwhere:\n  all:\n    - events: {name: A, within: 2months}\n")
    with pytest.raises(DefinitionError) as refused:
        p.segments.create(path)
    assert "line 4, where.all[0].events.within" in refused.value.message


def test_a_changed_definition_is_a_new_version_and_delete_keeps_history(
    store: parcours.Parcours,
) -> None:
    users = _users(store)
    same = store.segments.create({"name": "lyon", "where": SEGMENTS["lyon"]})
    assert (same.version, same.changed) == (1, False)
    paris = store.segments.create(
        {"name": "lyon", "where": {"trait": {"name": "city", "in": ["Lyon", "Paris"]}}}
    )
    assert (paris.version, paris.changed, paris.entered) == (2, True, 1)  # u2 of Paris
    # lyon-not-buyers names lyon: recomputed with it (u2 has one order in 30 days).
    assert _members(store, users)["lyon-not-buyers"] == {"u2", "u3"}
    with pytest.raises(DefinitionError):
        store.segments.delete("lyon")  # lyon-not-buyers names it
    store.segments.delete("lyon-not-buyers")
    assert "lyon-not-buyers" not in {s.name for s in store.segments.list()}
    changes = store.segments.history("lyon-not-buyers")
    assert sorted((users[c["customer_id"]], c["change"]) for c in changes) == [
        ("u2", "entered"),
        ("u2", "left"),
        ("u3", "entered"),
        ("u3", "left"),
    ]


def test_a_customer_merged_away_leaves_its_segments(
    store: parcours.Parcours, tmp_path: Path
) -> None:
    # A visitor known only by a cookie orders twice: a customer of its own, in two-orders-30d.
    cookie = [
        json.dumps(
            {
                "type": "track",
                "anonymousId": "ck5",
                "event": "Order Completed",
                "messageId": f"ck5-{n}",
                "timestamp": (NOW - dt.timedelta(days=n)).isoformat(),
                "properties": {"revenue": 20},
                "context": {"channel": "web"},
            }
        )
        for n in (1, 2)
    ]
    _import(store, tmp_path, cookie, "cookie")
    visitor = customer_of(store.store, "anonymous_id", "ck5")
    assert visitor in {m["customer_id"] for m in store.segments.members("two-orders-30d")}
    # Then u4 signs in on that cookie: one customer, u4's; the cookie's id is gone.
    link = {**json.loads(cookie[0]), "messageId": "link", "userId": "u4", "event": "Signed In"}
    _import(store, tmp_path, [json.dumps(link)], "link")
    u4 = customer_of(store.store, "user_id", "u4")
    members = {m["customer_id"] for m in store.segments.members("two-orders-30d")}
    assert u4 in members and visitor not in members
    assert [h["change"] for h in store.segments.history("two-orders-30d", customer_id=visitor)] == [
        "entered",
        "left",
    ]
    full = store.segments.recompute()
    assert sum(full.entered.values()) == sum(full.left.values()) == 0


def test_a_toml_definition_is_the_same_structure(store: parcours.Parcours, tmp_path: Path) -> None:
    path = tmp_path / "emailable.toml"
    path.write_text('name = "emailable"\n[where.has]\nidentifier = "email"\n')
    saved = store.segments.create(path)
    users = _users(store)
    # u1 is the only one whose identify carried an email.
    assert {users[m["customer_id"]] for m in store.segments.members("emailable")} == {"u1"}
    assert saved.version == 1 and store.segments.show("emailable").definition == {
        "name": "emailable",
        "where": {"has": {"identifier": "email"}},
    }


def test_traits_survive_by_the_same_rules_as_the_profile(tmp_path: Path) -> None:
    """The records of tests/engine/test_profile.py: the CRM (trusted) says Lyon and the web
    Paris later; two records say Jeanne, one Jane; the latest plan is silver."""

    def identify(source: str, at: str, traits: dict[str, str], n: int) -> str:
        message = {"type": "identify", "userId": "u1", "messageId": f"{source}-{n}"}
        return json.dumps({**message, "timestamp": at, "traits": traits})

    rules = {
        "survivorship": {"city": "most_trusted", "first_name": "most_frequent"},
        "trusted_sources": ["crm"],
    }
    with parcours.connect(tmp_path / "s.duckdb", identity=rules) as p:
        crm = [identify("crm", "2026-01-01T00:00:00Z", {"city": "Lyon", "first_name": "Jeanne"}, 1)]
        web = [
            identify("web", "2026-03-01T00:00:00Z", {"city": "Paris", "first_name": "Jane"}, 1),
            identify("web", "2026-02-01T00:00:00Z", {"first_name": "Jeanne", "plan": "gold"}, 2),
            identify("web", "2026-04-01T00:00:00Z", {"plan": "silver"}, 3),
        ]
        _import(p, tmp_path, crm, "crm")
        _import(p, tmp_path, web, "web")
        chosen = {"city": "Lyon", "first_name": "Jeanne", "plan": "silver"}
        for trait, value in chosen.items():
            preview = p.segments.preview(
                {"name": "t", "where": {"trait": {"name": trait, "equals": value}}}
            )
            assert preview.customers == 1, (trait, value)
        for trait, value in {"city": "Paris", "first_name": "Jane", "plan": "gold"}.items():
            preview = p.segments.preview(
                {"name": "t", "where": {"trait": {"name": trait, "equals": value}}}
            )
            assert preview.customers == 0, (trait, value)


def test_a_sum_over_events_picked_by_property_refreshes_as_a_recompute_would(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """A condition that filters on a property and sums a column reads both: the incremental
    refresh after an import (which copies only the columns the conditions read) must find the
    summed column too — alone, with no other segment reading it. u2 orders 50 today, so u2's
    orders of revenue 50 in 30 days sum to 50."""
    store = p
    _import(store, tmp_path, LOG, "log")
    store.segments.create(
        {
            "name": "fifties",
            "where": {
                "events": {
                    "name": "Order Completed",
                    "properties": {"revenue": 50},
                    "within": "30d",
                    "sum": "amount",
                    "at_least": 50,
                }
            },
        }
    )
    _import(store, tmp_path, [order("u2", 0, 50, 9)], "more")
    users = _users(store)
    members = store.sql("SELECT customer_id FROM segment_members WHERE segment = 'fifties'")
    assert "u2" in {users[c] for c in members.column(0).to_pylist()}
    full = store.segments.recompute()
    assert sum(full.entered.values()) == sum(full.left.values()) == 0


def test_comparisons_that_cannot_hold_or_would_select_everyone_are_refused_or_read_as_there(
    store: parcours.Parcours,
) -> None:
    """An empty `in`, a comparison with infinity and a window of a thousand centuries are
    refused with the fix; a score with no comparator means "has that score"."""
    for where in (
        {"trait": {"name": "city", "in": []}},
        {"events": {"name": "Order Completed", "count": {"at_least": float("inf")}}},
        {"events": {"name": "Order Completed", "within": "99999999w"}},
    ):
        with pytest.raises(DefinitionError) as refused:
            store.segments.create({"name": "odd", "where": where})
        assert refused.value.fix
    write_scores(
        store.store.engine,
        "vip",
        "SELECT customer_id, 1 AS value, 'yes' AS label, NULL AS details "
        "FROM (SELECT DISTINCT customer_id FROM customer_events) LIMIT 1",
        version="test",
    )
    store.segments.create({"name": "has-vip", "where": {"score": {"name": "vip"}}})
    assert (
        store.sql("SELECT count(*) FROM segment_members WHERE segment = 'has-vip'")
        .column(0)[0]
        .as_py()
        == 1
    )
