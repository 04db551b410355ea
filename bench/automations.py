"""Automations at scale: a million customers entering at once, their messages sent, the latency
from a live event to its automation, and ten million waiting timers — in one run.

Parts, one function each, each on a store of its own under `--workdir`:

1. **entry** (`entry_and_send`): `--customers` people (an identify with a phone and a first
   name, and an SMS marketing consent each) imported through the tracking mapping and
   resolved (set-up, timed apart); a segment of everyone who consents to SMS marketing; an
   automation triggered by entering it that sends one SMS. Timed: the segment's recompute
   (its entries written as events), the runtime's tick that enters everyone and plans their
   sends, and delivery rounds until every message has reached an HTTP receiver on loopback
   (another process, the connector's documented request, batches of `sms.batch`), counted
   there. **Goal**: at least 5,000 sends a second on these 2 cores.
2. **latency** (`event_to_entry`): `parcours serve` (its automation loop on) under an open
   loop of `--rate` tracking events a second (bench/collect.py's load generator); beside it, a
   probe sends one `Bench Probe` event every 50 ms, which an automation waits for. Each
   probe's latency runs from its send to its instance's `entered_at`. **Goal**: p95 < 2 s at
   10,000 events a second.
3. **timers** (`waiting_timers`): a tick firing 10,000 due timers, alone and then beside
   `--timers` timers not yet due. **Goal**: the waiting ones do not slow the firing.
4. **dryrun** (`dry_run_month`): `--dry-customers` people signing up at random over a month,
   some browsing and a third ordering; `dry_run` of a welcome with a goal, a wait, a split on
   recent pages and two sends, replaying the 30 days at hourly and six-hourly ticks.

Peak memory (RSS) per part. Timings are never asserted; the machine may be shared: the load
average is printed before and after each part.

    python bench/automations.py --customers 1000000 --timers 10000000
    python bench/automations.py --customers 20000 --timers 200000 --parts entry timers dryrun
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

import parcours
from parcours.automations.clock import SimulatedClock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTS = ("entry", "latency", "timers", "dryrun")
GOAL_SENDS_PER_S = 5_000
GOAL_P95_S = 2.0
SECRET = "bench-gateway-secret"
NOON = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
"""The simulated instant the entry part runs at: outside quiet hours in every zone it uses."""
DUE = 10_000
SEND_BATCH = 50_000
"""Sends claimed per delivery round (the setting `send_batch`): fewer rounds, each statement
over more rows."""

RECEIVER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from receivers import HttpReceiver
with HttpReceiver(sys.argv[2]) as receiver:
    gateway = receiver.gateway
    print(json.dumps({"url": receiver.url}), flush=True)
    for line in sys.stdin:
        with gateway.lock:
            print(json.dumps({"delivered": len(gateway.delivered),
                              "offered": sum(gateway.offered.values()),
                              "requests": gateway.requests}), flush=True)
"""


def fresh(workdir: Path, name: str) -> None:
    """No store `name` (nor its log, nor the journal folder a killed server left) in `workdir`."""
    for stale in workdir.glob(f"{name}*"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# --- 1. a million customers entering at once ---------------------------------------------------


def people_file(path: Path, customers: int) -> Path:
    """An identify (phone, first name) and an SMS marketing consent per person, as JSON lines
    of the tracking mapping."""
    at = (NOON - dt.timedelta(days=30)).isoformat()
    with path.open("wb") as out:
        for i in range(customers):
            user = f"u{i}"
            out.write(
                orjson.dumps(
                    {
                        "type": "identify",
                        "messageId": f"i{i}",
                        "userId": user,
                        "timestamp": at,
                        "traits": {"phone": f"+3361{i:08d}", "first_name": f"Person{i}"},
                    }
                )
                + b"\n"
                + orjson.dumps(
                    {
                        "type": "track",
                        "event": "Consent Given",
                        "messageId": f"c{i}",
                        "userId": user,
                        "timestamp": at,
                        "properties": {"channel": "sms", "purpose": "marketing"},
                    }
                )
                + b"\n"
            )
    return path


class Receiver:
    """The SMS gateway's stand-in (tests/receivers.py) in a process of its own."""

    def __enter__(self) -> Receiver:
        tests = str(Path(__file__).resolve().parents[1] / "tests")
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, tests, SECRET],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = json.loads(self.process.stdout.readline())["url"]
        return self

    def counts(self) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("?\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def entry_and_send(workdir: Path, customers: int) -> dict[str, Any]:
    from parcours.automations.delivery import Delivery
    from parcours.automations.runtime import Runtime

    store = workdir / "entry.duckdb"
    fresh(workdir, "entry.duckdb")
    figures: dict[str, Any] = {"customers": customers, "load": [os.getloadavg()]}
    started = time.perf_counter()
    lines = people_file(workdir / "people.jsonl", customers)
    figures["write_file_s"] = time.perf_counter() - started
    with Receiver() as receiver:
        settings = {
            "quiet_hours": None,
            "send_batch": SEND_BATCH,
            "sms": {"url": receiver.url, "secret": SECRET},
        }
        with parcours.connect(store, automations=settings) as p:
            started = time.perf_counter()
            p.import_file(lines, source="bench", mapping="tracking")
            figures["import_and_resolve_s"] = time.perf_counter() - started
            started = time.perf_counter()
            p.segments.create(
                {
                    "name": "sms-marketing",
                    "where": {"consent": {"channel": "sms", "purpose": "marketing"}},
                }
            )
            figures["segment_s"] = time.perf_counter() - started
            figures["members"] = p.store.engine.scalar("SELECT count(*) FROM segment_members")
            clock = SimulatedClock(NOON)
            p.automations.publish(
                {
                    "name": "hello-sms",
                    "trigger": {"segment": {"name": "sms-marketing"}},
                    "steps": [
                        {
                            "id": "hello",
                            "send": {
                                "channel": "sms",
                                "purpose": "marketing",
                                "body": "Hello {{ traits.first_name }}",
                            },
                        }
                    ],
                },
                clock=clock,
            )
            started = time.perf_counter()
            tick = Runtime(p.store, clock=clock).tick()
            figures["tick_s"] = time.perf_counter() - started
            figures["entered"] = sum(tick.entered.values())
            figures["planned"] = sum(tick.planned.values())
            figures["tick_peak_gb"] = peak_gb()
            delivery = Delivery(p.store, clock=clock)
            started, rounds = time.perf_counter(), 0
            while delivery.has_due():
                delivery.run_once()
                rounds += 1
            figures["deliver_s"] = time.perf_counter() - started
            figures["rounds"] = rounds
            states = p.sql("SELECT state, count(*) AS n FROM automation_sends GROUP BY 1")
            figures["ledger"] = {r["state"]: r["n"] for r in states.to_pylist()}
        figures["received"] = receiver.counts()
    figures["peak_gb"] = peak_gb()
    figures["sends_per_s"] = figures["received"]["delivered"] / figures["deliver_s"]
    figures["enter_and_send_s"] = figures["tick_s"] + figures["deliver_s"]
    figures["load"].append(os.getloadavg())
    return figures


# --- 2. from a live event to its automation --------------------------------------------------


def event_to_entry(workdir: Path, rate: int, seconds: int) -> dict[str, Any]:
    import collect

    store = workdir / "latency.duckdb"
    fresh(workdir, "latency.duckdb")
    load = [os.getloadavg()]
    added = collect.parcours_cli(
        "sources", "add", "bench", "--channel", "app", "-f", "json", store=store
    )
    key = json.loads(added)[0]["write_key"]
    with parcours.connect(store) as p:  # published before its event first arrives
        p.automations.publish(
            {
                "name": "probe",
                "trigger": {"event": {"name": "Bench Probe"}},
                "entry": {"re_entry": "every_time"},
                "steps": [{"id": "done", "exit": {"reason": "probed"}}],
            }
        )
    batches = rate * seconds // collect.BATCH_SIZE
    bodies, _ = collect.write_workload(workdir, batches, 0, seed=7, rate=rate)
    server, url = collect.start_server(store, workdir / "server.log")
    memory = collect.PeakMemory(server.pid)
    sent: dict[str, float] = {}
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, auth=(key, ""), timeout=10) as client:
            while not stop.is_set():
                message = str(uuid.uuid4())
                at = time.time()
                client.post(
                    "/v1/track",
                    json={
                        "event": "Bench Probe",
                        "userId": f"probe-{message[:8]}",
                        "messageId": message,
                    },
                )
                sent[message] = at
                time.sleep(0.05)

    prober = threading.Thread(target=probe, daemon=True)
    try:
        prober.start()
        result = collect.run_phase(
            {
                "url": url,
                "key": key,
                "bodies": str(bodies),
                "concurrency": 64,
                "kind": "rate",
                "rate": rate,
                "first": 0,
                "last": batches,
            }
        )
        stop.set()
        prober.join()
        collect.stored_after(url)
        time.sleep(3)  # the last probes' ticks
        server_peak = memory.high_water_mb()
    finally:
        memory.stop()
        server.terminate()
        server.wait(timeout=60)
    with parcours.connect(store, read_only=True) as p:
        rows = p.sql(
            "SELECT split_part(entry_key, ':', 2) AS message, epoch(entered_at) AS entered "
            "FROM automation_instances WHERE automation = 'probe'"
        ).to_pylist()
    timed = sorted((sent[r["message"]], r["entered"] - sent[r["message"]]) for r in rows
                   if r["message"] in sent)  # fmt: skip
    latencies = sorted(latency for _, latency in timed)

    def q(x: float, of: list[float] = latencies) -> float | None:
        return of[min(len(of) - 1, int(x * len(of)))] if of else None

    # The p95 of each 10 s of the run: whether the latency holds or grows as the store does.
    start = timed[0][0] if timed else 0.0
    windows: dict[int, list[float]] = {}
    for at, latency in timed:
        windows.setdefault(int((at - start) // 10), []).append(latency)

    return {
        "rate": rate,
        "acknowledged_per_s": result["events_per_s"],
        "api_p99_ms": result["p99_ms"],
        "probes": len(sent),
        "entered": len(latencies),
        "p50_s": q(0.5),
        "p95_s": q(0.95),
        "max_s": latencies[-1] if latencies else None,
        "p95_per_10s": [q(0.95, sorted(w)) for _, w in sorted(windows.items())],
        "server_peak_mb": server_peak,
        "load": [*load, os.getloadavg()],
    }


# --- 3. ten million waiting timers -----------------------------------------------------------


def waiting_timers(workdir: Path, timers: int) -> dict[str, Any]:
    from parcours.automations.runtime import Runtime

    store = workdir / "timers.duckdb"
    fresh(workdir, "timers.duckdb")
    figures: dict[str, Any] = {"timers": timers, "due": DUE, "load": [os.getloadavg()]}
    with parcours.connect(store) as p:
        clock = SimulatedClock(NOON)
        p.automations.publish(
            {
                "name": "waits",
                "trigger": {"http": {}},
                "steps": [
                    {"id": "pause", "wait": "30d"},
                    {"id": "done", "exit": {"reason": "waited"}},
                ],
            },
            clock=clock,
        )
        engine = p.store.engine

        def waiting(count: int, offset: int, wake: dt.datetime) -> None:
            """`count` instances at the wait, their timers at `wake` (the columns in the
            order of store/schema.py)."""
            entered = NOON - dt.timedelta(days=30)
            engine.execute(
                "INSERT INTO automation_instances SELECT (hash('waits', i) >> 1)::BIGINT, "
                "'waits', 1, 'c' || i, 'k' || i, NULL, 'treated', 'pause', 'waiting', "
                f"?, ?, ?, NULL, NULL, NULL FROM range({offset}, {offset + count}) r(i)",
                [wake, entered, entered],
            )

        def fire() -> float:
            """Seconds for a tick firing DUE timers due a minute ago."""
            engine.execute("DELETE FROM automation_instances WHERE wake_at <= ?", [NOON])
            waiting(DUE, 10**9, NOON - dt.timedelta(minutes=1))
            runtime = Runtime(p.store, clock=clock)
            started = time.perf_counter()
            report = runtime.tick()
            assert report.fired == DUE, report
            return time.perf_counter() - started

        fire()  # once to warm up: the first tick of a process compiles its queries
        figures["alone_s"] = fire()
        started = time.perf_counter()
        waiting(timers, 0, NOON + dt.timedelta(days=10))
        figures["insert_s"] = time.perf_counter() - started
        figures["beside_s"] = fire()
        figures["store_gb"] = store.stat().st_size / 2**30
    figures["peak_gb"] = peak_gb()
    figures["load"].append(os.getloadavg())
    return figures


# --- 4. a month replayed -----------------------------------------------------------------------


def dry_log(path: Path, customers: int) -> int:
    """Sign-ups at random over a month, each with a few page views and, for a third, an
    order in store; returns the events written."""
    rng = random.Random(7)
    number = 0
    month = NOON - dt.timedelta(days=30)
    with path.open("wb") as out:

        def message(user: str, at: dt.datetime, event: str, channel: str = "web") -> None:
            nonlocal number
            number += 1
            out.write(
                orjson.dumps(
                    {
                        "type": "track",
                        "userId": user,
                        "messageId": f"m{number}",
                        "timestamp": at.isoformat(),
                        "event": event,
                        "context": {"channel": channel},
                    }
                )
                + b"\n"
            )

        for i in range(customers):
            at = month + dt.timedelta(seconds=rng.uniform(0, 30 * 86400))
            message(f"u{i}", at, "Signed Up")
            for _ in range(rng.randint(0, 4)):
                message(f"u{i}", at + dt.timedelta(hours=rng.uniform(1, 200)), "Page Viewed")
            if rng.random() < 0.3:
                hours = rng.uniform(1, 300)
                message(f"u{i}", at + dt.timedelta(hours=hours), "Order Completed", "store")
    return number


DRY_WELCOME: dict[str, Any] = {
    "name": "welcome",
    "trigger": {"event": {"name": "Signed Up"}},
    "holdout": 10,
    "entry": {"re_entry": "never"},
    "goal": {"event": {"name": "Order Completed"}, "within": "30d"},
    "steps": [
        {
            "id": "hello",
            "send": {"channel": "email", "purpose": "marketing", "subject": "Hi", "body": "Hello"},
        },
        {"id": "pause", "wait": "3d"},
        {
            "id": "which",
            "split": {
                "branches": [
                    {"when": {"events": {"name": "Page Viewed", "within": "7d"}}, "next": "nudge"}
                ],
                "else": "sms",
            },
        },
        {
            "id": "nudge",
            "send": {
                "channel": "email",
                "purpose": "marketing",
                "subject": "Hi",
                "body": "Still there?",
            },
            "next": "end",
        },
        {"id": "sms", "send": {"channel": "sms", "purpose": "marketing", "body": "Hello"}},
        {"id": "end", "exit": {}},
    ],
}


def dry_run_month(workdir: Path, customers: int) -> dict[str, Any]:
    from parcours.automations.dryrun import dry_run

    fresh(workdir, "dry.duckdb")
    figures: dict[str, Any] = {"customers": customers, "load": [os.getloadavg()]}
    figures["events"] = dry_log(workdir / "dry.jsonl", customers)
    with parcours.connect(workdir / "dry.duckdb") as p:
        p.import_file(workdir / "dry.jsonl", source="app", mapping="tracking")
        p.automations.publish(DRY_WELCOME, clock=SimulatedClock(NOON - dt.timedelta(days=30)))
        for hours in (1, 6):
            run = dry_run(
                p.store,
                "welcome",
                start=NOON - dt.timedelta(days=30),
                days=30,
                step=dt.timedelta(hours=hours),
            )
            figures[f"every_{hours}h"] = {
                "ticks": run.ticks,
                "seconds": run.seconds,
                "entered": run.entered,
                "held_out": run.held_out,
                "planned": run.planned,
            }
    figures["load"].append(os.getloadavg())
    return figures


# --- the report ------------------------------------------------------------------------------


def report(figures: dict[str, Any]) -> None:
    entry, latency, timers, dry = (figures.get(k) for k in PARTS)
    if entry:
        print(
            f"\n== {entry['customers']:,} customers entering one automation at once "
            f"(load {entry['load'][0][0]:.1f} → {entry['load'][1][0]:.1f})\n"
            f"set-up: the people file {entry['write_file_s']:.1f} s, import and resolve "
            f"{entry['import_and_resolve_s']:.1f} s\n"
            f"segment saved, {entry['members']:,} entries written as events: "
            f"{entry['segment_s']:.1f} s\n"
            f"tick: {entry['entered']:,} entered, {entry['planned']:,} sends planned in "
            f"{entry['tick_s']:.1f} s (peak {entry['tick_peak_gb']:.2f} GB)\n"
            f"delivery: {entry['received']['delivered']:,} delivered to the receiver "
            f"({entry['received']['offered']:,} offered, {entry['received']['requests']:,} "
            f"requests) in {entry['deliver_s']:.1f} s over {entry['rounds']} rounds: "
            f"{entry['sends_per_s']:,.0f} sends/s (goal ≥ {GOAL_SENDS_PER_S:,}); "
            f"ledger {entry['ledger']}\n"
            f"enter and send everyone: {entry['enter_and_send_s']:.1f} s; peak "
            f"{entry['peak_gb']:.2f} GB"
        )
    if latency:
        print(
            f"\n== event to entry under {latency['rate']:,} events/s "
            f"({latency['acknowledged_per_s']:,.0f} acknowledged/s, API p99 "
            f"{latency['api_p99_ms']:.0f} ms)\n"
            f"{latency['entered']} of {latency['probes']} probes entered: p50 "
            f"{latency['p50_s']:.2f} s, p95 {latency['p95_s']:.2f} s (goal < {GOAL_P95_S} s), "
            f"max {latency['max_s']:.2f} s; server peak {latency['server_peak_mb']:.0f} MB\n"
            f"p95 per 10 s of the run: "
            + ", ".join(f"{p:.2f} s" for p in latency["p95_per_10s"] if p is not None)
        )
    if timers:
        print(
            f"\n== firing {timers['due']:,} due timers: alone {timers['alone_s']:.2f} s, beside "
            f"{timers['timers']:,} waiting {timers['beside_s']:.2f} s (inserting them "
            f"{timers['insert_s']:.1f} s; store {timers['store_gb']:.2f} GB; peak "
            f"{timers['peak_gb']:.2f} GB)"
        )

    if dry:
        for hours in (1, 6):
            run = dry[f"every_{hours}h"]
            print(
                f"\n== dry run of a welcome over 30 days, {dry['customers']:,} customers "
                f"({dry['events']:,} events), {hours} h ticks ({run['ticks']} ticks): "
                f"{run['seconds']:.1f} s; entered {run['entered']:,}, held out "
                f"{run['held_out']}, planned {run['planned']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--timers", type=int, default=10_000_000)
    parser.add_argument("--rate", type=int, default=10_000, help="Live events a second.")
    parser.add_argument("--seconds", type=int, default=20, help="How long the live load runs.")
    parser.add_argument("--dry-customers", type=int, default=3_000)
    parser.add_argument("--parts", nargs="*", choices=PARTS, default=list(PARTS))
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/automations"))
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    arguments = parser.parse_args()
    arguments.workdir.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()}", flush=True)
    figures: dict[str, Any] = {}
    if "entry" in arguments.parts:
        figures["entry"] = entry_and_send(arguments.workdir, arguments.customers)
    if "latency" in arguments.parts:
        figures["latency"] = event_to_entry(arguments.workdir, arguments.rate, arguments.seconds)
    if "timers" in arguments.parts:
        figures["timers"] = waiting_timers(arguments.workdir, arguments.timers)
    if "dryrun" in arguments.parts:
        figures["dryrun"] = dry_run_month(arguments.workdir, arguments.dry_customers)
    report(figures)
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2, default=str))
    with contextlib.suppress(OSError):
        shutil.rmtree(arguments.workdir / "tmp")


if __name__ == "__main__":
    main()
