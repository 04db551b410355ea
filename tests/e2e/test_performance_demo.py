"""Agents, touchpoints and cohorts on the demo store, against a plain pandas computation.

Each figure is recomputed here from the rows of `customer_events` with pandas, written
directly from the definitions in docs/journeys.md and the modules' docstrings (contacts grouped
into cases within 7 days; a case's last contact settles it unless its outcome says otherwise),
not from parcours's SQL nor its constants; the two must agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import parcours
from parcours.journeys.cohorts import cohorts
from parcours.journeys.performance import agents, touchpoints

UNSETTLED = {"unresolved", "abandoned", "transferred", "escalated", "pending"}
"""The outcomes after which a case's last contact does not settle it, as docs/journeys.md
states them ("Contacts, cases, repeats and effort"); restated here, not imported."""


@pytest.fixture(scope="module")
def store(demo: tuple[Path, dict[str, Any]]) -> Any:
    out, _ = demo
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        events = p.sql("SELECT * EXCLUDE (properties, text) FROM customer_events").to_pandas()
        yield p, events.sort_values(["customer_id", "occurred_at", "source", "event_id"])


def _contacts(events: pd.DataFrame) -> pd.DataFrame:
    c = events[events["intent"].notna()].copy()
    c = c.sort_values(["customer_id", "intent", "occurred_at", "source", "event_id"])
    gap = c.groupby(["customer_id", "intent"])["occurred_at"].diff()
    c["is_repeat"] = gap.notna() & (gap <= pd.Timedelta(days=7))
    c["case"] = (~c["is_repeat"]).cumsum()
    c["followed_by_repeat"] = c.groupby("case")["is_repeat"].shift(-1, fill_value=False)
    unsettled = c["outcome"].str.lower().isin(UNSETTLED)
    c["settles"] = ~c["followed_by_repeat"] & ~unsettled
    return c


def test_agent_and_team_figures_equal_pandas(store: Any) -> None:
    p, events = store
    contacts = _contacts(events)
    ours = agents(p.store)
    for by, rows in (("agent", ours.agents), ("team", ours.teams)):
        mine = {r[by]: r for r in rows}
        theirs = contacts[contacts[by].notna()].groupby(by)
        assert set(mine) == set(theirs.groups)
        for name, group in theirs:
            firsts = group[~group["is_repeat"]]
            row = mine[name]
            assert row["contacts"] == len(group), name
            assert row["first_contacts"] == len(firsts), name
            if len(firsts):
                assert row["first_contact_resolution"] == pytest.approx(
                    firsts["settles"].mean(), abs=1e-4
                )
            assert row["repeat_rate"] == pytest.approx(group["followed_by_repeat"].mean(), abs=1e-4)
            if group["duration_seconds"].notna().any():
                assert row["median_handle_seconds"] == pytest.approx(
                    group["duration_seconds"].median()
                )
            outcomes = group["outcome"].str.lower().fillna("unknown").value_counts().to_dict()
            assert row["outcomes"] == outcomes, name


def test_touchpoint_reach_and_lifts_equal_pandas(store: Any) -> None:
    p, events = store
    ours = touchpoints(p.store, touchpoint="channel")
    ended = events["occurred_at"].max()
    last_seen = events.groupby("customer_id")["occurred_at"].max()
    churned = last_seen < ended - pd.Timedelta(days=90)
    buys = events[events["name"] == "Order Completed"]
    assert ours.customers == events["customer_id"].nunique()
    assert ours.churn_rate == pytest.approx(churned.mean(), abs=1e-4)
    for row in ours.touchpoints:
        at = events[events["channel"] == row["touchpoint"]]
        first = at.groupby("customer_id")["occurred_at"].min()
        assert row["customers"] == len(first)
        after = buys.merge(first.rename("first_at"), left_on="customer_id", right_index=True)
        within = after[
            (after["occurred_at"] > after["first_at"])
            & (after["occurred_at"] <= after["first_at"] + pd.Timedelta(days=30))
        ]
        assert row["conversion_after"] == pytest.approx(
            within["customer_id"].nunique() / len(first), abs=1e-4
        ), row["touchpoint"]
        assert row["churn_after"] == pytest.approx(churned[first.index].mean(), abs=1e-4)


def test_monthly_cohort_retention_equals_pandas(store: Any) -> None:
    p, events = store
    ours = {(r["cohort"], r["month"]): r for r in cohorts(p.store, months=6).cohorts}
    month = events["occurred_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M")
    events = events.assign(month=month)
    first = events.groupby("customer_id")["month"].min().rename("cohort_month")
    events = events.join(first, on="customer_id")
    events["since"] = (events["month"] - events["cohort_month"]).apply(lambda d: d.n)
    end = events["month"].max()
    for (cohort, since), row in ours.items():
        members = first[first.astype(str) == cohort]
        observable = members[(end - members).apply(lambda d: d.n) >= since]
        active = events[events["customer_id"].isin(observable.index) & (events["since"] == since)][
            "customer_id"
        ].nunique()
        assert row["observed"] == len(observable), (cohort, since)
        assert row["active"] == active, (cohort, since)
