"""Each `parcours journeys ...` command and `parcours report`, run as a user runs them, on five
customers small enough that every figure below is counted by hand from the events in WORLD.

The analyses are checked against peers and the demo's truth elsewhere (test_journeys_demo.py,
test_attribution_reference.py...); here the point is that the command line asks for the right
analysis with the options given, and prints its answer: each expected value is worked out in
a comment from WORLD, not read from parcours.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_process import run

import parcours

MAPPING = """
name: hand
event: {field: event}
channel: {field: channel}
occurred_at: {field: at}
user_id: user
intent: intent
outcome: outcome
agent: agent
team: team
amount: amount
duration_seconds: handled
"""
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PV, PA, OC = "Product Viewed", "Product Added", "Order Completed"
# customer, hours after January 1st 2026 00:00 UTC, channel, event, and for contacts: intent,
# outcome, agent, team and handle time (s); for purchases, the amount.
WORLD: list[tuple[Any, ...]] = [
    ("a", 0, "web", PV),
    ("a", 0.25, "web", PA),
    ("a", 48, "app", PV),
    ("a", 48.1, "app", OC, "", "", "", "", 100),
    ("a", 100, "call", "Call", "delivery", "unresolved", "A1", "T1", "", 300),
    ("a", 101, "chat", "Chat", "delivery", "resolved", "B1", "T2", "", 60),
    ("b", 10, "web", PV),
    ("b", 200, "store", OC, "", "", "", "", 50),
    ("b", 300, "call", "Call", "billing", "resolved", "A1", "T1", "", 100),
    ("c", 20, "web", PV),
    ("c", 20.2, "web", PV),
    ("c", 500, "web", PV),
    ("c", 768, "web", PV),  # February 1st: c comes back
    ("d", 749, "app", PV),  # February 1st: d and e are first seen in February
    ("d", 760, "app", OC, "", "", "", "", 30),
    ("e", 800, "app", PV),
    ("e", 800.1, "app", OC, "", "", "", "", 20),  # the last event of the data
]
COLUMNS = "user,at,channel,event,intent,outcome,agent,team,amount,handled"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("hand")
    lines = [COLUMNS]
    for user, hours, *rest in WORLD:
        at = (START + dt.timedelta(hours=hours)).isoformat()
        fields = [*rest, *[""] * (8 - len(rest))]
        lines.append(",".join(str(f) for f in [user, at, *fields]))
    (folder / "events.csv").write_text("\n".join(lines) + "\n")
    (folder / "m.yaml").write_text(MAPPING)
    with parcours.connect(folder / "store.duckdb") as p:
        summary = p.import_file(folder / "events.csv", source="s", mapping=folder / "m.yaml")
    assert summary.accepted == len(WORLD)
    yield folder / "store.duckdb"


def _json(store: Path, *args: str) -> Any:
    done = run("journeys", *args, "--store", str(store), "--format", "json", cwd=store.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _pick(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[k] for k in keys) for row in rows]


def test_visits_counts_conversion_by_visit_number_with_the_gap_given(store: Path) -> None:
    # With a 12-hour gap, d's view and purchase (11 hours apart) are one app visit; every
    # other event on another channel or days later opens a visit. Visits in order:
    #   a: web (0h, 0.25h), app (48h, buys), call, chat     b: web, store (buys), call
    #   c: web, web (500h), web (768h)                      d: app (buys)    e: app (buys)
    result = _json(store, "visits", OC, "--gap", "12h")
    assert (result["gap_seconds"], result["customers"], result["converters"]) == (43200, 5, 4)
    keys = ("visit_number", "customers", "converting_visits", "first_conversions")
    assert _pick(result["by_visit"], *keys) == [
        (1, 5, 2, 2),
        (2, 3, 2, 2),
        (3, 3, 0, 0),
        (4, 1, 0, 0),
    ]
    # d and e convert at their first visit, a and b at their second: half the converters each.
    assert _pick(result["by_visit"], "share_of_converters") == [(0.5,), (0.5,), (0.0,), (0.0,)]
    assert [v["channel_mix"] for v in result["by_visit"]] == [
        {"web": 3, "app": 2},
        {"app": 1, "store": 1, "web": 1},
        {"call": 2, "web": 1},
        {"chat": 1},
    ]


def test_map_counts_each_move_from_one_touchpoint_to_the_next(store: Path) -> None:
    # Journeys by event name: a PV PA PV OC Call Chat; b PV OC Call; c PV PV PV PV; d PV OC;
    # e PV OC. Viewed → purchased: a (0.1h), b (190h), d (11h), e (0.1h): median 5.55h.
    result = _json(store, "map")
    assert result["journeys"] == 5
    edges = {(e["source"], e["target"]): (e["count"], e["journeys"]) for e in result["edges"]}
    assert edges == {
        (PV, OC): (4, 4),
        (PV, PV): (3, 1),
        (OC, "Call"): (2, 2),
        ("Call", "Chat"): (1, 1),
        (PA, PV): (1, 1),
        (PV, PA): (1, 1),
    }
    median = {(e["source"], e["target"]): e["median_seconds"] for e in result["edges"]}
    assert median[(PV, OC)] == 19980  # (0.1 h + 11 h) / 2, in seconds
    assert median[("Call", "Chat")] == 3600
    ends = {e["activity"]: (e["starts"], e["ends"]) for e in result["ends"]}
    assert ends == {PV: (5, 1), OC: (0, 2), "Call": (0, 1), "Chat": (0, 1)}


def test_variants_rank_whole_journeys_by_how_many_follow_them(store: Path) -> None:
    rows = _json(store, "variants")
    # d and e follow the same journey; a, b and c one each: 2/5, then 1/5 three times.
    assert (rows[0]["rank"], rows[0]["variant"], rows[0]["journeys"]) == (1, [PV, OC], 2)
    assert {(tuple(r["variant"]), r["share"]) for r in rows[1:]} == {
        ((PV, OC, "Call"), 0.2),
        ((PV, PV, PV, PV), 0.2),
        ((PV, PA, PV, OC, "Call", "Chat"), 0.2),
    }


def test_switches_and_repeats_count_the_cases_of_the_contacts(store: Path) -> None:
    # Contacts: a's delivery call (unresolved), a's delivery chat an hour later (resolved): one
    # case, one repeat, a switch call → chat that settled it; b's billing call (resolved):
    # a case settled at first contact.
    switches = _json(store, "switches")
    assert (switches["contacts"], switches["switches"]) == (3, 1)
    assert _pick(switches["matrix"], "from_channel", "to_channel", "contacts") == [
        ("call", "chat", 1)
    ]
    keys = ("from_channel", "to_channel", "switches", "median_seconds_between", "resolved_rate")
    assert _pick(switches["by_switch"], *keys) == [("call", "chat", 1, 3600, 1.0)]

    repeats = _json(store, "repeats")
    # First-contact resolution: b's case of 2 cases; 3 contacts for 2 resolved cases; time to
    # resolution 0 (b) and 1h (a): median 30 min. Effort: a's case 2 contacts + 1 repeat +
    # 1 switch = 4, b's 1: mean 2.5.
    summary = {k: repeats[k] for k in ("contacts", "cases", "repeats", "first_contact_resolution")}
    assert summary == {"contacts": 3, "cases": 2, "repeats": 1, "first_contact_resolution": 0.5}
    assert repeats["contacts_per_resolution"] == 1.5
    assert repeats["median_seconds_to_resolution"] == 1800
    assert repeats["mean_effort"] == 2.5
    assert _pick(repeats["by_intent"], "intent", "cases", "mean_effort") == [
        ("delivery", 1, 4.0),
        ("billing", 1, 1.0),
    ]


def test_agents_show_resolution_repeats_and_handle_time(store: Path) -> None:
    # A1 took both calls, each the first contact of its case: b's settled it, a's did not and
    # was followed by a repeat; handle times 300 s and 100 s. B1 took the repeat, 60 s.
    result = _json(store, "agents")
    keys = ("contacts", "first_contacts", "first_contact_resolution", "repeat_rate")
    keys += ("median_handle_seconds", "mean_handle_seconds", "outcomes")
    a1 = (2, 2, 0.5, 0.5, 200, 200, {"resolved": 1, "unresolved": 1})
    b1 = (1, 0, None, 0.0, 60, 60, {"resolved": 1})
    assert {r["agent"]: tuple(r[k] for k in keys) for r in result["agents"]} == {"A1": a1, "B1": b1}
    assert {r["team"]: tuple(r[k] for k in keys) for r in result["teams"]} == {"T1": a1, "T2": b1}

    table = run("journeys", "agents", "--store", str(store), cwd=store.parent, columns=80)
    assert table.returncode == 0, table.stderr
    # The same figures for people: shares as percentages, 200 s as 3m 20s.
    assert re.search(r"\nA1\s+2\s+2\s+50\.0%\s+50\.0%\s+3m 20s\s+3m 20s\s", table.stdout)
    assert re.search(r"\nB1\s+1\s+0\s+–\s+0\.0%\s+1m\s+1m\s", table.stdout)


def test_touchpoints_compare_what_follows_each_with_everyone(store: Path) -> None:
    # The data ends at e's purchase (800.1h); with --churn-days 10, whoever has no event after
    # 560.1h churned: a and b (2 of 5). 4 of 5 customers buy.
    result = _json(store, "touchpoints", "--churn-days", "10")
    assert (result["customers"], result["conversion_rate"], result["churn_rate"]) == (5, 0.8, 0.4)
    by = {t["touchpoint"]: t for t in result["touchpoints"]}
    # Web views: a, b and c (6 events); a and b buy within 30 days of their first, c never;
    # a and b churned.
    web = by["web:Product Viewed"]
    assert (web["customers"], web["events"]) == (3, 6)
    assert web["conversion_after"] == pytest.approx(2 / 3, abs=1e-4)
    assert web["churn_after"] == pytest.approx(2 / 3, abs=1e-4)
    # Calls: a's and b's, each opening a case, b's settled at once; neither buys after.
    call = by["call:Call"]
    assert (call["customers"], call["cases_opened"], call["first_contact_resolution"]) == (
        2,
        2,
        0.5,
    )
    assert (call["conversion_after"], call["churn_after"]) == (0.0, 1.0)


def test_attribution_credits_every_model_and_splits_the_budget_given(store: Path) -> None:
    # Paths by channel (repeats of a channel count once; the purchase is a touch): converting
    # a: web app, b: web store, d: app, e: app; not converting: a: call chat, b: call, c: web.
    result = _json(store, "attribution", "--budget", "200")
    assert (result["conversions"], result["paths"]) == (4, 7)
    by = {r["touchpoint"]: r for r in result["by_touchpoint"]}
    models = ("first_touch", "last_touch", "linear", "shapley")
    # first: web (a, b), app (d, e); last: app (a, d, e), store (b); linear and Shapley (each
    # path's distinct touches share its conversion): web ½+½, app ½+1+1, store ½.
    assert {c: tuple(by[c][m] for m in models) for c in ("web", "app", "store")} == {
        "web": (2, 0, 1, 1),
        "app": (2, 3, 2.5, 2.5),
        "store": (0, 1, 0.5, 0.5),
    }
    assert by["call"]["linear"] == by["chat"]["linear"] == 0  # only on paths that did not convert
    # Markov: START → web 3/7, app 2/7, call 2/7; web → app, store, nothing 1/3 each; app and
    # store always convert. P(conversion) = 3/7·2/3 + 2/7 = 4/7. Without app: 3/7·1/3 = 1/7
    # (removal effect 1 - 1/4 = 0.75); without web: 2/7 (0.5); without store: 3/7 (0.25).
    assert result["conversion_probability"] == pytest.approx(4 / 7, abs=1e-6)
    effects = {c: by[c]["removal_effect"] for c in ("app", "web", "store")}
    assert effects == {"app": 0.75, "web": 0.5, "store": 0.25}
    # Markov credit: 4 conversions in proportion to the effects (0.75 : 0.5 : 0.25).
    assert by["app"]["markov"] == pytest.approx(2, abs=1e-6)
    assert by["web"]["markov"] == pytest.approx(4 / 3, abs=1e-6)
    # Time decay: b's web view came 190 h before its store purchase, weight 2^(-190/168)
    # against the purchase's 1 (half-life 7 days); store is on b's path only.
    assert by["store"]["time_decay"] == pytest.approx(1 / (1 + 2 ** (-190 / 168)), abs=1e-6)
    # The budget of 200, split by linear credit (2.5, 1, 0.5 of 4).
    assert [by[c]["linear_budget"] for c in ("app", "web", "store")] == [125, 50, 25]


def test_cohorts_follow_each_first_seen_month(store: Path) -> None:
    # January: a, b, c, of whom a and b buy; only c comes back in February. February: d and e,
    # both buyers; the data ends in February, so their month 1 is not shown.
    result = _json(store, "cohorts")
    keys = ("cohort", "month", "customers", "active", "buyers", "repeat_buyers")
    assert _pick(result["cohorts"], *keys) == [
        ("2026-01", 0, 3, 3, 2, 0),
        ("2026-01", 1, 3, 1, 2, 0),
        ("2026-02", 0, 2, 2, 2, 0),
    ]


def test_typical_and_its_members_are_the_python_apis(store: Path) -> None:
    """k-medoids on five customers is not counted by hand (tests/e2e/test_typical_journeys.py
    checks it against the planted journey types): this checks that the command asks for the
    analysis with its options and prints it whole, by agreement with the Python API."""
    printed = _json(store, "typical", "--clusters", "2", "--seed", "3")
    members = _json(store, "typical", "--clusters", "2", "--seed", "3", "--list", "2")
    with parcours.connect(store, read_only=True) as p:
        result = p.journeys.typical(clusters=2, seed=3)
    assert printed == json.loads(json.dumps(result.to_dict()))
    assert [m["customer_id"] for m in members] == result.customers_in(2)
    # What holds whatever the clustering: every customer has steps, each follows one.
    assert printed["customers"] == 5 == sum(t["customers"] for t in printed["typical"])


def test_report_says_what_the_hand_counts_say(store: Path) -> None:
    page = store.parent / "report.html"
    done = run("report", "--store", str(store), "-o", str(page), cwd=store.parent)
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    written = " ".join(page.read_text().split())
    for finding in (
        # 5 customers viewed a product, 1 (a) added one: 4 of 5 stop there.
        "The funnel leaks most between Product Viewed and Product Added: 80% stop there.",
        # Of a's two delivery contacts, the call was followed by a repeat.
        "50% of delivery contacts repeat within 7 days.",
        # Markov gives app 2 of 4 conversions (see the attribution test); last touch 3 of 4.
        "app earns 50% of conversions (Markov), against 75% by last touch.",
    ):
        assert finding in said
        assert finding in written
    assert f"Report written to {page}" in said
