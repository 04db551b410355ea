"""Journeys: every analysis on the demo at 1M and 10M events, next to pm4py and chdb, in one run.

Each size is one store of the demo world (`parcours demo`: exports imported through the shipped
mappings, identities resolved), whose `customer_events` every analysis reads. On it:

* **parcours**, each analysis in a fresh process (its peak RSS its own), the best of
  `--repeat` runs: conversion by visit number, the 4-step 7-day funnel, the journey map
  (directly-follows graph with starts and ends), the variants (all of them, like pm4py, and the
  top 20), the paths from "Product Added", repeat contacts, channel switching.
* **pm4py** on the same log, exported in parcours's journey order (customer, time, then one
  fixed order at the same instant) through Parquet to a pandas DataFrame (customer as the case,
  coalesce(name, type) as the activity; the export is timed apart, in its own process):
  `discover_dfg` and `get_variants`. Checked: the same directly-follows counts, start
  and end activities, and the same variants with the same counts. Goal (issue 6): parcours's
  map + variants at least 10x faster (measured there: pm4py 1.5 s + 0.5 s at 1M events,
  12.9 s + 3.4 s at 5M).
* **chdb's `windowFunnel`** (embedded ClickHouse) on the same events written to Parquet in the
  store's own row order (customer, epoch microseconds, name; the write is timed apart), and the
  same funnel as a plain DuckDB query on the store (chained running maxima over the preceding
  rows, as in the engines study). Checked: the customers reaching each step are the same.
  Goal: no slower than windowFunnel (measured there: 1.1 s at 10M events, against 3.4 s for
  the plain DuckDB query).

Each size is a real demo (about 38 events per person, people rounded to the thousand): here, on
2 busy cores, 2 minutes to build for 1M events and 27 for 10M, once: `--skip-generate` reuses
them. A kept store whose `customer_events` columns are not the current schema's (made by an
older parcours) has that table rebuilt as a full resolve writes it (`--refresh` forces it).

Peers are benchmark-only dependencies: `pip install -e '.[bench]'`. Timings are never asserted.

    python bench/journeys.py                                  # 1M and 10M events
    python bench/journeys.py --sizes 1000000 --repeat 5
    python bench/journeys.py --skip-generate                  # the kept stores again
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from measure import Runs

EVENTS_PER_CUSTOMER = 38.2
"""Measured on the demo at 26,000 customers, seed 7: 993,286 events."""
FUNNEL_STEPS = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
FUNNEL_WINDOW_S = 7 * 86_400
PATH_ANCHOR = "Product Added"
ALL_VARIANTS = 1_000_000_000
GOAL_PM4PY_SPEEDUP = 10.0
GOAL_CHDB_SPEEDUP = 1.0
GOAL_SECONDS, GOAL_MB, GOAL_EVENTS = 5.0, 4096.0, 10_000_000
"""Issue 6: every analysis at 10M events "within a few seconds" (read as 5 s) and under 4 GB."""
ISSUE_FIGURES = {
    "pm4py": "pm4py 1.5 s + 0.5 s at 1M events, 12.9 s + 3.4 s at 5M",
    "chdb": "windowFunnel 1.1 s at 10M events, plain DuckDB 3.4 s",
}

EXPORT_LOG_SQL = """
    COPY (SELECT customer_id AS case_id, coalesce(name, type) AS activity,
                 timezone('UTC', occurred_at) AS occurred_at
          FROM customer_events ORDER BY {order})
    TO {path} (FORMAT parquet)
"""
"""pm4py's log in parcours's journey order, so that events at the same instant come in the
same order to both (pm4py keeps the order of equal timestamps)."""
EXPORT_FUNNEL_SQL = """
    COPY (SELECT customer_id, epoch_us(occurred_at)::UBIGINT AS at,
                 coalesce(name, '') AS name FROM customer_events)
    TO {path} (FORMAT parquet)
"""


def need_peers() -> None:
    # Found, not imported: pm4py prints a banner, and the measured sides run in children.
    peers = ("pm4py", "chdb", "pandas", "psutil")
    missing = [module for module in peers if importlib.util.find_spec(module) is None]
    if missing:
        sys.exit(
            f"bench/journeys.py compares parcours with pm4py and chdb, and {', '.join(missing)} "
            "is not installed in this environment.\nInstall the benchmark extra: "
            "pip install -e '.[bench]'"
        )


# --- the stores ------------------------------------------------------------------------------


def label(events: int) -> str:
    return f"{events / 1e6:g}M" if events >= 1_000_000 else f"{events / 1e3:g}k"


def store_of(out: Path, size: int) -> Path:
    return out / label(size) / "store.duckdb"


def generate_demo(out: Path, size: int, seed: int) -> dict[str, Any]:
    """`parcours demo` with about `size` events, into out/<size>/."""
    workdir = out / label(size)
    workdir.mkdir(parents=True, exist_ok=True)
    customers = max(1, int(round(size / EVENTS_PER_CUSTOMER, -3)))
    store = store_of(out, size)
    started = time.perf_counter()
    options = f"--customers {customers} --seed {seed} --format json".split()
    paths = ["--out", str(workdir / "world"), "--store", str(store)]
    with (workdir / "demo.json").open("w") as report:
        subprocess.run(
            [sys.executable, "-m", "parcours", "demo", *options, *paths],
            stdout=report,
            check=True,
        )
    seconds = time.perf_counter() - started
    built = {"build": "demo", "people": customers, "seed": seed, "seconds": seconds}
    (workdir / "built.json").write_text(json.dumps(built))
    print(f"  demo of {customers:,} people generated, imported, resolved in {seconds:.0f}s")
    return built


def refresh_if_stale(store: Path, force: bool) -> float | None:
    """Rebuild `customer_events` when its columns are not the current schema's (a kept store
    made by an older parcours), or when forced: the table is derived, and
    `customer_events.refresh` writes it from the store's events and identity map as a full
    resolve does. Returns the seconds it took, None when nothing was done."""
    import parcours
    from parcours.identity import customer_events
    from parcours.store.schema import create_table_sql

    with parcours.connect(store) as p:
        engine = p.store.engine
        described = engine.query(f"DESCRIBE {customer_events.TABLE}").to_pylist()
        if not force and [r["column_name"] for r in described] == list(customer_events.COLUMNS):
            return None
        started = time.perf_counter()
        with engine.transaction():
            engine.execute_script(f"DROP TABLE {customer_events.TABLE}")
            engine.execute_script(
                create_table_sql(customer_events.TABLE, customer_events.COLUMN_SPECS)
            )
            customer_events.refresh(p.store)
    return time.perf_counter() - started


def journey_order() -> str:
    """The order parcours reads each customer's events in, ties at one instant included."""
    from parcours.identity.customer_events import ORDER

    return ORDER


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def describe(store: Path) -> dict[str, Any]:
    import parcours

    with parcours.connect(store, read_only=True) as p:
        row = p.sql(
            "SELECT count(*) AS events, count(DISTINCT customer_id) AS customers, "
            "count(*) FILTER (WHERE intent IS NOT NULL) AS contacts, "
            "count(DISTINCT coalesce(name, type)) AS activities FROM customer_events"
        ).to_pylist()[0]
    return {k: int(v) for k, v in row.items()}


def export(store: Path, sql: str, path: Path) -> float:
    """Write `sql`'s COPY of the store to `path` (a peer's input); the seconds it took. Here,
    not in the peer's process: the engine's memory is not the peer's."""
    import parcours

    started = time.perf_counter()
    with parcours.connect(store, read_only=True) as p:
        p.store.engine.execute_script(sql.format(path=sql_text(str(path))))
    return time.perf_counter() - started


# --- the measured sides (each runs in a child process) ---------------------------------------


def parcours_analyses() -> dict[str, Callable[[Any], Any]]:
    from parcours.journeys import contacts, funnel, paths, visits
    from parcours.journeys.scope import Scope

    everything = Scope()
    return {
        "conversion_by_visit": lambda s: visits.conversion_by_visit(
            s, "Order Completed", everything
        ),
        "funnel": lambda s: funnel.funnel(s, list(FUNNEL_STEPS), everything, window="7d"),
        "journey_map": lambda s: paths.journey_map(s, everything),
        "variants_all": lambda s: paths.variants(s, everything, top=ALL_VARIANTS),
        "variants_top20": lambda s: paths.variants(s, everything, top=20),
        "paths": lambda s: paths.paths(s, PATH_ANCHOR, everything, depth=5),
        "repeat_contacts": lambda s: contacts.repeat_contacts(s, everything),
        "channel_switching": lambda s: contacts.channel_switching(s, everything),
    }


ANALYSIS_NAMES = {
    "conversion_by_visit": "conversion by visit",
    "funnel": "funnel, 4 steps, 7 days",
    "journey_map": "journey map (DFG)",
    "variants_all": "variants, all",
    "variants_top20": "variants, top 20",
    "paths": f"paths from {PATH_ANCHOR}, depth 5",
    "repeat_contacts": "repeat contacts",
    "channel_switching": "channel switching",
}


def variants_fingerprint(pairs: Iterable[tuple[Sequence[str], int]]) -> dict[str, Any]:
    """The variants and their counts as one hash (the lists can be large): equal hashes, equal
    variants with equal counts."""
    lines = sorted("\x1f".join(variant) + "\t" + str(count) for variant, count in pairs)
    return {
        "variants": len(lines),
        "journeys": sum(int(line.rsplit("\t", 1)[1]) for line in lines),
        "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
    }


def check_of(analysis: str, result: Any) -> dict[str, Any]:
    """What the peers are compared on, or a short summary of the answer."""
    if analysis == "funnel":
        return {"reached": [s["customers"] for s in result.steps]}
    if analysis == "journey_map":
        return {
            "dfg": sorted([e["source"], e["target"], e["count"]] for e in result.edges),
            "starts": {e["activity"]: e["starts"] for e in result.ends if e["starts"]},
            "ends": {e["activity"]: e["ends"] for e in result.ends if e["ends"]},
        }
    if analysis == "variants_all":
        return variants_fingerprint((r["variant"], r["journeys"]) for r in result)
    if analysis == "variants_top20":
        return {"rows": len(result)}
    if analysis == "conversion_by_visit":
        return {"customers": result.customers, "converters": result.converters}
    if analysis == "paths":
        return {"customers": result.customers, "nodes": len(result.nodes)}
    if analysis == "repeat_contacts":
        return {"contacts": result.contacts, "cases": result.cases, "repeats": result.repeats}
    if analysis == "channel_switching":
        return {"contacts": result.contacts, "switches": result.switches}
    return {}


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss / 2**20)


def peak_mb() -> float:
    """This process's peak RSS. Not `ru_maxrss`: Linux carries the parent's peak over into a
    child at exec, so a child of a large parent would report the parent's. `VmHWM` is the
    high-water mark of this process image alone."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_parcours(spec: dict[str, Any]) -> dict[str, Any]:
    import parcours

    analysis = parcours_analyses()[spec["analysis"]]
    runs = Runs()
    with parcours.connect(spec["store"], read_only=True) as p:
        baseline = rss_mb()
        for _ in range(spec["repeat"]):
            with runs.run():
                result = analysis(p.store)
    return {**runs.figures(), "baseline_mb": baseline, "check": check_of(spec["analysis"], result)}


def child_pm4py(spec: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(spec["parquet"])
    load_seconds = time.perf_counter() - started
    with contextlib.redirect_stdout(sys.stderr):  # its licence banner
        import pm4py
    keys = {"case_id_key": "case_id", "activity_key": "activity", "timestamp_key": "occurred_at"}
    columns = list(frame.columns)

    def as_loaded() -> None:
        # pm4py adds columns to the frame it is given: each run gets the frame as loaded.
        frame.drop(columns=[c for c in frame.columns if c not in columns], inplace=True)

    baseline = rss_mb()
    dfg_runs, variant_runs = Runs(), Runs()
    for _ in range(spec["repeat"]):
        with dfg_runs.run():
            dfg, starts, ends = pm4py.discover_dfg(frame, **keys)
        as_loaded()
        with variant_runs.run():
            found = pm4py.get_variants(frame, **keys)
        as_loaded()
    return {
        "load_seconds": load_seconds,
        "events": len(frame),
        "baseline_mb": baseline,
        "discover_dfg": dfg_runs.figures(),
        "get_variants": variant_runs.figures(),
        "check": {
            "dfg": sorted([a, b, int(n)] for (a, b), n in dfg.items()),
            "starts": {a: int(n) for a, n in starts.items()},
            "ends": {a: int(n) for a, n in ends.items()},
            **variants_fingerprint((v, int(n)) for v, n in found.items()),
        },
    }


def window_funnel_sql(parquet: str) -> str:
    conditions = ", ".join(f"name = {sql_text(s)}" for s in FUNNEL_STEPS)
    # An explicit structure: non-Nullable columns, whatever the Parquet writer declared.
    return f"""
        SELECT level, count() AS customers FROM (
            SELECT customer_id, windowFunnel({FUNNEL_WINDOW_S * 1_000_000})(at, {conditions})
                AS level
            FROM file({sql_text(parquet)}, Parquet, 'customer_id String, at UInt64, name String')
            GROUP BY customer_id)
        GROUP BY level ORDER BY level
    """


def child_chdb(spec: dict[str, Any]) -> dict[str, Any]:
    import chdb

    query = window_funnel_sql(spec["parquet"])
    chdb.query("SELECT 1")  # type: ignore[no-untyped-call]  # the engine's start, not the funnel's
    baseline = rss_mb()
    runs = Runs()
    for _ in range(spec["repeat"]):
        with runs.run():
            answer = chdb.query(query, "JSON")  # type: ignore[no-untyped-call]
    rows = json.loads(answer.bytes())["data"]
    levels = {int(r["level"]): int(r["customers"]) for r in rows}
    return {**runs.figures(), "baseline_mb": baseline, "check": {"levels": levels}}


def duckdb_funnel_sql() -> str:
    """The funnel as one query: per step, the latest chain start among the preceding rows
    (a running maximum), kept if the step's event is within the window of it."""
    window = FUNNEL_WINDOW_S * 1_000_000
    names = ", ".join(sql_text(s) for s in FUNNEL_STEPS)
    frame = (
        "WINDOW w AS (PARTITION BY customer_id ORDER BY ts, source, event_id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    )
    parts = [
        f"e1 AS (SELECT customer_id, epoch_us(occurred_at) AS ts, source, event_id, name, "
        f"CASE WHEN name = {sql_text(FUNNEL_STEPS[0])} THEN epoch_us(occurred_at) END AS r1 "
        f"FROM customer_events WHERE name IN ({names}))"
    ]
    for k in range(2, len(FUNNEL_STEPS) + 1):
        parts.append(f"p{k} AS (SELECT *, max(r{k - 1}) OVER w AS m{k} FROM e{k - 1} {frame})")
        parts.append(
            f"e{k} AS (SELECT * EXCLUDE (m{k}), CASE WHEN name = {sql_text(FUNNEL_STEPS[k - 1])} "
            f"AND ts - m{k} <= {window} THEN m{k} END AS r{k} FROM p{k})"
        )
    last = len(FUNNEL_STEPS)
    level = " ".join(f"WHEN r{k} IS NOT NULL THEN {k}" for k in range(last, 0, -1))
    return (
        f"WITH {', '.join(parts)} "
        f"SELECT level, count(*) AS customers FROM (SELECT customer_id, "
        f"max(CASE {level} ELSE 0 END) AS level FROM e{last} GROUP BY customer_id) "
        "GROUP BY level ORDER BY level"
    )


def child_duckdb(spec: dict[str, Any]) -> dict[str, Any]:
    import parcours

    runs = Runs()
    with parcours.connect(spec["store"], read_only=True) as p:
        baseline = rss_mb()
        for _ in range(spec["repeat"]):
            with runs.run():
                rows = p.sql(duckdb_funnel_sql()).to_pylist()
    levels = {int(r["level"]): int(r["customers"]) for r in rows}
    return {**runs.figures(), "baseline_mb": baseline, "check": {"levels": levels}}


CHILDREN = {
    "parcours": child_parcours,
    "pm4py": child_pm4py,
    "chdb": child_chdb,
    "duckdb": child_duckdb,
}


def child_main(spec: dict[str, Any]) -> None:
    code = code_digest()
    outcome = CHILDREN[spec["kind"]](spec)
    outcome["peak_mb"] = peak_mb()
    outcome["code"] = code
    sys.stdout.write("\n" + json.dumps(outcome) + "\n")


def measure(spec: dict[str, Any], timeout: float, cap_mb: float) -> dict[str, Any]:
    """One side in a fresh process; stopped (and said so) past `timeout` s or `cap_mb` RSS."""
    import psutil

    load = os.getloadavg()
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watched, started, stopped = psutil.Process(child.pid), time.monotonic(), None
    sampled = 0.0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            sampled = max(sampled, watched.memory_info().rss / 2**20)
        if sampled > cap_mb:
            stopped = f"stopped at {sampled:,.0f} MB RSS (cap {cap_mb:,.0f} MB)"
        elif time.monotonic() - started > timeout:
            stopped = f"stopped after {timeout:,.0f} s"
        if stopped:
            child.kill()
            break
        time.sleep(0.1)
    out, err = child.communicate()
    if stopped:
        return {"failed": stopped, "load": load}
    if child.returncode != 0:
        return {"failed": f"exit {child.returncode}: {err.strip()[-1500:]}", "load": load}
    return {**json.loads(out.strip().splitlines()[-1]), "load": load}


# --- one size --------------------------------------------------------------------------------


def bench_size(store: Path, size: int, args: argparse.Namespace) -> dict[str, Any]:
    built = json.loads((store.parent / "built.json").read_text())
    shape = describe(store)
    print(
        f"\n{label(size)}: {shape['events']:,} events, {shape['customers']:,} customers "
        f"({describe_build(built)}); load average {fmt_load(os.getloadavg())}",
        flush=True,
    )
    parquet, log = store.parent / "funnel.parquet", store.parent / "log.parquet"
    exported = {
        "chdb": export(store, EXPORT_FUNNEL_SQL, parquet),
        "pm4py": export(store, EXPORT_LOG_SQL.replace("{order}", journey_order()), log)
        if "pm4py" in args.peers
        else 0.0,
    }
    timeout, cap = args.timeout, args.memory_cap_gb * 1024
    results: dict[str, Any] = {"parcours": {}}
    for analysis in parcours_analyses():
        if args.analyses and analysis not in args.analyses:
            continue
        spec = {"kind": "parcours", "analysis": analysis, "store": str(store)}
        measured = measure({**spec, "repeat": args.repeat}, timeout, cap)
        results["parcours"][analysis] = measured
        print(f"  parcours {analysis}: {brief(measured)}", flush=True)
    peers = {
        "chdb": {"kind": "chdb", "parquet": str(parquet)},
        "duckdb": {"kind": "duckdb", "store": str(store)},
        "pm4py": {"kind": "pm4py", "parquet": str(log)},
    }
    for peer, spec in peers.items():
        if peer not in args.peers:
            continue
        if peer == "pm4py" and shape["events"] > args.pm4py_max_events:
            results[peer] = {"failed": f"not run above {args.pm4py_max_events:,} events"}
        else:
            results[peer] = measure({**spec, "repeat": args.repeat}, timeout, cap)
        print(f"  {peer}: {brief(results[peer])}", flush=True)
    for peer, seconds in exported.items():
        if peer in results:
            results[peer]["export_seconds"] = seconds
    parquet.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    return {
        "size": size,
        "label": label(size),
        "built": built,
        **shape,
        "load_after": os.getloadavg(),
        "results": results,
        "checks": checks(results),
    }


def describe_build(built: dict[str, Any]) -> str:
    return f"the demo of {built['people']:,} people, seed {built['seed']}"


def fmt_load(load: Sequence[float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def brief(measured: dict[str, Any]) -> str:
    if "failed" in measured:
        return str(measured["failed"])
    if "discover_dfg" in measured:
        return (
            f"DataFrame read in {measured['load_seconds']:.2f}s, discover_dfg "
            f"{measured['discover_dfg']['seconds']:.2f}s, get_variants "
            f"{measured['get_variants']['seconds']:.2f}s, peak {measured['peak_mb']:,.0f} MB"
        )
    runs = " ".join(f"{r:.2f}" for r in measured["runs"])
    return f"{runs} s, peak {measured['peak_mb']:,.0f} MB"


def checks(results: dict[str, Any]) -> dict[str, bool | None]:
    """Whether the peers computed what parcours did (None: a side did not run)."""
    ours = results["parcours"]

    def check(side: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if not side or "failed" in side else side["check"]

    found: dict[str, bool | None] = {}
    funnel = check(ours.get("funnel"))
    for peer in ("chdb", "duckdb"):
        levels = check(results.get(peer))
        if funnel is None or levels is None:
            found[f"funnel = {peer}"] = None
            continue
        by_level = {int(k): int(v) for k, v in levels["levels"].items()}
        reached = [
            sum(n for level, n in by_level.items() if level >= k)
            for k in range(1, len(FUNNEL_STEPS) + 1)
        ]
        found[f"funnel = {peer}"] = reached == funnel["reached"]
    mined, mapped = check(results.get("pm4py")), check(ours.get("journey_map"))
    variants = check(ours.get("variants_all"))
    if mined is None or mapped is None:
        found["DFG = pm4py"] = found["starts and ends = pm4py"] = None
    else:
        found["DFG = pm4py"] = mined["dfg"] == mapped["dfg"]
        found["starts and ends = pm4py"] = (mined["starts"], mined["ends"]) == (
            mapped["starts"],
            mapped["ends"],
        )
    found["variants = pm4py"] = (
        None
        if mined is None or variants is None
        else all(mined[k] == variants[k] for k in ("variants", "journeys", "sha256"))
    )
    return found


# --- the report ------------------------------------------------------------------------------


def speedup(peer: float | None, ours: float | None) -> float | None:
    return peer / ours if peer and ours else None


def ratios(entry: dict[str, Any]) -> dict[str, float | None]:
    results = entry["results"]
    ours = {k: v.get("seconds") for k, v in results["parcours"].items() if "failed" not in v}
    pm4py = results.get("pm4py", {})
    mined = "failed" not in pm4py and pm4py
    dfg = pm4py["discover_dfg"]["seconds"] if mined else None
    variants = pm4py["get_variants"]["seconds"] if mined else None
    both_ours = (
        ours["journey_map"] + ours["variants_all"]
        if ours.get("journey_map") and ours.get("variants_all")
        else None
    )
    return {
        "pm4py dfg / journey_map": speedup(dfg, ours.get("journey_map")),
        "pm4py variants / variants_all": speedup(variants, ours.get("variants_all")),
        "pm4py both / map + variants": speedup((dfg or 0) + (variants or 0), both_ours),
        "windowFunnel / funnel": speedup(seconds_of(results.get("chdb")), ours.get("funnel")),
        "duckdb query / funnel": speedup(seconds_of(results.get("duckdb")), ours.get("funnel")),
    }


def seconds_of(measured: dict[str, Any] | None) -> float | None:
    return None if not measured or "failed" in measured else measured["seconds"]


def print_report(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        results = entry["results"]
        print(
            f"\n{entry['label']} — {entry['events']:,} events, {entry['customers']:,} customers, "
            f"{describe_build(entry['built'])}"
        )
        print(f"{'':<34}{'best s':>8}{'cpu s':>8}{'peak MB':>9}{'before':>8}   runs")
        for analysis, measured in results["parcours"].items():
            print(row(ANALYSIS_NAMES[analysis], measured))
        chdb, duck, pm4py = (results.get(k) for k in ("chdb", "duckdb", "pm4py"))
        if chdb:
            print(row("chdb windowFunnel", chdb))
        if duck:
            print(row("DuckDB query (running maxima)", duck))
        if pm4py and "failed" not in pm4py:
            print(row("pm4py discover_dfg", {**pm4py["discover_dfg"], **memory(pm4py)}))
            print(row("pm4py get_variants", {**pm4py["get_variants"], **memory(pm4py)}))
        elif pm4py:
            print(f"{'pm4py':<34}{pm4py['failed']}")
        print(
            "  (cpu s: of the best run, all threads; peak MB: the process's peak RSS; before: "
            "its RSS before the first run, with the store open or pm4py's DataFrame loaded)"
        )
        exports = []
        if pm4py and "load_seconds" in pm4py:
            exports.append(
                f"pm4py's log to Parquet {pm4py['export_seconds']:.2f}s and into pandas "
                f"{pm4py['load_seconds']:.2f}s"
            )
        if chdb and "export_seconds" in chdb:
            exports.append(f"windowFunnel's Parquet {chdb['export_seconds']:.2f}s")
        if exports:
            print("  exports, not timed with the peers: " + ", ".join(exports))
        computed = ratios(entry)
        print("speed-up (peer seconds / parcours seconds):")
        goals = {
            "pm4py both / map + variants": GOAL_PM4PY_SPEEDUP,
            "windowFunnel / funnel": GOAL_CHDB_SPEEDUP,
        }
        for name, value in computed.items():
            goal = goals.get(name)
            verdict = ""
            if goal is not None and value is not None:
                verdict = f"   goal >= {goal:g}x: {'met' if value >= goal else 'NOT met'}"
            shown = f"{value:.2f}x" if value is not None else "-"
            print(f"  {name:<32}{shown:>8}{verdict}")
        print(
            "checks: "
            + ", ".join(
                f"{k} {'ok' if v else ('not run' if v is None else 'DIFFERENT')}"
                for k, v in entry["checks"].items()
            )
        )
        if entry["events"] >= GOAL_EVENTS * 0.95:
            slow = [
                a
                for a, m in results["parcours"].items()
                if "failed" in m or m["seconds"] > GOAL_SECONDS or m["peak_mb"] > GOAL_MB
            ]
            print(
                f"goal at {label(GOAL_EVENTS)}: every analysis within {GOAL_SECONDS:g} s and "
                f"{GOAL_MB / 1024:g} GB: "
                + ("met" if not slow else "NOT met by " + ", ".join(slow))
            )
        print(
            f"load average: before {fmt_load(first_load(results))}, after "
            f"{fmt_load(entry['load_after'])}"
        )
    print("issue 6's figures on this machine: " + "; ".join(ISSUE_FIGURES.values()))


def memory(measured: dict[str, Any]) -> dict[str, Any]:
    return {k: measured[k] for k in ("peak_mb", "baseline_mb")}


def first_load(results: dict[str, Any]) -> Sequence[float]:
    for measured in results["parcours"].values():
        return measured["load"]  # type: ignore[no-any-return]
    return (0.0, 0.0, 0.0)


def row(name: str, measured: dict[str, Any]) -> str:
    if "failed" in measured:
        return f"{name:<34}{measured['failed']}"
    runs = " ".join(f"{r:.2f}" for r in measured["runs"])
    return (
        f"{name:<34}{measured['seconds']:>8.2f}{measured['cpu_seconds']:>8.2f}"
        f"{measured['peak_mb']:>9,.0f}{measured['baseline_mb']:>8,.0f}   {runs}"
    )


# --- the run ---------------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> list[tuple[int, Path]]:
    """Each size's store: built unless kept and `--skip-generate`, its customer_events as the
    current parcours writes them."""
    stores = []
    for size in sorted(args.sizes):
        store = store_of(args.out, size)
        stores.append((size, store))
        if not (args.skip_generate and store.exists()):
            print(f"building the {label(size)} store", flush=True)
            generate_demo(args.out, size, args.seed)
        seconds = refresh_if_stale(store, args.refresh)
        if seconds is not None:
            print(f"  {label(size)}: customer_events rebuilt in {seconds:.0f}s", flush=True)
    return stores


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    need_peers()
    stores = prepare(args)
    digest = code_digest()
    entries = [bench_size(store, size, args) for size, store in stores]
    print_report(entries)
    code = code_measured(digest, entries)
    print(f"code: {code['commit'][:12]}, sources {digest}", end="")
    if list(code["sides_by_digest"]) != [digest]:
        print("; the sources CHANGED during the run:")
        for ran, names in code["sides_by_digest"].items():
            print(f"  {ran}: {', '.join(names)}")
    else:
        print(", the same for every side")
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code": code,
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "sizes": entries,
        "ratios": {e["label"]: ratios(e) for e in entries},
    }
    path = args.out / "results.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {path}")
    return entries


SOURCES = ("journeys/*.py", "identity/customer_events.py", "store/schema.py")
"""The code these figures are of (it may change while a long run goes on)."""


def code_digest() -> str:
    """One hash of the measured sources, as they are now."""
    src = Path(__file__).resolve().parents[1] / "src" / "parcours"
    digest = hashlib.sha256()
    for pattern in SOURCES:
        for path in sorted(src.glob(pattern)):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def code_measured(started: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The commit and the code digest at the start, and every digest a measured side ran."""
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    ran: dict[str, list[str]] = {}
    for entry in entries:
        results = entry["results"]
        sides = {
            **{f"{entry['label']} {k}": v for k, v in results["parcours"].items()},
            **{f"{entry['label']} {k}": v for k, v in results.items() if k != "parcours"},
        }
        for name, side in sides.items():
            if "code" in side:
                ran.setdefault(side["code"], []).append(name)
    return {"commit": done.stdout.strip(), "digest": started, "sides_by_digest": ran}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000], help="events per store"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (best kept)")
    parser.add_argument("--analyses", nargs="*", help="only these parcours analyses")
    parser.add_argument(
        "--peers", nargs="*", default=["chdb", "duckdb", "pm4py"], help="peers to run"
    )
    parser.add_argument(
        "--pm4py-max-events", type=int, default=20_000_000, help="pm4py above: not run"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per side at most")
    parser.add_argument(
        "--memory-cap-gb", type=float, default=14, help="a side past this RSS is stopped"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out/journeys"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the kept stores")
    parser.add_argument("--refresh", action="store_true", help="rebuild customer_events")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
