"""Scores and segments: the station's speed and memory, in one run.

Parts, one function each:

1. **Lifetime value against `lifetimes`** (`cdnow_master`, `demo_purchases`). BG/NBD and
   Gamma-Gamma fitted by parcours (`segments/clv.py`) and by `lifetimes`' `BetaGeoFitter` and
   `GammaGammaFitter` on the same summary (parcours's), and the summary made both ways:
   parcours's engine-side SQL (`purchase_summary`, same-day purchases merged) against
   `lifetimes`' `summary_data_from_transaction_data` on the same purchases read from the store
   (merged by day as the paper does, daily periods). On
   * CDNOW's whole master log (`lifetimes`' CDNOW_master.txt: 69,659 purchases of 23,570
     customers, 1997-01-01 to 1998-06-30), imported raw through parcours's import
     (tests/cdnow.py, tests/cdnow_master.yaml) into a temporary store, in weeks to 1998-06-30;
   * the demo store's `Order Completed` events, in days, to the store's last day.
   Checked: the same summary, the same parameters (relative difference printed), and
   `lifetimes`' parameters scored by parcours's log-likelihood too: where the data cannot tell
   how drop-out varies across customers (the demo's purchases), the maximum lies on a ridge
   towards infinite a and b, where both sides agree on r, α, the mean drop-out a / (a + b) and
   the likelihood but stop at different a and b; `lifetimes` may also fail to converge.
   Timings: the best of `--repeat` runs, in this process.
   **Goal** (issue 13): no slower than `lifetimes`, same parameters.
2. **The station's full recompute** (`station_recompute`), on a COPY of the demo store (the
   store given is only read): the 20 segments of `segment_definitions` saved (every kind of
   condition: events by name, channel, count, sum and recency, identifiers, consent, traits,
   journeys, a score, segments of segments), then `p.scores.recompute()` in a fresh process
   (its peak RSS its own, as bench/import.py measures): tiers (orders ladder), RFM, lifetime value,
   health (rules and the learned model, refitted), personas, the onboarding milestone, each
   customer's typical journey, then every segment. Seconds per step, each step's peak
   resident memory (VmHWM, reset between steps through /proc/self/clear_refs: Linux), CPU
   seconds per step (every thread: on a shared machine the steadier figure); closing the
   store (its checkpoint to disk) apart.
   **Goal** (issue 13, on the journeys bench's 10M-event demo, 262k customers): segments,
   tiers, RFM and health under 30 s and 4 GB on 2 cores; that subtotal and its peak are
   printed, and the other steps (personas, lifetime value, milestones, typical journeys) apart.
3. **The incremental refresh** (`station_refresh`): 1,000 customers drawn by a seeded hash
   (the draw, into a table of the copy, timed apart) rescored with the kept models and their
   segments brought up to date, `p.scores.refresh(customers_sql)`, in a fresh process; the
   scorers' modules are loaded before the clock starts (a server or a loader has them loaded),
   and that load is printed apart; then 1,000 others (the next seed) in the same process, as
   a long-running loader would. **Goal**: under 1 s.

Windows in the segments count back from now, and a demo's events end before now: each window
is widened by the days since the store's last event, so that "30 days" reads the data's last
30 days. Timings are never asserted; the machine may be shared: the load average is printed
before and after each part.

    python bench/scores.py                                  # CDNOW master only
    python bench/scores.py --store bench/out/journeys/10M/store.duckdb
    python bench/scores.py --events 10000000      # the same: journeys' kept 10M-event demo
    python bench/scores.py --store STORE --parts station refresh --repeat 1
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from measure import Runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import parcours
from parcours.segments.clv import BetaGeo, GammaGamma
from parcours.segments.purchases import Unit, purchase_summary

DAYS = {"days": 1, "weeks": 7}
GOAL_SECONDS, GOAL_GB, GOAL_REFRESH_SECONDS = 30.0, 4.0, 1.0
GOAL_STEPS = ("segments", "tiers", "rfm", "health")
"""The steps the full recompute's goal names; the others are printed apart."""
TOUCHED, SEED = 1_000, 42
PARTS = ("clv", "station", "refresh")


def best(repeat: int, work: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """`work()`'s answer and the timing figures of its best run."""
    runs = Runs()
    answer = None
    for _ in range(repeat):
        with runs.run():
            answer = work()
    return answer, runs.figures()


def compare_fits(
    p: parcours.Parcours, end: dt.date, unit: Unit, repeat: int, label: str
) -> dict[str, Any]:
    """Summary and fits, parcours against lifetimes, on one store's purchases up to `end`."""
    import lifetimes
    import pandas as pd

    summary, ours_summary = best(
        repeat, lambda: purchase_summary(p.store, calibration_end=end, unit=unit)
    )
    purchases = p.store.engine.query(
        "SELECT customer_id, CAST(occurred_at AS DATE) AS day, "
        "CAST(amount AS DOUBLE) AS amount FROM customer_events "
        f"WHERE name = 'Order Completed' AND CAST(occurred_at AS DATE) <= DATE '{end}'"
    ).to_pandas()

    def their_summary() -> Any:
        by_day = purchases.groupby(["customer_id", "day"], as_index=False)["amount"].sum()
        by_day["day"] = pd.to_datetime(by_day["day"])
        found = lifetimes.utils.summary_data_from_transaction_data(
            by_day,
            "customer_id",
            "day",
            monetary_value_col="amount",
            observation_period_end=pd.Timestamp(end),
            freq="D",
        )
        found[["recency", "T"]] /= DAYS[unit]
        return found

    theirs_table, their_summary_time = best(repeat, their_summary)
    x, t_x, age, money = (
        summary.column(c).to_numpy().astype(np.float64)
        for c in ("frequency", "recency", "T", "monetary")
    )
    same_summary = _same_summary(summary, theirs_table)

    ours_bg, ours_bg_time = best(repeat, lambda: BetaGeo().fit(x, t_x, age))
    ours_gg, ours_gg_time = best(repeat, lambda: GammaGamma().fit(x, money))
    theirs_bg, theirs_bg_time = best(
        repeat, lambda: _or_failure(lambda: lifetimes.BetaGeoFitter().fit(x, t_x, age))
    )
    repeat_buyers = (x > 0) & (money > 0)
    theirs_gg, theirs_gg_time = best(
        repeat,
        lambda: _or_failure(
            lambda: lifetimes.GammaGammaFitter().fit(x[repeat_buyers], money[repeat_buyers])
        ),
    )
    return {
        "data": label,
        "customers": summary.num_rows,
        "repeat_buyers": int(repeat_buyers.sum()),
        "unit": unit,
        "summary": {
            "parcours": ours_summary,
            "lifetimes": their_summary_time,
            "same": same_summary,
        },
        "bg_nbd": _side_by_side(
            ours_bg,
            ours_bg_time,
            theirs_bg,
            theirs_bg_time,
            lambda m: m.log_likelihood(x, t_x, age),
        ),
        "gamma_gamma": _side_by_side(
            ours_gg, ours_gg_time, theirs_gg, theirs_gg_time, lambda m: m.log_likelihood(x, money)
        ),
    }


def _or_failure(fit: Callable[[], Any]) -> Any:
    """lifetimes' fit, or what stopped it (it prints scipy's whole answer when it fails, and
    warns of overflows on the way: both kept off the report)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit()
    except Exception as error:  # lifetimes' ConvergenceError, mostly
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"


def _same_summary(ours: pa.Table, theirs: Any) -> bool:
    mine = ours.to_pandas().set_index("customer_id").sort_index()
    theirs = theirs.sort_index()
    return bool(
        len(mine) == len(theirs)
        and (mine.index == theirs.index).all()
        and np.allclose(mine["frequency"], theirs["frequency"])
        and np.allclose(mine["recency"], theirs["recency"])
        and np.allclose(mine["T"], theirs["T"])
        and np.allclose(mine["monetary"], theirs["monetary_value"])
    )


def _side_by_side(
    ours: Any,
    ours_time: dict[str, Any],
    theirs: Any,
    theirs_time: dict[str, Any],
    log_likelihood: Callable[[Any], float],
) -> dict[str, Any]:
    """Both sides' parameters and times; lifetimes' parameters also scored by parcours's
    log-likelihood (where the maximum is a flat ridge, the parameters along it differ while
    the likelihood does not)."""
    found: dict[str, Any] = {
        "parcours": {**ours.params, "log_likelihood": ours.log_likelihood_, **ours_time},
    }
    if isinstance(theirs, str):
        found["lifetimes"] = {"failed": theirs, **theirs_time}
        return found
    params = {k: float(v) for k, v in theirs.params_.items()}
    found["lifetimes"] = {
        **params,
        "log_likelihood": log_likelihood(type(ours)(**params)),
        **theirs_time,
    }
    found["max_relative_difference"] = max(
        abs(ours.params[k] - v) / abs(v) for k, v in params.items()
    )
    found["speed_up"] = theirs_time["seconds"] / ours_time["seconds"]
    return found


def cdnow_master(repeat: int) -> dict[str, Any]:
    """Part 1a: CDNOW's whole master log, imported raw, summarised and fitted in weeks."""
    from cdnow import import_cdnow

    with (
        tempfile.TemporaryDirectory() as folder,
        parcours.connect(Path(folder) / "store.duckdb") as p,
    ):
        imported, import_time = best(1, lambda: import_cdnow(p, Path(folder), "CDNOW_master.txt"))
        found = compare_fits(p, dt.date(1998, 6, 30), "weeks", repeat, "CDNOW master")
    return {**found, "imported": imported, "import": import_time}


def demo_purchases(store: Path, repeat: int) -> dict[str, Any]:
    """Part 1b: a demo store's purchases, in days, up to its last day (the store only read)."""
    with parcours.connect(store, read_only=True) as p:
        end = p.store.engine.scalar("SELECT CAST(max(occurred_at) AS DATE) FROM customer_events")
        return compare_fits(p, end, "days", repeat, "demo purchases")


# --- the station: 20 segments, the full recompute, the refresh -------------------------------


def segment_definitions(p: parcours.Parcours) -> list[dict[str, Any]]:
    """The 20 segments, every kind of condition, on the demo's traits and channels."""
    last = p.sql("SELECT max(occurred_at) FROM customer_events").column(0)[0].as_py()
    lag = max(0, (dt.datetime.now(dt.UTC) - last).days)

    def days(n: int) -> str:
        return f"{n + lag}d"

    traits = (
        p.sql(
            "SELECT k, count(*) AS n FROM (SELECT unnest(json_keys(properties)) AS k "
            "FROM customer_events WHERE type = 'identify' AND properties IS NOT NULL) "
            "GROUP BY k ORDER BY n DESC, k LIMIT 2"
        )
        .column(0)
        .to_pylist()
    )
    common = [
        p.sql(
            f"SELECT json_extract_string(properties, '$.{t}') AS v, count(*) AS n "
            "FROM customer_events WHERE type = 'identify' AND v IS NOT NULL "
            "GROUP BY v ORDER BY n DESC, v LIMIT 2"
        )
        .column(0)
        .to_pylist()
        for t in traits
    ]
    order = "Order Completed"
    return [
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


RECOMPUTE = """
import json, resource, sys, time
def peak_gb():  # the process's peak resident memory since the last reset (Linux)
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 2**20
def reset_peak():
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
def cpu():
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime
loading = time.perf_counter()
import parcours
p = parcours.connect(sys.argv[1])
opened = time.perf_counter()
peaks, cpus, current = {}, {}, ["(opened)"]
def progress(step):
    peaks[current[-1]] = peak_gb()
    cpus[current[-1]] = cpu()
    reset_peak()
    current.append(step)
cpu_started, started = cpu(), time.perf_counter()
run = p.scores.recompute(progress=progress)
seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
peaks[current[-1]], cpus[current[-1]] = peak_gb(), cpu()
steps = list(cpus)
cpu_by_step = {b: cpus[b] - cpus[a] for a, b in zip(steps, steps[1:])}
p.close()
print(json.dumps({**run.to_dict(), "wall": seconds, "cpu": cpu_seconds,
                  "startup": opened - loading, "close": time.perf_counter() - started - seconds,
                  "peak_gb_by_step": peaks, "peak_gb": max(peaks.values()),
                  "cpu_by_step": cpu_by_step,
                  "parcours": parcours.__file__}))
"""

REFRESH = """
import json, resource, sys, time
loading = time.perf_counter()
import parcours
# What a server or a loader has loaded already: the scorers' modules (scikit-learn's too).
import parcours.segments.health, parcours.segments.lifetime_value, parcours.segments.personas
import parcours.segments.milestones, parcours.segments.rfm, parcours.segments.tiers
import parcours.segments.clv
p = parcours.connect(sys.argv[1])
opened = time.perf_counter()
runs = []
for seed in sys.argv[3:]:
    drawn = time.perf_counter()
    p.store.engine.execute(
        "CREATE OR REPLACE TABLE bench_touched AS SELECT customer_id FROM "
        "(SELECT DISTINCT customer_id FROM identity_map) "
        f"ORDER BY hash(customer_id || '{seed}') LIMIT {int(sys.argv[2])}"
    )
    drawn = time.perf_counter() - drawn
    customers = p.store.engine.scalar("SELECT count(*) FROM bench_touched")
    used = resource.getrusage(resource.RUSAGE_SELF)
    started, cpu_started = time.perf_counter(), used.ru_utime + used.ru_stime
    run = p.scores.refresh("SELECT customer_id FROM bench_touched")
    used = resource.getrusage(resource.RUSAGE_SELF)
    runs.append({**run.to_dict(), "wall": time.perf_counter() - started, "draw": drawn,
                 "cpu": used.ru_utime + used.ru_stime - cpu_started,
                 "customers": customers, "seed": seed})
p.close()
print(json.dumps({"runs": runs, "startup": opened - loading,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    """`code` in a fresh Python (this one, with this environment): its last line, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"a child process failed:\n{done.stderr}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def station_recompute(copy: Path) -> dict[str, Any]:
    """Part 2: the 20 segments saved on the copy, then every score and segment recomputed
    in a fresh process."""
    load = os.getloadavg()
    with parcours.connect(copy) as p:
        customers = p.store.engine.scalar("SELECT count(DISTINCT customer_id) FROM identity_map")
        events = p.store.engine.scalar("SELECT count(*) FROM customer_events")
        started = time.perf_counter()
        for definition in segment_definitions(p):
            p.segments.create(definition)
        saved = time.perf_counter() - started
    run = _child(RECOMPUTE, str(copy))
    with parcours.connect(copy, read_only=True) as p:
        members = {
            r["segment"]: r["n"]
            for r in p.store.engine.query(
                "SELECT segment, count(*) AS n FROM segment_members GROUP BY 1 ORDER BY 1"
            ).to_pylist()
        }
        scored = {
            r["score"]: r["n"]
            for r in p.store.engine.query(
                "SELECT score, count(*) AS n FROM customer_scores GROUP BY 1 ORDER BY 1"
            ).to_pylist()
        }
    return {
        "customers": customers,
        "events": events,
        "save_20_segments": saved,
        "run": run,
        "members": members,
        "scored": scored,
        "load": [load, os.getloadavg()],
    }


def station_refresh(copy: Path) -> dict[str, Any]:
    """Part 3: 1,000 seeded customers rescored with the kept models and their segments
    refreshed, in a fresh process (after part 2, whose models it uses); then 1,000 others
    (the next seed) in the same process, warm."""
    load = os.getloadavg()
    run = _child(REFRESH, str(copy), str(TOUCHED), str(SEED), str(SEED + 1))
    return {"run": run, "load": [load, os.getloadavg()]}


# --- the report ------------------------------------------------------------------------------


def report_clv(part: dict[str, Any]) -> None:
    print(
        f"\n== {part['data']}: {part['customers']:,} customers, "
        f"{part['repeat_buyers']:,} repeat buyers (times in {part['unit']})"
    )
    summary = part["summary"]
    print(
        f"summary      parcours {summary['parcours']['seconds']:.3f} s, lifetimes "
        f"{summary['lifetimes']['seconds']:.3f} s, same summary: {summary['same']}"
    )
    for model in ("bg_nbd", "gamma_gamma"):
        side = part[model]
        ours, theirs = side["parcours"], side["lifetimes"]
        params = {k: v for k, v in ours.items() if k in ("r", "alpha", "a", "b", "p", "q", "v")}
        shown = ", ".join(f"{k} {v:.5g}" for k, v in params.items())
        ll = ours["log_likelihood"]
        print(f"{model:<12} parcours {ours['seconds']:.3f} s ({shown}; LL {ll:.1f})")
        if "failed" in theirs:
            print(f"{'':<12} lifetimes {theirs['seconds']:.3f} s, {theirs['failed']}")
            continue
        theirs_shown = ", ".join(f"{k} {theirs[k]:.5g}" for k in params)
        their_ll = theirs["log_likelihood"]
        print(f"{'':<12} lifetimes {theirs['seconds']:.3f} s ({theirs_shown}; LL {their_ll:.1f})")
        print(
            f"{'':<12} x{side['speed_up']:.1f} faster; parameters within "
            f"{side['max_relative_difference']:.1e} relative, log-likelihoods "
            f"{ll - their_ll:+.2g} apart"
        )
        if model == "bg_nbd":
            shares = [f["a"] / (f["a"] + f["b"]) for f in (ours, theirs)]
            print(f"{'':<12} mean drop-out a/(a+b): {shares[0]:.6g} and {shares[1]:.6g}")


def report_station(part: dict[str, Any]) -> None:
    run = part["run"]
    print(
        f"\n== station, full recompute: {part['customers']:,} customers (resolved), "
        f"{part['events']:,} events; load average {_load(part['load'])}"
    )
    print(f"the 20 segments saved (each computed as it is saved): {part['save_20_segments']:.1f} s")
    print(f"a fresh process: import parcours and open the store {run['startup']:.1f} s, then")
    print(
        f"{'step':<18}{'seconds':>9}{'CPU s':>9}{'peak GB':>9}   (CPU: every thread; peak: "
        "resident memory during the step, with what earlier steps left)"
    )
    print(f"{'(store opened)':<18}{'':>18}{run['peak_gb_by_step']['(opened)']:>9.2f}")
    for step, seconds in run["seconds"].items():
        skipped = f"   skipped: {run['skipped'][step]}" if step in run["skipped"] else ""
        peak = run["peak_gb_by_step"].get(step, float("nan"))
        cpu = run["cpu_by_step"].get(step, float("nan"))
        print(f"{step:<18}{seconds:>9.2f}{cpu:>9.2f}{peak:>9.2f}{skipped}")
    goal, apart = _station_split(run)
    print(
        f"{'all steps':<18}{run['total_seconds']:>9.2f}{run['cpu']:>9.2f}{run['peak_gb']:>9.2f}"
        f"   ({os.cpu_count()} cores); closing the store (checkpoint) {run['close']:.1f} s more"
    )
    peak = max(v for k, v in run["peak_gb_by_step"].items() if k in GOAL_STEPS)
    goal_cpu = sum(v for k, v in run["cpu_by_step"].items() if k in GOAL_STEPS)
    print(
        f"the goal's steps ({', '.join(GOAL_STEPS)}) {goal:.2f} s ({goal_cpu:.1f} CPU s), "
        f"goal < {GOAL_SECONDS:.0f} s; their peak {peak:.2f} GB, goal < {GOAL_GB:.0f} GB"
    )
    print(f"apart: {', '.join(f'{k} {v:.2f} s' for k, v in apart.items())}")
    changed = sum(run["segments"].get("entered", {}).values()) + sum(
        run["segments"].get("left", {}).values()
    )
    print(f"segment entries and exits written by the recompute: {changed:,}")
    print("members: " + ", ".join(f"{k} {v:,}" for k, v in part["members"].items()))
    print("scored:  " + ", ".join(f"{k} {v:,}" for k, v in part["scored"].items()))


def report_refresh(part: dict[str, Any]) -> None:
    first, second = part["run"]["runs"]
    print(
        f"\n== station, refresh of {first['customers']:,} customers (seeded draw, "
        f"{first['seed']}), then {second['customers']:,} others ({second['seed']}) in the same "
        "process; "
        f"load average {_load(part['load'])}"
    )
    print(
        "a fresh process: import parcours and the scorers' modules, open the store "
        f"{part['run']['startup']:.1f} s (apart); each draw into a table "
        f"{first['draw']:.3f} s and {second['draw']:.3f} s (apart)"
    )
    print(f"{'step':<18}{'first':>9}{'second':>9}")
    for step, seconds in first["seconds"].items():
        skipped = f"   skipped: {first['skipped'][step]}" if step in first["skipped"] else ""
        print(
            f"{step:<18}{seconds:>9.3f}{second['seconds'].get(step, float('nan')):>9.3f}{skipped}"
        )
    print(
        f"{'all steps':<18}{first['total_seconds']:>9.3f}{second['total_seconds']:>9.3f}   "
        f"goal < {GOAL_REFRESH_SECONDS:.0f} s; the process's peak {part['run']['peak_gb']:.2f} GB"
    )
    print(f"{'CPU s':<18}{first['cpu']:>9.3f}{second['cpu']:>9.3f}   (every thread)")


Row = tuple[str, str, str, str, str]
"""A line of the goals' table: measure, parcours, against, ratio, verdict."""


def report_goals(
    clv: list[dict[str, Any]], station: dict[str, Any] | None, refresh: dict[str, Any] | None
) -> None:
    """One table: each measure, what it is held against, the ratio, whether the goal is met."""
    rows = [row for part in clv for row in _clv_rows(part)]
    if station:
        rows += _station_rows(station["run"])
    if refresh:
        for run, when in zip(refresh["run"]["runs"], ("first", "second, warm"), strict=True):
            seconds = run["total_seconds"]
            rows.append(
                (
                    f"refresh, {run['customers']:,} customers ({when})",
                    f"{seconds:.3f} s",
                    f"goal {GOAL_REFRESH_SECONDS:.0f} s",
                    f"{seconds / GOAL_REFRESH_SECONDS:.2f}",
                    ("yes" if seconds < GOAL_REFRESH_SECONDS else "NO")
                    + f" ({run['cpu']:.2f} CPU s)",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print("\n== against the goals (ratio: lifetimes' time / parcours's, or time / goal)")
    for row in rows:
        print(
            "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=False)) + "  " + row[4]
        )


def _clv_rows(part: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for model, name in (("bg_nbd", "BG/NBD"), ("gamma_gamma", "Gamma-Gamma")):
        side = part[model]
        ours, theirs = f"{side['parcours']['seconds']:.3f} s", side["lifetimes"]
        measure = f"{part['data']}: {name} fit"
        if "failed" in theirs:
            against = f"lifetimes failed, {theirs['seconds']:.3f} s"
            rows.append((measure, ours, against, "", "no comparison: lifetimes did not converge"))
            continue
        same, why = _same_parameters(side, model)
        met = "yes" if side["speed_up"] >= 1 and same else "NO"
        against = f"lifetimes {theirs['seconds']:.3f} s"
        rows.append((measure, ours, against, f"x{side['speed_up']:.1f}", f"{met} ({why})"))
    summary = part["summary"]
    ours, theirs = summary["parcours"]["seconds"], summary["lifetimes"]["seconds"]
    rows.append(
        (
            f"{part['data']}: summary",
            f"{ours:.3f} s",
            f"lifetimes {theirs:.3f} s",
            f"x{theirs / ours:.1f}",
            f"same summary: {summary['same']} (no goal)",
        )
    )
    return rows


def _station_rows(run: dict[str, Any]) -> list[Row]:
    goal, apart = _station_split(run)
    peak = max(v for k, v in run["peak_gb_by_step"].items() if k in GOAL_STEPS)
    goal_cpu = sum(v for k, v in run["cpu_by_step"].items() if k in GOAL_STEPS)
    return [
        (
            "full recompute: " + ", ".join(GOAL_STEPS),
            f"{goal:.1f} s",
            f"goal {GOAL_SECONDS:.0f} s",
            f"{goal / GOAL_SECONDS:.2f}",
            ("yes" if goal < GOAL_SECONDS else "NO") + f" ({goal_cpu:.1f} CPU s)",
        ),
        (
            "  their peak memory",
            f"{peak:.2f} GB",
            f"goal {GOAL_GB:.0f} GB",
            f"{peak / GOAL_GB:.2f}",
            "yes" if peak < GOAL_GB else "NO",
        ),
        (
            "full recompute: the other steps",
            f"{sum(apart.values()):.1f} s",
            "",
            "",
            "no goal: " + ", ".join(apart),
        ),
        (
            "full recompute: every step",
            f"{run['total_seconds']:.1f} s",
            "",
            "",
            f"({run['cpu']:.1f} CPU s) + closing the store {run['close']:.1f} s",
        ),
        (
            "  the process's peak memory",
            f"{run['peak_gb']:.2f} GB",
            f"goal {GOAL_GB:.0f} GB",
            f"{run['peak_gb'] / GOAL_GB:.2f}",
            "yes" if run["peak_gb"] < GOAL_GB else "NO",
        ),
    ]


def _station_split(run: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """The goal's steps' seconds, and the other steps'."""
    goal = sum(s for step, s in run["seconds"].items() if step in GOAL_STEPS)
    return goal, {k: v for k, v in run["seconds"].items() if k not in GOAL_STEPS}


def _same_parameters(side: dict[str, Any], model: str) -> tuple[bool, str]:
    """Same parameters: within 1e-3 relative; on BG/NBD's ridge (a, b large), the same r, α,
    mean drop-out and log-likelihood."""
    if side["max_relative_difference"] < 1e-3:
        return True, f"parameters within {side['max_relative_difference']:.0e}"
    ours, theirs = side["parcours"], side["lifetimes"]
    gap = abs(ours["log_likelihood"] - theirs["log_likelihood"])
    if model != "bg_nbd":
        return False, f"parameters {side['max_relative_difference']:.0e} apart"
    shares = [f["a"] / (f["a"] + f["b"]) for f in (ours, theirs)]
    apart = max(
        abs(ours["r"] / theirs["r"] - 1),
        abs(ours["alpha"] / theirs["alpha"] - 1),
        abs(shares[0] / shares[1] - 1),
    )
    return apart < 1e-3 and gap < 0.1, (
        f"ridge: r, α, a/(a+b) within {apart:.0e}, LL {gap:.2g} apart; a, b differ"
    )


def _load(load: list[Any]) -> str:
    before, after = load
    return f"{before[0]:.2f} before, {after[0]:.2f} after"


def copy_store(store: Path, workdir: Path) -> Path:
    """A copy of `store` (and its write-ahead log, if any) in `workdir`: the original is only
    read."""
    copy = workdir / "store.duckdb"
    shutil.copyfile(store, copy)
    wal = Path(f"{store}.wal")
    if wal.exists():
        shutil.copyfile(wal, Path(f"{copy}.wal"))
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="A demo store (parcours demo); only read.")
    parser.add_argument(
        "--events",
        type=int,
        help="Instead of --store: the journeys bench's demo of this many events, as it keeps it "
        "(bench/journeys.py --sizes N: bench/out/journeys/<N>/store.duckdb).",
    )
    parser.add_argument(
        "--parts",
        nargs="*",
        choices=PARTS,
        default=list(PARTS),
        help="clv, station, refresh (refresh needs station); default: all",
    )
    parser.add_argument("--repeat", type=int, default=3, help="CLV: runs per side, best kept.")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="Where the copy goes (default: a temporary folder, removed at the end).",
    )
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    arguments = parser.parse_args()
    parts = set(arguments.parts)
    if arguments.events:
        from journeys import store_of

        arguments.store = store_of(Path("bench/out/journeys"), arguments.events)
    if "refresh" in parts and "station" not in parts:
        parser.error(
            "the refresh uses the models the station's full recompute keeps: add --parts station"
        )
    if parts - {"clv"} and not arguments.store:
        parser.error("the station's parts need --store")
    if arguments.store and not arguments.store.is_file():
        parser.error(
            f"no store at {arguments.store}: build one with parcours demo or "
            "bench/journeys.py --sizes N"
        )
    print(
        f"parcours from {Path(parcours.__file__).parent}; {os.cpu_count()} cores, shared with "
        f"other work: load average {os.getloadavg()}"
    )
    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        copy = None
        if parts - {"clv"}:
            folder = arguments.workdir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scores-"))
            )
            started = time.perf_counter()
            copy = copy_store(arguments.store, folder)
            print(
                f"copied {arguments.store} ({arguments.store.stat().st_size / 2**30:.1f} GB) "
                f"in {time.perf_counter() - started:.0f} s"
            )
        if "clv" in parts:
            figures["clv"] = [cdnow_master(arguments.repeat)]
            if arguments.store:
                figures["clv"].append(demo_purchases(copy or arguments.store, arguments.repeat))
            for part in figures["clv"]:
                report_clv(part)
        if "station" in parts and copy:
            figures["station"] = station_recompute(copy)
            report_station(figures["station"])
        if "refresh" in parts and copy:
            figures["refresh"] = station_refresh(copy)
            report_refresh(figures["refresh"])
    report_goals(figures.get("clv", []), figures.get("station"), figures.get("refresh"))
    print(f"\nload average at the end {os.getloadavg()}")
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
