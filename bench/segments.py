"""Segments on a demo store: 20 segments of every kind of condition, a full recompute, and an
incremental refresh for 1,000 customers (the issue's goals: the full recompute within a 30 s
budget shared with tiers, RFM and health on 262k customers; 1,000 customers under 1 s).

    python bench/segments.py STORE [--copy]    # --copy: work on a copy (the store is kept)

Windows are counted back from now, and a demo's events end before now: each window is widened
by the time since the store's last event, so that "30 days" reads the data's last 30 days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import parcours


def segments(p: parcours.Parcours) -> list[dict[str, Any]]:
    last = p.sql("SELECT max(occurred_at) FROM customer_events").column(0)[0].as_py()
    lag = max(0, (dt.datetime.now(dt.UTC) - last).days)

    def days(n: int) -> str:
        return f"{n + lag}d"

    traits = (
        p.sql(
            "SELECT k, count(*) AS n FROM (SELECT unnest(json_keys(properties)) AS k "
            "FROM customer_events WHERE type = 'identify' AND properties IS NOT NULL) "
            "GROUP BY k ORDER BY n DESC LIMIT 2"
        )
        .column(0)
        .to_pylist()
    )
    common = [
        p.sql(
            f"SELECT json_extract_string(properties, '$.{t}') AS v, count(*) AS n "
            "FROM customer_events WHERE type = 'identify' AND v IS NOT NULL "
            "GROUP BY v ORDER BY n DESC LIMIT 2"
        )
        .column(0)
        .to_pylist()
        for t in traits
    ]
    order = "Order Completed"
    found: list[dict[str, Any]] = [
        {"name": "buyers-30", "where": {"events": {"name": order, "within": days(30)}}},
        {
            "name": "repeat-buyers-90",
            "where": {"events": {"name": order, "within": days(90), "count": {"at_least": 2}}},
        },
        {
            "name": "big-spenders",
            "where": {
                "events": {"name": order, "within": days(365), "sum": "amount", "at_least": 500}
            },
        },
        {"name": "lapsed", "where": {"events": {"name": order, "last": {"at_least": days(60)}}}},
        {
            "name": "no-web-90",
            "where": {"events": {"channel": "web", "within": days(90), "count": {"equals": 0}}},
        },
        {
            "name": "app-users",
            "where": {"events": {"channel": "app", "within": days(30), "count": {"at_least": 3}}},
        },
        {"name": "callers", "where": {"events": {"channel": "call", "within": days(90)}}},
        {"name": "has-email", "where": {"has": {"identifier": "email"}}},
        {"name": "has-phone", "where": {"has": {"identifier": "phone"}}},
        {
            "name": "email-consent",
            "where": {"consent": {"channel": "email", "purpose": "marketing"}},
        },
        {"name": "trait-a", "where": {"trait": {"name": traits[0], "equals": common[0][0]}}},
        {"name": "trait-b", "where": {"trait": {"name": traits[-1], "in": common[-1]}}},
        {"name": "visitors", "where": {"journey": {"visits": {"at_least": 3}, "within": days(30)}}},
        {
            "name": "repeaters",
            "where": {"journey": {"repeated_contacts": {"at_least": 1}, "within": days(90)}},
        },
        {"name": "open-cases", "where": {"journey": {"open_cases": {"at_least": 1}}}},
        {"name": "unhealthy", "where": {"score": {"name": "health", "below": 40}}},
        {"name": "vip", "where": {"all": [{"segment": "big-spenders"}, {"segment": "has-email"}]}},
        {
            "name": "at-risk",
            "where": {"all": [{"segment": "repeat-buyers-90"}, {"not": {"segment": "buyers-30"}}]},
        },
        {
            "name": "churn-signals",
            "where": {"any": [{"segment": "repeaters"}, {"segment": "lapsed"}]},
        },
        {
            "name": "web-buyers",
            "where": {"events": {"name": order, "channel": "web", "within": days(365)}},
        },
    ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", type=Path)
    parser.add_argument("--copy", action="store_true")
    args = parser.parse_args()
    store = args.store
    if args.copy:
        folder = Path(tempfile.mkdtemp(prefix="segbench-"))
        shutil.copy(store, folder / "store.duckdb")
        store = folder / "store.duckdb"
    figures: dict[str, Any] = {"store": str(args.store)}
    with parcours.connect(store) as p:
        figures["customers"] = (
            p.sql("SELECT count(DISTINCT customer_id) FROM identity_map").column(0)[0].as_py()
        )
        figures["events"] = p.sql("SELECT count(*) FROM customer_events").column(0)[0].as_py()
        defined = segments(p)
        started = time.perf_counter()
        for definition in defined:
            p.segments.create(definition)
        figures["save_20_seconds"] = round(time.perf_counter() - started, 2)
        for run in ("full_recompute", "full_recompute_again"):
            started = time.perf_counter()
            done = p.segments.recompute()
            figures[f"{run}_seconds"] = round(time.perf_counter() - started, 2)
            figures[f"{run}_changes"] = sum(done.entered.values()) + sum(done.left.values())
        # The worst case: every member enters at once (a change and an event each).
        p.store.engine.execute("DELETE FROM segment_members")
        started = time.perf_counter()
        done = p.segments.recompute()
        figures["full_recompute_all_entering_seconds"] = round(time.perf_counter() - started, 2)
        figures["full_recompute_all_entering_changes"] = sum(done.entered.values())
        figures["members"] = {
            r["segment"]: r["n"]
            for r in p.sql(
                "SELECT segment, count(*) AS n FROM segment_members GROUP BY 1 ORDER BY 1"
            ).to_pylist()
        }
        sample = (
            "SELECT customer_id FROM (SELECT DISTINCT customer_id FROM identity_map) "
            "USING SAMPLE 1000 ROWS (reservoir, 42)"
        )
        for run in ("refresh_1000", "refresh_1000_again"):
            started = time.perf_counter()
            done = p.segments.refresh(sample)
            figures[f"{run}_seconds"] = round(time.perf_counter() - started, 3)
            figures[f"{run}_customers"] = done.customers
        # What the live loader does after a load: find the customers of the new events
        # (through their identifiers) and refresh them.
        from parcours.segments.membership import touched_customers

        # The live loader selects what it stored by received_at (events are appended in that
        # order, so the zone maps skip the rest): here the latest 1,000 or so.
        since = (
            p.sql(
                "SELECT received_at FROM events WHERE source <> 'parcours' "
                "ORDER BY received_at DESC LIMIT 1 OFFSET 999"
            )
            .column(0)[0]
            .as_py()
        )
        new = f"received_at >= '{since.isoformat()}'::TIMESTAMPTZ"
        figures["refresh_after_events"] = (
            p.sql(f"SELECT count(*) FROM events WHERE {new} AND source <> 'parcours'")
            .column(0)[0]
            .as_py()
        )
        touched = touched_customers(p.store, new)
        started = time.perf_counter()
        done = p.segments.refresh(touched)
        figures["refresh_after_events_seconds"] = round(time.perf_counter() - started, 3)
        figures["refresh_after_events_customers"] = done.customers
    figures["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    if args.copy:
        shutil.rmtree(store.parent)
    json.dump(figures, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
