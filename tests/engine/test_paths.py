"""The journey map, variants and paths by customer (walked in numpy) against the SQL builders.

The SQL queries in `journeys/paths.py` are the portable reference (and what `case="visit"`
runs); the numpy walk must give the same answer on the same events. The events are a random
log imported through the real path in two files, customers resolved on arrival — so the second
import appends to `customer_events` out of journey order, and the walk must sort what it reads —
with many events at the same instant (ties in the fixed event order), a touchpoint named like
the "other" bucket, and journeys of one event.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from event_log import START, import_events

import parcours
from parcours.errors import StoreError
from parcours.journeys import paths
from parcours.journeys.paths import (
    END,
    OTHER,
    dfg_query,
    ends_query,
    journey_map,
    journeys_query,
    paths_query,
    variants,
    variants_query,
)
from parcours.journeys.scope import Scope

NAMES = ["Viewed", "Added", "Bought", "Call", "Chat", OTHER, "Zoé", "Émail"]
CHANNELS = ["web", "app", "call", "store"]


@pytest.fixture
def log(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    rng = random.Random(5)
    weights = [8, 4, 2, 2, 1, 1, 1, 1]

    def events(customers: range, most: int) -> list[tuple[Any, ...]]:
        return [
            (
                f"u{c}",
                rng.randint(0, 40),
                rng.choice(CHANNELS),
                rng.choices(NAMES, weights)[0],
            )
            for c in customers
            for _ in range(rng.randint(1, most))
        ]

    import_events(p, tmp_path, events(range(400), 6), "first")
    import_events(p, tmp_path, events(range(200, 600), 4), "second")  # half of them come back
    return p


def _sql_rows(p: parcours.Parcours, query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = p.store.engine.query(query).to_pylist()
    return rows


def _approx_medians(edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The SQL subtracts epoch seconds as doubles; the walk divides whole microseconds.
    return [{**e, "median_seconds": pytest.approx(e["median_seconds"], abs=1e-6)} for e in edges]


@pytest.mark.parametrize("touchpoint", ["name", "channel", "channel:name"])
def test_journey_map_equals_the_sql_dfg(log: parcours.Parcours, touchpoint: str) -> None:
    journeys = journeys_query(Scope(), touchpoint)
    result = journey_map(log.store, touchpoint=touchpoint)
    assert result.ends == _sql_rows(log, ends_query(journeys))
    assert result.edges == _approx_medians(_sql_rows(log, dfg_query(journeys)))
    assert result.journeys == 600
    assert any(e["source"] == e["target"] for e in result.edges)


def test_journey_map_of_a_scope_equals_the_sql_dfg(log: parcours.Parcours) -> None:
    scope = Scope(channels=("web", "app"), until=START + dt.timedelta(hours=30))
    journeys = journeys_query(scope)
    result = journey_map(log.store, scope)
    assert result.ends == _sql_rows(log, ends_query(journeys))
    assert result.edges == _approx_medians(_sql_rows(log, dfg_query(journeys)))


@pytest.mark.parametrize("top", [0, 3, 40, 1_000_000])
def test_variants_equal_the_sql_ranking(log: parcours.Parcours, top: int) -> None:
    """Most journeys are unique, so the ranking leans on its ties: same count and length,
    then the touchpoints' names one by one (accented ones sort after "Z", as bytes)."""
    expected = _sql_rows(log, variants_query(journeys_query(Scope()), top))
    assert variants(log.store, top=top) == expected
    assert sum(v["journeys"] for v in expected) == 600


def test_variants_by_channel_equal_the_sql_ranking(log: parcours.Parcours) -> None:
    expected = _sql_rows(log, variants_query(journeys_query(Scope(), "channel"), 25))
    assert variants(log.store, touchpoint="channel", top=25) == expected
    assert expected[-1]["rank"] is None


def test_more_than_256_touchpoints_equal_the_sql(p: parcours.Parcours, tmp_path: Path) -> None:
    """Past 256 touchpoints each step of a journey takes two bytes, big-endian so that bytes
    still compare as names do: "Page 256" (0x0100) after "Page 001" (0x0001). Every variant
    is ranked here, most of them tied on count and length; the pairs of the DFG no longer fit
    in 16 bits either."""
    rng = random.Random(8)
    pages = [f"Page {i:03d}" for i in range(400)]
    rows = [
        (f"u{c}", hour, "web", rng.choice(pages[:3] if c % 3 == 0 else pages))
        for c in range(1200)
        for hour in range(rng.randint(1, 2))
    ]
    import_events(p, tmp_path, rows, "pages")
    expected = _sql_rows(p, variants_query(journeys_query(Scope()), 10_000))
    assert len({step for row in expected if row["variant"] for step in row["variant"]}) > 256
    assert variants(p.store, top=10_000) == expected
    dfg = _sql_rows(p, dfg_query(journeys_query(Scope())))
    assert journey_map(p.store).edges == _approx_medians(dfg)


def _sql_paths(
    p: parcours.Parcours,
    anchor: str,
    depth: int,
    top: int,
    direction: str,
    journeys: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    journeys = journeys or journeys_query(Scope())
    rows = _sql_rows(p, paths_query(journeys, anchor, depth, top, direction))
    nodes = [
        {"depth": r["depth"], "activity": r["source"], "customers": r["customers"]}
        for r in rows
        if r["kind"] == "node"
    ]
    links = [{k: r[k] for k in ("depth", "source", "target", "customers")} for r in rows]
    return nodes, [link for link, r in zip(links, rows, strict=True) if r["kind"] == "link"]


@pytest.mark.parametrize("direction", ["from", "to"])
@pytest.mark.parametrize(("anchor", "depth", "top"), [("Added", 4, 2), ("Call", 50, 3)])
def test_paths_equal_the_sql_paths(
    log: parcours.Parcours, direction: str, anchor: str, depth: int, top: int
) -> None:
    result = paths.paths(log.store, anchor, direction=direction, depth=depth, top=top)
    nodes, links = _sql_paths(log, anchor, depth, top, direction)
    assert (result.nodes, result.links) == (nodes, links)
    assert any(n["activity"] == OTHER for n in nodes)
    assert any(n["activity"] == END for n in nodes) == (direction == "from")
    # A journey that stops is counted at the depth of its "(end)" ("(start)"), then no more.
    reaching = [sum(n["customers"] for n in nodes if n["depth"] == d) for d in range(depth + 1)]
    assert reaching[:2] == [result.customers] * 2
    assert reaching == sorted(reaching, reverse=True)


def test_paths_from_an_anchor_nobody_did_are_empty(log: parcours.Parcours) -> None:
    result = paths.paths(log.store, "Never")
    assert (result.customers, result.nodes, result.links) == (0, [], [])
    assert _sql_paths(log, "Never", 5, 8, "from") == ([], [])


def test_an_empty_scope_gives_empty_answers(log: parcours.Parcours) -> None:
    nobody = Scope(customers=Scope.of_customers([]))
    assert journey_map(log.store, nobody).edges == []
    assert journey_map(log.store, nobody).journeys == 0
    assert variants(log.store, nobody) == []
    assert paths.paths(log.store, "Added", nobody).customers == 0


@pytest.mark.parametrize("gap", ["30m", "3h"])
def test_journeys_by_visit_equal_the_sql_over_visits(log: parcours.Parcours, gap: str) -> None:
    """By visit (`case="visit"`), the walk cuts the journeys as `visits_query` does (a call or
    a store trip a visit of its own, web and app runs split by the gap); the map, the variants
    and the paths then equal the SQL over those visits."""
    journeys = journeys_query(Scope(), "name", "visit", gap)
    result = journey_map(log.store, case="visit", gap=gap)
    assert result.ends == _sql_rows(log, ends_query(journeys))
    assert result.edges == _approx_medians(_sql_rows(log, dfg_query(journeys)))
    assert result.journeys > 600  # more visits than customers
    found = variants(log.store, case="visit", gap=gap, top=50)
    assert found == _sql_rows(log, variants_query(journeys, 50))
    for direction in ("from", "to"):
        walked = paths.paths(
            log.store, "Added", direction=direction, depth=4, top=2, case="visit", gap=gap
        )
        assert (walked.nodes, walked.links) == _sql_paths(log, "Added", 4, 2, direction, journeys)


def test_events_without_a_name_number_get_a_clear_error(log: parcours.Parcours) -> None:
    """A store whose customer_events lost a name's number (never written so by a resolve)
    says how to mend it rather than miscounting."""
    log.store.engine.execute("UPDATE customer_events SET name_code = NULL")
    with pytest.raises(StoreError, match="identity resolve"):
        journey_map(log.store)
