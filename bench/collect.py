"""Tracking API speed: events acknowledged per second, latency at fixed rates, and import beside it.

A real `parcours serve` on loopback with a fresh store; a load generator in another process posts
`/v1/batch` bodies of 100 Segment track messages, serialised beforehand, over keep-alive
connections. The server answers 200 only once a group commit has made the batch durable, so
events acknowledged per second are events stored per second.

* max throughput: `--concurrency` connections in a closed loop, each posting its next batch as
  soon as the last is answered (429 and 5xx are retried after a pause, as SDKs do);
* latency at fixed offered rates, open loop: each batch leaves at its scheduled time whatever is
  still outstanding, and its latency counts from that time, so a slow server cannot slow the
  clock down and hide its queue (coordinated omission);
* the server's peak RSS (the kernel's high-water mark, VmHWM);
* the same messages as JSON lines through `import_file(..., mapping="tracking")` in a fresh
  process: the limit for this store, since both paths end in the same transform and writer.

Goals (issue): at least 50,000 events/s acknowledged durably; p99 under 50 ms at 10,000 events/s.
Everything stays on loopback and the run stops by itself (a few minutes with the defaults).

    python bench/collect.py                      # 200k events, 128 connections, 10 s a rate
    python bench/collect.py --events 500000 --concurrency 64 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

BATCH_SIZE = 100
GOAL_EVENTS_PER_S = 50_000
GOAL_P99_MS, GOAL_P99_RATE = 50.0, 10_000
RETRY_PAUSE_S = 0.05
PHASE_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 300.0
"""A phase that has not finished by then is cut short (a stalled server must not hang the run)."""

EVENTS = [
    ("Product Viewed", 0.55),
    ("Product Added", 0.15),
    ("Checkout Started", 0.08),
    ("Order Completed", 0.05),
    ("Products Searched", 0.12),
    ("Promotion Clicked", 0.05),
]
CATEGORIES = ["shoes", "shirts", "bags", "hats", "coats", "socks"]
LOCALES = ["fr-FR", "en-GB", "de-DE", "es-ES", "it-IT", "nl-NL"]
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)


# --- the workload ----------------------------------------------------------------------------


def track_message(rng: random.Random, now: dt.datetime, jitter_ms: int = 2_000) -> dict[str, Any]:
    """One track message as analytics-python sends it: ids, properties, context, instants
    (it happened up to `jitter_ms` before `now`)."""
    name = rng.choices([e for e, _ in EVENTS], [w for _, w in EVENTS])[0]
    sku = f"sku-{rng.randrange(5_000):05d}"
    visitor = rng.randrange(200_000)
    properties: dict[str, Any] = {
        "product_id": sku,
        "category": rng.choice(CATEGORIES),
        "price": round(rng.uniform(5, 250), 2),
        "currency": "EUR",
    }
    if name == "Order Completed":
        properties |= {"order_id": uuid.UUID(int=rng.getrandbits(128)).hex, "revenue": 59.9}
    happened = now - dt.timedelta(milliseconds=rng.randrange(jitter_ms))
    message: dict[str, Any] = {
        "type": "track",
        "event": name,
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "anonymousId": f"anon-{visitor:06d}",
        "timestamp": happened.isoformat(timespec="milliseconds"),
        "properties": properties,
        "context": {
            "library": {"name": "analytics-python", "version": "2.3.3"},
            "ip": f"10.{visitor % 250}.{visitor // 250 % 250}.{rng.randrange(1, 250)}",
            "locale": rng.choice(LOCALES),
            "userAgent": USER_AGENT,
            "page": {
                "path": f"/p/{sku}",
                "url": f"https://shop.example.com/p/{sku}",
                "referrer": "https://www.google.com/",
            },
        },
        "integrations": {},
    }
    if visitor % 3 == 0:  # a third of visitors are logged in
        message["userId"] = f"user-{visitor:06d}"
    return message


def write_workload(
    workdir: Path, batches: int, imported: int, seed: int, rate: int | None = None
) -> tuple[Path, Path]:
    """Every batch body the run will send (one per line), and the messages of the first
    `imported` batches as JSON lines, for the import.

    Message ids are unique across the whole run, so no phase is helped by deduplication.
    With `rate` (events a second), each batch's events happened in the half second before
    it is due to be sent, as an SDK stamps them; without, all in the two seconds before now.
    """
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    bodies, lines = workdir / "batches.jsonl", workdir / "events.jsonl"
    with bodies.open("wb") as out_bodies, lines.open("wb") as out_lines:
        for number in range(batches):
            due = now if rate is None else now + dt.timedelta(seconds=number * BATCH_SIZE / rate)
            jitter = 2_000 if rate is None else 500
            messages = [track_message(rng, due, jitter) for _ in range(BATCH_SIZE)]
            sent_at = due.isoformat(timespec="milliseconds")
            out_bodies.write(orjson.dumps({"batch": messages, "sentAt": sent_at}) + b"\n")
            if number < imported:
                out_lines.write(b"\n".join(orjson.dumps(m) for m in messages) + b"\n")
    return bodies, lines


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def parcours_cli(*args: str, store: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "parcours", *args, "--store", str(store)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def start_server(store: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`parcours serve` on a free loopback port, its log in `log`; waits for /health."""
    port = free_port()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "parcours", "serve", "--port", str(port), "--store", str(store)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"parcours serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("parcours serve did not answer /health within 30s")


class PeakMemory:
    """The server's RSS, sampled every 50 ms, with the kernel's own high-water mark."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.phase_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                rss = self.process.memory_info().rss
            except psutil.Error:
                return
            self.peak, self.phase_peak = max(self.peak, rss), max(self.phase_peak, rss)

    def next_phase(self) -> float:
        """The peak since the last call, in MB."""
        peak, self.phase_peak = self.phase_peak, 0
        return peak / 2**20

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far, all its threads (user + system)."""
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def high_water_mb(self) -> float:
        """VmHWM (Linux): the peak the kernel saw, including between samples."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return self.peak / 2**20
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return max(kb / 1024, self.peak / 2**20)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# --- the load generator (its own process) ----------------------------------------------------


def client_main(spec: dict[str, Any]) -> None:
    """Run one phase as `spec` says; print what happened as JSON."""
    bodies = []
    with Path(spec["bodies"]).open("rb") as lines:
        for number, line in enumerate(lines):
            if number >= spec["last"]:
                break
            if number >= spec["first"]:
                bodies.append(line.rstrip(b"\n"))
    cpu, started = time.process_time(), time.perf_counter()
    outcome = asyncio.run(_phase(spec, bodies))
    outcome["client_cpu_s"] = time.process_time() - cpu
    outcome["client_wall_s"] = time.perf_counter() - started
    sys.stdout.write(json.dumps(outcome))


OPEN_LOOP_CONNECTIONS = 512
"""Open loop: up to 512 requests outstanding, each on a keep-alive connection of its own."""


async def _phase(spec: dict[str, Any], bodies: list[bytes]) -> dict[str, Any]:
    token = base64.b64encode(f"{spec['key']}:".encode()).decode()
    url = urllib.parse.urlsplit(spec["url"])
    head = (
        f"Host: {url.netloc}\r\nAuthorization: Basic {token}\r\nContent-Type: application/json\r\n"
    ).encode()
    closed = spec["kind"] == "max"
    count = spec["concurrency"] if closed else OPEN_LOOP_CONNECTIONS
    connections = Connections(url.hostname or "127.0.0.1", url.port or 80, head, count)
    load = Load(time.monotonic() + PHASE_TIMEOUT_S)
    try:
        if closed:
            await load.closed_loop(connections, bodies)
        else:
            await load.open_loop(connections, bodies, spec["rate"])
    finally:
        connections.close()
    return load.outcome()


class TransportError(Exception):
    """The connection failed or the answer was not HTTP: counted, then the batch is retried."""


class Connection:
    """One keep-alive HTTP/1.1 connection posting prepared bodies and reading the status back.

    A few lines of asyncio rather than an HTTP client library: the load generator shares the
    machine's 2 cores with the server, and httpx spent about 13 microseconds of CPU per event
    (1.3 ms per request), a third of what the server spends. The server sees the same requests.
    """

    def __init__(self, host: str, port: int, head: bytes) -> None:
        self.host, self.port, self.head = host, port, head
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> int:
        reused = self.streams is not None
        try:
            return await self._exchange(path, body)
        except TransportError:
            if not reused:
                raise
        # A kept-alive connection the server closed while it was idle: once more, on a new one.
        return await self._exchange(path, body)

    async def _exchange(self, path: str, body: bytes) -> int:
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            writer.write(
                b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n"
                % (path.encode(), self.head, len(body))
            )
            writer.write(body)
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionResetError("closed by the server")
            status = int(status_line.split(b" ", 2)[1])
            length, keep = 0, True
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"connection":
                    keep = value.strip().lower() != b"close"
            await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
            self.close()
            raise TransportError(type(error).__name__) from error
        if not keep:
            self.close()
        return status

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class Connections:
    """A fixed set of connections; a request takes the one freed last (the others may idle
    out of the server's keep-alive), or waits for one."""

    def __init__(self, host: str, port: int, head: bytes, count: int) -> None:
        self.all = [Connection(host, port, head) for _ in range(count)]
        self.free: asyncio.LifoQueue[Connection] = asyncio.LifoQueue()
        for connection in self.all:
            self.free.put_nowait(connection)

    async def post(self, path: str, body: bytes) -> int:
        connection = await self.free.get()
        try:
            return await connection.post(path, body)
        finally:
            self.free.put_nowait(connection)

    def close(self) -> None:
        for connection in self.all:
            connection.close()


class Load:
    """Batches sent, their latencies, and what the server answered."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.latencies_ms: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.acknowledged = 0
        self.first_sent = self.last_answered = 0.0

    async def send(self, connections: Connections, body: bytes, since: float) -> None:
        """Post until acknowledged; latency from `since` (the scheduled time when open loop)."""
        while time.monotonic() < self.deadline:
            try:
                status = str(await connections.post("/v1/batch", body))
            except TransportError as error:
                status = str(error)
            self.statuses[status] += 1
            if status == "200":
                self.last_answered = time.monotonic()
                self.latencies_ms.append((time.perf_counter() - since) * 1000)
                self.acknowledged += 1
                return
            await asyncio.sleep(RETRY_PAUSE_S)

    async def closed_loop(self, connections: Connections, bodies: list[bytes]) -> None:
        queue = iter(bodies)  # shared by the workers: one event loop, no lock needed

        async def worker() -> None:
            for body in queue:
                if time.monotonic() > self.deadline:
                    return
                await self.send(connections, body, time.perf_counter())

        self.first_sent = time.monotonic()
        await asyncio.gather(*(worker() for _ in connections.all))

    async def open_loop(self, connections: Connections, bodies: list[bytes], rate: float) -> None:
        interval = BATCH_SIZE / rate
        start_mono, start_perf = time.monotonic() + 0.05, time.perf_counter() + 0.05
        self.first_sent = start_mono
        sending = []
        for i, body in enumerate(bodies):
            delay = start_mono + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sending.append(
                asyncio.create_task(self.send(connections, body, start_perf + i * interval))
            )
        await asyncio.gather(*sending)

    def outcome(self) -> dict[str, Any]:
        seconds = max(self.last_answered - self.first_sent, 1e-9)
        ordered = sorted(self.latencies_ms)

        def quantile(q: float) -> float | None:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None

        return {
            "batches": self.acknowledged,
            "events": self.acknowledged * BATCH_SIZE,
            "seconds": seconds,
            "events_per_s": self.acknowledged * BATCH_SIZE / seconds,
            "p50_ms": quantile(0.50),
            "p99_ms": quantile(0.99),
            "max_ms": ordered[-1] if ordered else None,
            "statuses": dict(self.statuses),
        }


def stored_after(url: str) -> float:
    """Seconds until the server has stored everything it acknowledged (its journal backlog is
    empty): each rate is then measured on a server that keeps up, not one still storing the
    burst before it. That wait is reported, as how long a burst takes to store."""
    started = time.perf_counter()
    while httpx.get(f"{url}/health", timeout=10).json()["backlog_bytes"]:
        if time.perf_counter() - started > DRAIN_TIMEOUT_S:
            raise RuntimeError(f"the server stored nothing more in {DRAIN_TIMEOUT_S} s")
        time.sleep(0.1)
    return time.perf_counter() - started


def run_phase(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--client", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=PHASE_TIMEOUT_S + 60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# --- the import path -------------------------------------------------------------------------


def measure_import(lines: Path, store: Path) -> dict[str, float]:
    """`import_file` of the same messages into a fresh store, in a fresh process."""
    code = f"""
import json, resource, time
import parcours
started = time.perf_counter()
with parcours.connect({str(store)!r}) as p:
    summary = p.import_file({str(lines)!r}, source="bench", mapping="tracking")
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "records": summary.records,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["events_per_s"] = result["records"] / result["seconds"]
    return result


def stored_events(store: Path) -> int:
    import parcours

    with parcours.connect(store, read_only=True) as p:
        return int(p.sql("SELECT count(*) AS n FROM events").column(0)[0].as_py())


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = args.out / f"{args.events}"
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("*.duckdb*"):
        stale.unlink()
    max_batches = args.events // BATCH_SIZE
    rate_batches = [int(rate * args.duration) // BATCH_SIZE for rate in args.rates]
    warmup = 10
    started, total = time.perf_counter(), warmup + max_batches + sum(rate_batches)
    bodies, lines = write_workload(workdir, total, warmup + max_batches, args.seed)
    print(
        f"workload: {total:,} batches of {BATCH_SIZE} in {time.perf_counter() - started:.1f}s",
        flush=True,
    )

    store = workdir / "api.duckdb"
    key = json.loads(
        parcours_cli("sources", "add", "bench", "--channel", "web", "-f", "json", store=store)
    )[0]["write_key"]
    server, url = start_server(store, workdir / "server.log")
    memory = PeakMemory(server.pid)
    phases: list[dict[str, Any]] = []
    try:
        spec = {"url": url, "key": key, "bodies": str(bodies), "concurrency": args.concurrency}
        run_phase({**spec, "kind": "max", "first": 0, "last": warmup, "concurrency": 4})
        memory.next_phase()
        first = warmup
        plan = [("max", None, max_batches)] + [
            ("rate", rate, n) for rate, n in zip(args.rates, rate_batches, strict=True)
        ]
        for kind, rate, count in plan:
            cpu = memory.cpu_seconds()
            result = run_phase(
                {**spec, "kind": kind, "rate": rate, "first": first, "last": first + count}
            )
            result |= {
                "phase": kind,
                "offered_per_s": rate,
                "server_peak_mb": memory.next_phase(),
                # The client reads its bodies before it sends; the server is idle meanwhile.
                "server_cpu": (memory.cpu_seconds() - cpu) / result["seconds"],
            }
            result["stored_after_s"] = stored_after(url)
            phases.append(result)
            print_row(result, args.concurrency)
            first += count
        health = httpx.get(f"{url}/health", timeout=10).json()
        server_peak = memory.high_water_mb()
    finally:
        memory.stop()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    acknowledged = sum(p["events"] for p in phases) + warmup * BATCH_SIZE
    stored = stored_events(store)

    # The import reads what the server was sent in the warm-up and the max phase.
    imported = measure_import(lines, workdir / "import.duckdb")
    api_max = phases[0]["events_per_s"]
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "batch_size": BATCH_SIZE,
        "concurrency": args.concurrency,
        "phases": phases,
        "server_peak_rss_mb": server_peak,
        "server_health": health,
        "acknowledged_events": acknowledged,
        "stored_events": stored,
        "import": imported,
        "api_over_import": api_max / imported["events_per_s"],
    }
    print_summary(results)
    if not args.keep:
        for produced in [*workdir.glob("*.duckdb*"), *workdir.glob("*.jsonl")]:
            if produced.is_dir():
                shutil.rmtree(produced)  # an empty journal left by the server
            else:
                produced.unlink()
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results: {workdir / 'results.json'}")
    return results


HEADER = (
    f"{'phase':<18}{'offered ev/s':>13}{'acked ev/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
    f"{'max ms':>9}{'retries':>9}{'client CPU':>12}{'server CPU':>12}{'server MB':>11}"
    f"{'stored +s':>10}"
)


def print_row(result: dict[str, Any], concurrency: int) -> None:
    if result["phase"] == "max":
        print(HEADER, flush=True)
    name = f"max ({concurrency} conn)" if result["phase"] == "max" else "open loop"
    offered = f"{result['offered_per_s']:,.0f}" if result["offered_per_s"] else "-"
    retries = sum(n for status, n in result["statuses"].items() if status != "200")
    cpu = result["client_cpu_s"] / max(result["client_wall_s"], 1e-9)
    print(
        f"{name:<18}{offered:>13}{result['events_per_s']:>12,.0f}{result['p50_ms']:>9.1f}"
        f"{result['p99_ms']:>9.1f}{result['max_ms']:>9.1f}{retries:>9,}{cpu:>12.0%}"
        f"{result['server_cpu']:>12.0%}{result['server_peak_mb']:>11,.0f}"
        f"{result['stored_after_s']:>10.1f}",
        flush=True,
    )


def print_summary(results: dict[str, Any]) -> None:
    imported, phases = results["import"], results["phases"]
    print(
        f"{'import_file':<18}{'-':>13}{imported['events_per_s']:>12,.0f}{'':>9}{'':>9}{'':>9}"
        f"{'':>9}{'':>12}{'':>12}{imported['peak_mb']:>11,.0f}"
    )
    print(
        f"server peak RSS {results['server_peak_rss_mb']:,.0f} MB (VmHWM); "
        f"stored {results['stored_events']:,} of {results['acknowledged_events']:,} "
        "acknowledged events"
    )
    print(f"ratio API / import: {results['api_over_import']:.2f}")
    api_max = phases[0]["events_per_s"]
    at_goal = [p for p in phases if p["offered_per_s"] == GOAL_P99_RATE]
    verdict = "met" if api_max >= GOAL_EVENTS_PER_S else "NOT met"
    print(f"goal >= {GOAL_EVENTS_PER_S:,} events/s acknowledged: {verdict} ({api_max:,.0f})")
    if at_goal:
        p99 = at_goal[0]["p99_ms"]
        verdict = "met" if p99 < GOAL_P99_MS else "NOT met"
        print(
            f"goal p99 < {GOAL_P99_MS:g} ms at {GOAL_P99_RATE:,} events/s: {verdict} ({p99:.1f} ms)"
        )


def main() -> None:
    if sys.argv[1:2] == ["--client"]:
        client_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events in the max phase")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds at each rate")
    parser.add_argument("--concurrency", type=int, default=128, help="connections, max phase")
    parser.add_argument(
        "--rates",
        type=int,
        nargs="*",
        default=[1_000, 5_000, 10_000],
        help="offered rates, events/s",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out/collect"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the stores and the workload")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
