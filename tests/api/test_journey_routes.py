"""Every journey analysis over HTTP, on a small world whose answers are counted by hand.

Five customers send 18 events through the tracking API of one real `parcours serve`
(`WORLD` below: each line is one event). Every expected figure is counted from those lines, and
each test says how. Where a figure is a model's output that a hand count cannot give in a line
(time decay, a clustering), the test computes it from the model's published rule or checks
what any answer must satisfy (two identical journeys follow the same typical journey); and one
test checks that each route answers what the Python façade answers on the same store, with
the options changed from their defaults, so that every option reaches the analysis.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from servers import ADMIN, Server, add_source, start_server

import parcours


def _event(message: str, user: str, at: str, channel: str, name: str, **properties: Any) -> Any:
    return {
        "type": "track",
        "messageId": message,
        "userId": user,
        "event": name,
        "timestamp": f"2026-{at}:00Z",
        "context": {"channel": channel},
        "properties": properties,
    }


DELIVERY, BILLING = {"intent": "delivery"}, {"intent": "billing"}
AL, BEA = {"agent": "al", "team": "north"}, {"agent": "bea", "team": "south"}
WORLD = [
    # Ann buys on the web, calls about the delivery (unresolved), is settled by chat the next
    # day, and buys again three days later.
    _event("a1", "ann", "03-02T10:00", "web", "Product Viewed"),
    _event("a2", "ann", "03-02T10:05", "web", "Product Added"),
    _event("a3", "ann", "03-02T10:10", "web", "Order Completed", revenue=40),
    _event("a4", "ann", "03-04T09:00", "call", "Call", **DELIVERY, **AL, outcome="unresolved"),
    _event("a5", "ann", "03-05T09:00", "chat", "Chat", **DELIVERY, **BEA, outcome="resolved"),
    _event("a6", "ann", "03-08T10:00", "web", "Order Completed", revenue=30),
    # Bob comes twice the same day (two hours apart: two visits), buys on the second, has a
    # billing question settled by one call, and looks again in April.
    _event("b1", "bob", "03-03T10:00", "web", "Product Viewed"),
    _event("b2", "bob", "03-03T12:00", "web", "Product Viewed"),
    _event("b3", "bob", "03-03T12:05", "web", "Order Completed", revenue=25),
    _event("b4", "bob", "03-06T09:00", "call", "Call", **BILLING, **AL, outcome="resolved"),
    _event("b5", "bob", "04-02T10:00", "web", "Product Viewed"),
    # Cid and Eve do the same thing in the app in April, and never buy.
    _event("c1", "cid", "04-01T10:00", "app", "Product Viewed"),
    _event("c2", "cid", "04-01T10:03", "app", "Product Added"),
    _event("e1", "eve", "04-05T10:00", "app", "Product Viewed"),
    _event("e2", "eve", "04-05T10:02", "app", "Product Added"),
    # Dan chats twice about a delivery (the second chat records no outcome), and browses on
    # May 1st: the last event of the data.
    _event("d1", "dan", "04-02T10:00", "chat", "Chat", **DELIVERY, **BEA, outcome="unresolved"),
    _event("d2", "dan", "04-03T10:00", "chat", "Chat", **DELIVERY, **BEA),
    _event("d3", "dan", "05-01T10:00", "web", "Product Viewed"),
]
DAY = 86_400.0


@dataclass
class World:
    server: Server
    admin: httpx.Client
    customer: dict[str, str]
    """User id → the customer id identity resolution gave them."""

    def get(self, analysis: str, **params: Any) -> Any:
        answer = self.admin.get(f"/v1/journeys/{analysis}", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = tmp_path_factory.mktemp("journeys") / "store.duckdb"
    server = start_server(store, add_source(store))
    admin = httpx.Client(base_url=server.url, headers=ADMIN, timeout=60)
    try:
        sent = httpx.post(
            f"{server.url}/v1/batch", json={"batch": WORLD}, auth=(server.write_key, "")
        )
        assert sent.status_code == 200, sent.text
        # A full resolve runs after everything acknowledged is stored: no waiting on timing.
        assert admin.post("/v1/identity/resolve").json()["customers"] == 5
        customer = {
            user: admin.get("/v1/customers/lookup", params={"user_id": user}).json()["customer_id"]
            for user in ("ann", "bob", "cid", "dan", "eve")
        }
        yield World(server, admin, customer)
    finally:
        admin.close()
        server.stop()


def test_a_customer_by_id_shows_their_events_by_channel(world: World) -> None:
    profile = world.admin.get(f"/v1/customers/{world.customer['ann']}").json()
    assert profile["customer_id"] == world.customer["ann"]
    identifiers = [(i["type"], i["value"], i["events"]) for i in profile["identifiers"]]
    assert identifiers == [("user_id", "ann", 6)]
    assert (profile["events"], profile["first_seen"], profile["last_seen"]) == (
        6,
        "2026-03-02T10:00:00Z",
        "2026-03-08T10:00:00Z",
    )
    # Ann: a1-a3 and a6 on the web (two orders, 40 + 30), one call and one chat contact.
    channels = {c["channel"]: c for c in profile["by_channel"]}
    assert {
        k: (c["events"], c["purchases"], c["amount"], c["contacts"]) for k, c in channels.items()
    } == {
        "web": (4, 2, 70.0, 0),
        "call": (1, 0, 0.0, 1),
        "chat": (1, 0, 0.0, 1),
    }
    unknown = world.admin.get("/v1/customers/c_0000000000000000")
    assert unknown.status_code == 404


def test_conversion_by_visit_number(world: World) -> None:
    """Visits (web and app cut at 30 minutes; a call or a chat is a visit of its own):
    Ann web(buys) call chat web(buys); Bob web, web(buys), call, web; Cid app; Dan chat, chat,
    web; Eve app. Ann first converts at visit 1, Bob at visit 2."""
    result = world.get("visits", conversion="Order Completed")
    assert (result["customers"], result["converters"]) == (5, 2)
    rows = [
        (
            r["visit_number"],
            r["customers"],
            r["visits"],
            r["converting_visits"],
            r["first_conversions"],
            r["first_conversion_rate"],
            r["channel_mix"],
        )
        for r in result["by_visit"]
    ]
    # The rate at k: first conversions at k / customers reaching visit k not converted yet
    # (visit 2: Bob and Dan; visit 3: Dan; visit 4: nobody, Ann and Bob had converted).
    assert rows == [
        (1, 5, 5, 1, 1, 0.2, {"app": 2, "chat": 1, "web": 2}),
        (2, 3, 3, 1, 1, 0.5, {"call": 1, "chat": 1, "web": 1}),
        (3, 3, 3, 0, 0, 0.0, {"call": 1, "chat": 1, "web": 1}),
        (4, 2, 2, 1, 0, None, {"web": 2}),
    ]
    # max_visit folds visits 3 and 4 into the last number.
    folded = world.get("visits", conversion="Order Completed", max_visit=3)["by_visit"]
    assert [(r["visit_number"], r["visits"]) for r in folded] == [(1, 5), (2, 3), (3, 5)]


def test_variants_and_paths_follow_each_journey(world: World) -> None:
    # Only Cid and Eve share a whole journey (Product Viewed, Product Added): 2 of 5.
    variants = world.get("variants", top=1)["variants"]
    assert variants == [
        {"rank": 1, "variant": ["Product Viewed", "Product Added"], "journeys": 2, "share": 0.4},
        {"rank": None, "variant": None, "journeys": 3, "share": 0.6},
    ]
    # After each customer's first Product Viewed, two steps: Ann Added, Completed; Bob Viewed,
    # Completed; Cid and Eve Added, then nothing; Dan nothing (d3 is his last event).
    paths = world.get("paths", anchor="Product Viewed", depth=2)
    nodes = {(n["depth"], n["activity"]): n["customers"] for n in paths["nodes"]}
    assert paths["customers"] == 5
    assert nodes == {
        (0, "Product Viewed"): 5,
        (1, "Product Added"): 3,
        (1, "Product Viewed"): 1,
        (1, "(end)"): 1,
        (2, "Order Completed"): 2,
        (2, "(end)"): 2,
    }
    # Before the first Order Completed: Ann Added, Bob Viewed.
    before = world.get("paths", anchor="Order Completed", direction="to", depth=1)
    assert {(n["depth"], n["activity"]): n["customers"] for n in before["nodes"]} == {
        (0, "Order Completed"): 2,
        (1, "Product Added"): 1,
        (1, "Product Viewed"): 1,
    }


def test_repeat_contacts_resolution_and_effort(world: World) -> None:
    """Cases (contacts on one intent, each within 7 days of the one before): Ann delivery
    (call unresolved, chat resolved: 2 contacts, 1 repeat, 1 switch, effort 4), Bob billing
    (one call, resolved: effort 1), Dan delivery (chat unresolved, chat with no outcome, taken
    as settled: 2 contacts, 1 repeat, effort 3)."""
    result = world.get("repeats")
    assert {k: result[k] for k in ("contacts", "cases", "repeats")} == {
        "contacts": 5,
        "cases": 3,
        "repeats": 2,
    }
    assert result["first_contact_resolution"] == 0.3333  # Bob's case only, of 3
    assert result["contacts_per_resolution"] == 1.667  # 5 contacts, 3 cases settled
    assert result["median_seconds_to_resolution"] == DAY  # Ann 1 day, Bob 0, Dan 1 day
    assert result["mean_effort"] == 2.667  # (4 + 1 + 3) / 3
    by_intent = {r["intent"]: r for r in result["by_intent"]}
    # Delivery: a4 and d1 were followed by a repeat, a5 and d2 were not; neither first
    # contact settled its case.
    assert {k: by_intent["delivery"][k] for k in ("contacts", "repeats", "cases")} == {
        "contacts": 4,
        "repeats": 2,
        "cases": 2,
    }
    assert (by_intent["delivery"]["repeat_rate"], by_intent["delivery"]["mean_effort"]) == (
        0.5,
        3.5,
    )
    assert by_intent["billing"]["first_contact_resolution"] == 1.0
    # Chats only: Ann's chat is then a case of its own; Dan's two chats stay one case.
    chats = world.get("repeats", channel="chat")
    assert (chats["contacts"], chats["cases"], chats["repeats"]) == (3, 2, 1)
    # With a 12-hour window, no contact comes soon enough to repeat another: 5 cases.
    assert world.get("repeats", window="12h")["cases"] == 5
    # Al's contacts only (an event property): Ann's call and Bob's, two cases of one contact.
    al = world.get("repeats", property="agent=al")
    assert (al["contacts"], al["cases"], al["repeats"]) == (2, 2, 0)


def test_repeat_cases_name_the_customers_who_repeated_themselves(world: World) -> None:
    cases = world.get("repeats/cases")["cases"]
    # Ann's case (effort 4) before Dan's (effort 3); Bob never repeated himself.
    assert [(c["customer_id"], c["intent"], c["effort"]) for c in cases] == [
        (world.customer["ann"], "delivery", 4.0),
        (world.customer["dan"], "delivery", 3.0),
    ]
    assert [
        (h["event_id"], h["channel"], h["outcome"], h["agent"]) for h in cases[0]["history"]
    ] == [
        ("a4", "call", "unresolved", "al"),
        ("a5", "chat", "resolved", "bea"),
    ]
    assert len(world.get("repeats/cases", limit=1)["cases"]) == 1


def test_channel_switches_and_what_followed(world: World) -> None:
    """One switch: Ann's call → chat (a4 → a5, one day apart), which settled the case and was
    followed by her order three days later (a6, within the 7-day window). Dan's chat → chat is
    a repeat, not a switch. With churn at 30 days, Ann (last seen March 8) has churned by the
    data's end (May 1st)."""
    result = world.get("switches", churn_days=30)
    assert (result["contacts"], result["switches"]) == (5, 1)
    assert result["matrix"] == [
        {"from_channel": "call", "to_channel": "chat", "contacts": 1, "resolved_rate": 1.0},
        {"from_channel": "chat", "to_channel": "chat", "contacts": 1, "resolved_rate": 1.0},
    ]
    assert result["by_switch"] == [
        {
            "from_channel": "call",
            "to_channel": "chat",
            "switches": 1,
            "median_seconds_between": DAY,
            "resolved_rate": 1.0,
            "repeated_rate": 0.0,
            "purchase_rate": 1.0,
            "churn_rate": 1.0,
            "contacts_after": 0,
            "unresolved": 0,
        }
    ]
    # At the default 90 days nobody has churned.
    assert world.get("switches")["by_switch"][0]["churn_rate"] == 0.0


def test_attribution_credits_each_channel_by_every_model(world: World) -> None:
    """Paths by channel (consecutive touches of one channel once; a conversion closes a path):
    Ann [web]→buys, [call, chat, web]→buys; Bob [web]→buys, [call, web]; Cid [app];
    Dan [chat, web]; Eve [app]. 3 conversions, 7 paths.

    Markov, by hand: P(buy | web) = 3/5 (web ends three converting paths and two others);
    chat and call lead only to web, so each converts with 3/5; app never. P(buy) = (2 web +
    2 call + 1 chat starts) × 3/5 / 7 = 3/7. Without call its two starts are lost: 1.8/7, a
    removal effect of 0.4; without chat, Ann's call goes nowhere (call converts with 0.3) and
    Dan's start is lost: 1.8/7 again, 0.4; without web nothing converts: 1. The 3
    conversions shared in proportion: web 3 × 1/1.8, call and chat 3 × 0.4/1.8 each."""
    result = world.get("attribution", conversion="Order Completed")
    assert (result["conversions"], result["paths"]) == (3, 7)
    assert result["conversion_probability"] == round(3 / 7, 6)
    rows = {r["touchpoint"]: r for r in result["by_touchpoint"]}
    assert set(rows) == {"web", "call", "chat", "app"}

    def credit(model: str) -> dict[str, float]:
        return {t: rows[t][model] for t in ("web", "call", "chat", "app")}

    assert credit("removal_effect") == {"web": 1.0, "call": 0.4, "chat": 0.4, "app": 0.0}
    third = round(1 / 3, 6)
    expected = {
        "markov": {
            "web": round(3 / 1.8, 6),
            "call": round(1.2 / 1.8, 6),
            "chat": round(1.2 / 1.8, 6),
        },
        # Ann's second path opens with a call; the other two converting paths are web alone.
        "first_touch": {"web": 2.0, "call": 1.0, "chat": 0.0},
        "last_touch": {"web": 3.0, "call": 0.0, "chat": 0.0},
        "linear": {"web": round(2 + 1 / 3, 6), "call": third, "chat": third},
        "shapley": {"web": round(2 + 1 / 3, 6), "call": third, "chat": third},
        # 40 % first, 40 % last, 20 % to the middle of [call, chat, web].
        "position_based": {"web": 2.4, "call": 0.4, "chat": 0.2},
    }
    for model, by_channel in expected.items():
        assert credit(model) == pytest.approx({**by_channel, "app": 0.0}, abs=1e-6), model
    # Time decay: a touch's weight halves every 7 days before its conversion. Ann's call came
    # 97 hours and her chat 73 hours before the order they led to (the web touch is the
    # order itself: age 0).
    weights = {"call": 2 ** (-97 / 168), "chat": 2 ** (-73 / 168), "web": 1.0}
    total = sum(weights.values())
    decay = {t: w / total for t, w in weights.items()}
    assert credit("time_decay") == pytest.approx(
        {"web": 2 + decay["web"], "call": decay["call"], "chat": decay["chat"], "app": 0.0},
        abs=1e-6,
    )
    # A budget of 90 split as last touch: all of it to the web.
    budget = world.get("attribution", budget=90)["by_touchpoint"]
    assert {r["touchpoint"]: r["last_touch_budget"] for r in budget}["web"] == 90.0


def test_touchpoints_reach_lifts_and_contact_resolution(world: World) -> None:
    """Of 5 customers 2 buy (0.4). Web Product Viewed reaches Ann, Bob and Dan (5 events);
    Ann and Bob buy within 30 days after their first one: 2/3, a lift of 2/3 - 0.4. The call
    reaches Ann (who buys 4 days later) and Bob (who bought before): 0.5; it opened 2 cases
    and settled Bob's at once. The chat opened one case (Dan's; Ann's chat was a repeat)
    and did not settle it. Nobody reaches 30 customers: no moment of truth."""
    result = world.get("touchpoints", conversion="Order Completed")
    assert (result["customers"], result["conversion_rate"], result["churn_rate"]) == (5, 0.4, 0.0)
    rows = {r["touchpoint"]: r for r in result["touchpoints"]}

    def figures(touchpoint: str) -> tuple[Any, ...]:
        row = rows[touchpoint]
        keys = ("customers", "events", "conversion_after", "conversion_lift")
        return (*(row[k] for k in keys), row["cases_opened"], row["first_contact_resolution"])

    assert figures("web:Product Viewed") == (3, 5, 0.6667, 0.2667, 0, None)
    assert figures("app:Product Viewed") == (2, 2, 0.0, -0.4, 0, None)
    assert figures("call:Call") == (2, 2, 0.5, 0.1, 2, 0.5)
    assert figures("chat:Chat") == (2, 3, 0.5, 0.1, 1, 0.0)
    assert len(rows) == 7  # web: Viewed, Added, Completed; app: Viewed, Added; call; chat
    assert result["moments_of_truth"] == []
    # By channel alone, churn at 30 days (no event after April 1st, 10:00): of the web's
    # customers only Ann (last seen March 8); Bob came back April 2nd, Dan May 1st.
    by_channel = world.get("touchpoints", touchpoint="channel", churn_days=30)
    assert {r["touchpoint"]: r["churn_after"] for r in by_channel["touchpoints"]}["web"] == 0.3333


def test_agents_and_teams(world: World) -> None:
    """Al (north): Ann's call (first, unresolved, repeated) and Bob's (first, resolved). Bea
    (south): Ann's chat (a repeat, resolved), Dan's first chat (unresolved, repeated) and his
    second (no outcome recorded)."""
    result = world.get("agents")

    def figures(rows: list[dict[str, Any]], key: str) -> dict[str, tuple[Any, ...]]:
        names = ("contacts", "first_contacts", "first_contact_resolution", "repeat_rate")
        return {r[key]: (*(r[n] for n in names), r["outcomes"]) for r in rows}

    al = (2, 2, 0.5, 0.5, {"resolved": 1, "unresolved": 1})
    bea = (3, 1, 0.0, 0.3333, {"resolved": 1, "unresolved": 1, "unknown": 1})
    assert figures(result["agents"], "agent") == {"al": al, "bea": bea}
    assert figures(result["teams"], "team") == {"north": al, "south": bea}
    assert [r["agent"] for r in result["agents"]] == ["bea", "al"]  # most contacts first


def test_cohorts_by_month_and_by_channel(world: World) -> None:
    """First seen in March: Ann and Bob (both buy in March, Ann twice); in April: Cid, Dan,
    Eve. The data ends on May 1st, so March is seen for months 0-2 and April for 0-1. Active
    in April: Bob (of March), Dan in May (of April)."""
    rows = world.get("cohorts", by="month")["cohorts"]
    assert [
        (r["cohort"], r["month"], r["observed"], r["active"], r["buyers"], r["repeat_buyers"])
        for r in rows
    ] == [
        ("2026-03", 0, 2, 2, 2, 1),
        ("2026-03", 1, 2, 1, 2, 1),
        ("2026-03", 2, 2, 0, 2, 1),
        ("2026-04", 0, 3, 3, 0, 0),
        ("2026-04", 1, 3, 1, 0, 0),
    ]
    assert [r["retention"] for r in rows] == [1.0, 0.5, 0.0, 1.0, 0.3333]
    # Acquisition channel: the channel of each customer's first event.
    by_channel = world.get("cohorts", by="channel", months=0)["cohorts"]
    assert {r["cohort"]: r["customers"] for r in by_channel} == {"web": 2, "app": 2, "chat": 1}
    # April only (from April 1st, before May 1st): Bob, Cid, Dan and Eve, all first seen in
    # April, the month the data (so scoped) ends.
    april = world.get("cohorts", since="2026-04-01T00:00:00Z", until="2026-05-01T00:00:00Z")
    assert [(r["cohort"], r["month"], r["observed"]) for r in april["cohorts"]] == [
        ("2026-04", 0, 4)
    ]
    assert world.admin.get("/v1/journeys/cohorts", params={"by": "week"}).status_code == 400


def test_typical_journeys_put_identical_journeys_together(world: World) -> None:
    """Cid and Eve made the same journey (one app visit); whatever the clustering, they follow
    the same typical journey, and every customer follows exactly one."""
    result = world.get("typical", clusters=2)
    assert (result["customers"], result["clusters"], result["chosen_by"]) == (5, 2, "given")
    members = [
        set(world.get("typical/customers", clusters=2, cluster=n)["customers"]) for n in (1, 2)
    ]
    assert sorted(len(m) for m in members) == [2, 3]
    assert members[0] | members[1] == set(world.customer.values())
    app_only = {world.customer["cid"], world.customer["eve"]}
    assert app_only in members
    cluster = members.index(app_only) + 1
    typical_of_app = next(t for t in result["typical"] if t["cluster"] == cluster)
    assert (typical_of_app["medoid"], typical_of_app["conversion_rate"]) == (["app"], 0.0)


@dataclass(frozen=True)
class Options:
    """An analysis asked with options away from its defaults, over HTTP and in Python."""

    required: dict[str, Any]
    options: dict[str, Any]
    in_python: Callable[[parcours.Parcours], Any]


ANALYSES = {
    "visits": Options(
        {"conversion": "Order Completed"},
        {"gap": "3h", "max_visit": 2},
        lambda p: p.journeys.visits("Order Completed", gap="3h", max_visit=2).to_dict(),
    ),
    "variants": Options(
        {},
        {"touchpoint": "channel", "case": "visit", "top": 2},
        lambda p: {"variants": p.journeys.variants(touchpoint="channel", case="visit", top=2)},
    ),
    "paths": Options(
        {"anchor": "Chat"},
        {"direction": "to", "depth": 3, "top": 1, "touchpoint": "channel:name"},
        lambda p: p.journeys.paths(
            "Chat", direction="to", depth=3, top=1, touchpoint="channel:name"
        ).to_dict(),
    ),
    "switches": Options(
        {},
        {"window": "2d", "churn_days": 10},
        lambda p: p.journeys.switches(window="2d", churn_days=10).to_dict(),
    ),
    "repeats": Options({}, {"window": "12h"}, lambda p: p.journeys.repeats(window="12h").to_dict()),
    "repeats/cases": Options(
        {},
        {"window": "12h", "limit": 1},
        lambda p: {"cases": p.journeys.repeaters(window="12h", limit=1)},
    ),
    "attribution": Options(
        {},
        {
            "conversion": "Product Added",
            "touchpoint": "channel:name",
            "lookback": "2d",
            "half_life": "1d",
            "budget": 1000,
        },
        lambda p: p.journeys.attribution(
            "Product Added", touchpoint="channel:name", lookback="2d", half_life="1d", budget=1000
        ).to_dict(),
    ),
    "touchpoints": Options(
        {},
        {"conversion": "Call", "touchpoint": "name", "window": "1d", "churn_days": 20},
        lambda p: p.journeys.touchpoints(
            conversion="Call", touchpoint="name", window="1d", churn_days=20
        ).to_dict(),
    ),
    "agents": Options({}, {"window": "12h"}, lambda p: p.journeys.agents(window="12h").to_dict()),
    "cohorts": Options(
        {},
        {"by": "channel", "conversion": "Product Viewed", "months": 1},
        lambda p: p.journeys.cohorts(by="channel", conversion="Product Viewed", months=1).to_dict(),
    ),
    "typical": Options(
        {},
        {"clusters": 3, "conversion": "Product Added", "top": 2},
        lambda p: p.journeys.typical(clusters=3, conversion="Product Added", top=2).to_dict(),
    ),
}


@pytest.mark.parametrize("analysis", ANALYSES)
def test_each_route_answers_what_python_answers_with_every_option(
    world: World, analysis: str
) -> None:
    """HTTP is a thin layer over the same service: with options away from their defaults, the
    route's JSON equals the Python façade's answer on the same store (read through the
    server's snapshot while it runs); and each option alone changes the answer, so none is
    dropped on the way without this test failing."""
    asked = ANALYSES[analysis]
    over_http = world.get(analysis, **asked.required, **asked.options)
    with parcours.connect(world.server.store, read_only=True) as p:
        in_python = json.loads(json.dumps(asked.in_python(p), default=_iso))
    assert over_http == in_python
    by_default = world.get(analysis, **asked.required)
    for option, value in asked.options.items():
        alone = world.get(analysis, **asked.required, **{option: value})
        assert alone != by_default, f"{option}={value} changed nothing"


def _iso(value: Any) -> str:
    """Times as the API writes them (ISO 8601, `Z`)."""
    return str(value.isoformat().replace("+00:00", "Z"))


def test_journey_routes_need_the_admin_token(world: World) -> None:
    for analysis in ("visits", "variants", "repeats", "typical/customers"):
        refused = httpx.get(f"{world.server.url}/v1/journeys/{analysis}")
        assert refused.status_code == 401, analysis
