"""Milestone status per customer on the demo world equals the world's recorded truth.

The generator plants the loyalty programme (src/parcours/demo/loyalty.py): members enrol in
the app (`Loyalty Enrolled`), and its truth (truth/milestones.csv) records, per member, the
seed's onboarding milestone — 3 `App Opened` and a purchase within 30 days — as achieved (and
when), missed or in progress at the world's end (2026-10-31 00:00 UTC). parcours computes it
from the store with the shipped template. The comparison is made on the customers identity
resolution got exactly right (tests/demo_world.py): a member whose app device was never tied to
their purchases has two half-customers, which no milestone could make whole.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

from demo_world import exactly_resolved, truth_rows

import parcours
from parcours.segments.milestone_definition import load_milestone

WORLD_END = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)
RUNNING = {"on_track", "at_risk"}
"""What parcours says of a member the truth has `in progress`."""


def test_milestone_status_per_customer_equals_the_demos_truth(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _ = demo
    truth = {r["customer_id"]: r for r in truth_rows(out, "milestones.csv")}
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        exact = exactly_resolved(p, out)
        result = p.scores.milestones(load_milestone("onboarding"), as_of=WORLD_END, write=False)
    ours = {exact[c["customer_id"]]: c for c in result.customers if c["customer_id"] in exact}
    members = {true for true in exact.values() if true in truth}
    assert set(ours) == members  # exactly the members started the clock
    assert len(members) >= 10, "too few exactly resolved members for a meaningful comparison"
    seen = Counter[str]()
    for customer in members:
        row, expected = ours[customer], truth[customer]
        at = dt.datetime.fromisoformat(expected["enrolled_at"].replace("Z", "+00:00"))
        assert row["started_at"] == at, customer
        counts = (row["counts"]["app_sessions"], row["counts"]["purchase"])
        assert counts == (int(expected["app_logins"]), int(expected["purchases"])), customer
        if expected["status"] == "in progress":
            assert row["status"] in RUNNING, customer
        else:
            assert row["status"] == expected["status"], customer
        achieved = expected["achieved_at"].replace("Z", "+00:00")
        assert row["achieved_at"] == (dt.datetime.fromisoformat(achieved) if achieved else None)
        seen[expected["status"]] += 1
    assert set(seen) == {"achieved", "missed", "in progress"}, seen
