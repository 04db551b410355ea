"""Milestone statuses on a hand-made event log, worked out by hand from the rule in
src/parcours/segments/milestones.py (and docs/segments.md, "Milestones").

The milestone is the shipped onboarding template's: from the first `Loyalty Enrolled`, at least
3 `App Opened` on the app and 1 `Order Completed` within 30 days; counted as of day 32 (days
from 2026-01-01 00:00 UTC). Projection: an unmet objective with n of N events after e days
takes e × N / n days from the start; the milestone is projected at its latest objective; on
track if that is before the deadline, at risk if after or never.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cli_process import run
from event_log import Event, import_log
from servers import ADMIN, add_source, start_server

import parcours
from parcours.segments.milestone_definition import (
    MilestoneDefinitionError,
    load_milestone,
    milestone_from_dict,
)

DEFINITION = {
    "name": "trial",
    "start": {"event": "Loyalty Enrolled"},
    "deadline_days": 30,
    "objectives": [
        {"name": "app_sessions", "event": "App Opened", "channel": "app", "at_least": 3},
        {"name": "purchase", "event": "Order Completed", "at_least": 1},
    ],
}
"""The shipped onboarding template's objective, under another name."""
DAY0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _day(n: float) -> dt.datetime:
    return DAY0 + dt.timedelta(days=n)


AS_OF = _day(32)
JOIN, OPEN, ORDER = "Loyalty Enrolled", "App Opened", "Order Completed"


def _at(user: str, day: float, channel: str, name: str) -> Event:
    """An event `day` days after 2026-01-01 00:00 UTC."""
    return Event(user, _day(day), channel, name)


EVENTS = [
    # ach joins on day 0, opens the app on days 1, 2 and 4 (met on day 4) and orders on day 3:
    # achieved on day 4, the later of the two.
    _at("ach", 0, "app", JOIN),
    _at("ach", 1, "app", OPEN),
    _at("ach", 2, "app", OPEN),
    _at("ach", 3, "web", ORDER),
    _at("ach", 4, "app", OPEN),
    # mis joins on day 0 (deadline day 30): one session (day 3), an order on day 31 — after the
    # deadline, so it does not count: missed.
    _at("mis", 0, "app", JOIN),
    _at("mis", 3, "app", OPEN),
    _at("mis", 31, "web", ORDER),
    # ont joins on day 20 (deadline day 50); by day 32 (12 days elapsed): two sessions on the
    # app (days 22, 25; the one on the web, day 26, is not on the app) and an order (day 28).
    # Sessions project at 12 × 3 / 2 = 18 days after the start, day 38 < 50: on track.
    _at("ont", 20, "app", JOIN),
    _at("ont", 22, "app", OPEN),
    _at("ont", 25, "app", OPEN),
    _at("ont", 26, "web", OPEN),
    _at("ont", 28, "store", ORDER),
    # rsk joins on day 24 (deadline day 54): one session (day 25), no order. No order yet has no
    # rate: at risk, no projected date. Progress (1/3 + 0) / 2.
    _at("rsk", 24, "app", JOIN),
    _at("rsk", 25, "app", OPEN),
    # slo joins on day 10 (deadline day 40) and again on day 15 (the first starts the clock);
    # by day 32 (22 days): an order (day 11) and one session (day 30). Sessions project at
    # 22 × 3 / 1 = 66 days after the start, day 76 > 40: at risk. Progress (1/3 + 1) / 2.
    _at("slo", 10, "app", JOIN),
    _at("slo", 11, "web", ORDER),
    _at("slo", 15, "app", JOIN),
    _at("slo", 30, "app", OPEN),
    # out never joins: its sessions and orders count for nothing.
    _at("out", 1, "app", OPEN),
    _at("out", 2, "web", ORDER),
]

EXPECTED = {
    # user: (status, achieved_at, projected_at, progress, counts)
    "ach": ("achieved", _day(4), None, 1.0, {"app_sessions": 3, "purchase": 1}),
    "mis": ("missed", None, None, 1 / 6, {"app_sessions": 1, "purchase": 0}),
    "ont": ("on_track", None, _day(38), (2 / 3 + 1) / 2, {"app_sessions": 2, "purchase": 1}),
    "rsk": ("at_risk", None, None, 1 / 6, {"app_sessions": 1, "purchase": 0}),
    "slo": ("at_risk", None, _day(76), 2 / 3, {"app_sessions": 1, "purchase": 1}),
}


@pytest.fixture
def store(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    import_log(p, tmp_path, EVENTS)
    return p


def _customers(p: parcours.Parcours) -> dict[str, str]:
    rows = p.sql("SELECT value, customer_id FROM identity_map WHERE type = 'user_id'")
    return {r["value"]: r["customer_id"] for r in rows.to_pylist()}


def test_each_customer_gets_the_hand_computed_status(store: parcours.Parcours) -> None:
    result = store.scores.milestones(milestone_from_dict(DEFINITION), as_of=AS_OF)
    ids = _customers(store)
    got = {c["customer_id"]: c for c in result.customers}
    assert set(got) == {ids[u] for u in EXPECTED}  # "out" never started
    for user, (status, achieved, projected, progress, counts) in EXPECTED.items():
        row = got[ids[user]]
        assert row["status"] == status, user
        assert row["achieved_at"] == achieved, user
        assert row["projected_at"] == projected, user
        assert row["progress"] == pytest.approx(progress, abs=1e-4), user  # 4 decimals
        assert row["counts"] == counts, user
    assert got[ids["slo"]]["started_at"] == _day(10)  # the first enrolment starts the clock
    assert got[ids["ont"]]["deadline"] == _day(50)


def test_the_scores_and_the_cohort_funnel_hold_the_same_statuses(
    store: parcours.Parcours,
) -> None:
    result = store.scores.milestones(milestone_from_dict(DEFINITION), as_of=AS_OF)
    assert result.written == 5
    ids = {v: k for k, v in _customers(store).items()}
    rows = store.sql(
        "SELECT customer_id, label, value, details FROM customer_scores "
        "WHERE score = 'milestone:trial'"
    ).to_pylist()
    for row in rows:
        status, _, _, progress, counts = EXPECTED[ids[row["customer_id"]]]
        assert (row["label"], row["value"]) == (status, pytest.approx(progress))
        assert orjson.loads(row["details"])["objectives"] == counts
    # By start month: January (ach, mis, slo: started on days 0, 0, 10) — sessions met by
    # ach, the purchase by ach and slo (mis's came late); January 21 is day 20, so ont and rsk
    # started in January too. All five: sessions met by ach only; the purchase by ach, slo, ont.
    assert result.cohorts == [
        {
            "cohort": "2026-01",
            "started": 5,
            "met": {"app_sessions": 1, "purchase": 3},
            "achieved": 1,
            "on_track": 1,
            "at_risk": 2,
            "missed": 1,
        }
    ]


def test_as_of_an_earlier_day_the_statuses_are_those_of_that_day(
    store: parcours.Parcours,
) -> None:
    """As of day 5: ach has achieved (day 4); mis, 5 days in, has one session and no order: at
    risk; the others have not joined yet. Computed without keeping the scores."""
    result = store.scores.milestones(milestone_from_dict(DEFINITION), as_of=_day(5), write=False)
    ids = {v: k for k, v in _customers(store).items()}
    assert {ids[c["customer_id"]]: c["status"] for c in result.customers} == {
        "ach": "achieved",
        "mis": "at_risk",
    }
    assert result.written is None
    assert not store.sql("SELECT * FROM customer_scores").to_pylist()


def test_recomputing_some_customers_leaves_the_others_scores(store: parcours.Parcours) -> None:
    definition = milestone_from_dict(DEFINITION)
    store.scores.milestones(definition, as_of=AS_OF)
    ids = _customers(store)
    only = f"SELECT '{ids['mis']}' AS customer_id"
    result = store.scores.milestones(definition, as_of=_day(5), customers=only)
    assert [c["customer_id"] for c in result.customers] == [ids["mis"]]
    rows = store.sql("SELECT customer_id, label FROM customer_scores").to_pylist()
    labels = {r["customer_id"]: r["label"] for r in rows}
    assert labels[ids["mis"]] == "at_risk" and labels[ids["ont"]] == "on_track"
    assert len(labels) == 5


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"deadline_days": "30d"}, "deadline_days: '30d' is not a whole number of days"),
        ({"objectives": [{"name": "x", "event": OPEN, "chanel": "app"}]}, "'channel'"),
        ({"start": {"event": JOIN, "channel": "ap"}}, "did you mean 'app'"),
        ({"name": "Trial Run"}, "not a lower-case word"),
        ({"objectives": []}, "objectives"),
    ],
)
def test_a_bad_definition_is_refused_with_where_and_how_to_fix(
    change: dict[str, Any], says: str
) -> None:
    with pytest.raises(MilestoneDefinitionError) as caught:
        milestone_from_dict({**DEFINITION, **change}, "trial.yaml")
    assert says in caught.value.message and "trial.yaml" in caught.value.message
    assert "Fix:" in caught.value.message


def test_the_shipped_onboarding_template_is_the_seeds_objective() -> None:
    onboarding = load_milestone("onboarding")
    assert onboarding.model_dump(exclude={"name", "description"}) == {
        k: v
        for k, v in milestone_from_dict(DEFINITION).model_dump().items()
        if k not in ("name", "description")
    }


def test_the_command_and_the_route_answer_the_hand_computed_statuses(tmp_path: Path) -> None:
    """`parcours scores milestones` as a process (the shipped template by default, and a file),
    then `GET /v1/scores/milestones` on a real server over the same store."""
    with parcours.connect(tmp_path / "s.duckdb") as p:
        import_log(p, tmp_path, EVENTS)
        ids = {v: k for k, v in _customers(p).items()}
    expected = {user: e[0] for user, e in EXPECTED.items()}
    as_of = ["--as-of", "2026-02-02T00:00:00"]  # day 32
    done = run("scores", "milestones", *as_of, "--store", "s.duckdb", "-f", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    answer = orjson.loads(done.stdout)
    assert answer["milestone"] == "onboarding"
    assert {ids[c["customer_id"]]: c["status"] for c in answer["customers"]} == expected
    (tmp_path / "trial.yaml").write_text(orjson.dumps(DEFINITION).decode())
    table = run("scores", "milestones", "trial.yaml", *as_of, "--store", "s.duckdb", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "trial" in table.stdout and "2026-01" in table.stdout
    listed = run(
        "scores",
        "milestones",
        "trial.yaml",
        *as_of,
        "--customers",
        "--store",
        "s.duckdb",
        "-f",
        "csv",
        cwd=tmp_path,
    )
    assert sorted(line.split(",")[2] for line in listed.stdout.splitlines()[1:]) == sorted(
        expected.values()
    )
    bad = run("scores", "milestones", "nope.yaml", "--store", "s.duckdb", cwd=tmp_path)
    assert bad.returncode != 0 and "onboarding" in bad.stderr + bad.stdout
    server = start_server(tmp_path / "s.duckdb", add_source(tmp_path / "s.duckdb"))
    try:
        got = httpx.get(
            f"{server.url}/v1/scores/milestones",
            params={"as_of": "2026-02-02T00:00:00Z"},
            headers=ADMIN,
            timeout=60,
        )
        assert got.status_code == 200, got.text
        assert {ids[c["customer_id"]]: c["status"] for c in got.json()["customers"]} == expected
        unknown = httpx.get(
            f"{server.url}/v1/scores/milestones",
            params={"definition": "../../etc/passwd"},
            headers=ADMIN,
            timeout=60,
        )
        assert unknown.status_code == 400 and "onboarding" in unknown.text
    finally:
        server.stop()
