"""Start-up: what a command adds to its work (issue 12: at most 0.3 s over the work).

Each run is a fresh process, as a user's command is:

* `parcours --help`;
* `parcours journeys funnel STEPS --store S` (the 4-step funnel of bench/journeys.py);
* the same funnel through the Python API, timed in one process with the store already open:
  its work. The first call is shown apart (it reads the store's pages from disk); the work is
  the median of the calls after it.

Start-up is the command's wall time less the funnel's work: the interpreter, the imports,
the command line, opening the store, printing and exiting. The floor is what no code of
parcours's own spends: a process that imports the libraries a funnel command runs on (DuckDB,
Arrow, numpy, Typer with the pydantic it parses options with, Rich), opens the store, reads
one number and exits. Medians of `--repeat` runs.
With `--against SRC`, the same runs from another source tree (main's, say) are interleaved
with these, so that a busy machine slows both sides alike. `--imports` adds where the
command's imports go, by package (`python -X importtime`, which inflates every figure by
about a third: read it as shares, not seconds).

Python writes no bytecode cache when PYTHONDONTWRITEBYTECODE is set, and then compiles
parcours's modules at every start, as an installed package never does: the runs here keep the
cache in a folder of their own (`PYTHONPYCACHEPREFIX`) so that they measure what a user sees.
Timings are never asserted.

    python bench/startup.py --store parcours-demo/parcours.duckdb
    python bench/startup.py --store /tmp/small.duckdb --customers 1000   # built when missing
    python bench/startup.py --store S --against ../main/src --repeat 9 --imports
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from journeys import FUNNEL_STEPS

GOAL_SECONDS = 0.3
"""Issue 12: start-up adds at most 0.3 s to the work."""
SOURCE = Path(__file__).resolve().parents[1] / "src"
CACHE = Path(tempfile.gettempdir()) / "parcours-bench-pycache"

WORK = """
import json, sys, time
import parcours
steps = json.loads(sys.argv[2])
with parcours.connect(sys.argv[1], read_only=True) as p:
    seconds = []
    for _ in range(int(sys.argv[3])):
        started = time.perf_counter()
        p.journeys.funnel(steps)
        seconds.append(time.perf_counter() - started)
print(json.dumps(seconds))
"""
"""The funnel through the Python API, timed call by call with the store open."""

FLOOR = """
import sys
import duckdb, numpy, pyarrow, rich.console, rich.table, typer
from pydantic import BaseModel, TypeAdapter  # what Typer parses options with
with duckdb.connect(sys.argv[1], read_only=True) as con:
    con.sql("SELECT count(*) FROM customer_events").to_arrow_table()
"""
"""The libraries a funnel command runs on, and the store opened, without parcours."""


def environment(source: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(source), "COLUMNS": "100"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(CACHE / re.sub(r"\W", "_", str(source)))
    return env


def timed(command: list[str], source: Path) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) of one process."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(command, env=environment(source), capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = os.times()
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    cpu = after.children_user - before.children_user
    return wall, cpu + after.children_system - before.children_system


def parcours_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "parcours", *args]


def work(source: Path, store: Path, calls: int) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", WORK, str(store), json.dumps(FUNNEL_STEPS), str(calls)],
        env=environment(source),
        capture_output=True,
        text=True,
        check=True,
    )
    seconds: list[float] = json.loads(done.stdout)
    return seconds


def measure(sides: dict[str, Path], store: Path, repeat: int) -> dict[str, dict[str, Any]]:
    """Every side's runs, interleaved: run i of each side, then run i + 1 of each."""
    funnel = parcours_command("journeys", "funnel", *FUNNEL_STEPS, "--store", str(store))
    runs: dict[str, dict[str, list[float]]] = {
        name: {key: [] for key in ("help", "help_cpu", "command", "command_cpu")} for name in sides
    }
    floor: dict[str, list[float]] = {"command": [], "command_cpu": []}
    for source in sides.values():  # once unmeasured: the bytecode cache, the disk cache
        timed(funnel, source)
    for _ in range(repeat):
        for name, source in sides.items():
            wall, cpu = timed(parcours_command("--help"), source)
            runs[name]["help"].append(wall)
            runs[name]["help_cpu"].append(cpu)
            wall, cpu = timed(funnel, source)
            runs[name]["command"].append(wall)
            runs[name]["command_cpu"].append(cpu)
        wall, cpu = timed([sys.executable, "-c", FLOOR, str(store)], SOURCE)
        floor["command"].append(wall)
        floor["command_cpu"].append(cpu)
    figures: dict[str, dict[str, Any]] = {
        "floor": {key: statistics.median(values) for key, values in floor.items()}
    }
    for name, source in sides.items():
        calls = work(source, store, repeat + 1)
        median = {key: statistics.median(values) for key, values in runs[name].items()}
        median["first_call"], median["work"] = calls[0], statistics.median(calls[1:])
        median["start_up"] = median["command"] - median["work"]
        figures[name] = median
    return figures


def imports_by_package(source: Path, store: Path) -> Counter[str]:
    """Milliseconds of the funnel command's imports, by top-level package (self times)."""
    funnel = parcours_command("journeys", "funnel", *FUNNEL_STEPS, "--store", str(store))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *funnel[1:]],
        env=environment(source),
        capture_output=True,
        text=True,
        check=True,
    )
    spent: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*([\w.]+)", line)
        if found:
            spent[found.group(2).split(".")[0]] += int(found.group(1)) / 1000
    return spent


def build(store: Path, customers: int) -> None:
    print(f"building the demo ({customers:,} customers) into {store.parent} ...", flush=True)
    out = store.parent
    subprocess.run(
        parcours_command(
            "demo", "--customers", str(customers), "--out", str(out), "--store", str(store)
        ),
        env=environment(SOURCE),
        check=True,
        capture_output=True,
    )


def events_in(store: Path) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, parcours\n"
            "with parcours.connect(sys.argv[1], read_only=True) as p:\n"
            "    print(p.sql('SELECT count(*) FROM customer_events').column(0)[0].as_py())",
            str(store),
        ],
        env=environment(SOURCE),
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def report(figures: dict[str, dict[str, Any]], store: Path, repeat: int) -> None:
    print(
        f"\n{store}: {events_in(store):,} events; medians of {repeat} runs, each a process "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); wall seconds, "
        "CPU seconds (all threads) in brackets\n"
    )
    print(
        f"{'':>8} {'--help':>14} {'funnel command':>16} {'first call':>11} {'work':>6} "
        f"{'start-up':>9} {'over floor':>11}"
    )
    floor = figures.pop("floor")
    print(f"{'floor':>8} {'':>14} {floor['command']:>7.3f} ({floor['command_cpu']:.3f})")
    for name, f in figures.items():
        verdict = "met" if f["start_up"] <= GOAL_SECONDS else "not met"
        print(
            f"{name:>8} {f['help']:>6.3f} ({f['help_cpu']:.3f}) "
            f"{f['command']:>8.3f} ({f['command_cpu']:.3f}) {f['first_call']:>11.3f} "
            f"{f['work']:>6.3f} {f['start_up']:>9.3f} {f['start_up'] - floor['command']:>11.3f}"
            f"  (goal: start-up <= {GOAL_SECONDS} s, {verdict})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="A store with the demo's events.")
    parser.add_argument(
        "--customers", type=int, default=1000, help="Demo size when the store is built."
    )
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--against", type=Path, help="Another source tree to compare with.")
    parser.add_argument("--imports", action="store_true", help="Where the imports go.")
    args = parser.parse_args()
    if not args.store.exists():
        build(args.store, args.customers)
    sides = {"this": SOURCE}
    if args.against:
        sides["against"] = args.against.resolve()
    report(measure(sides, args.store, args.repeat), args.store, args.repeat)
    if args.imports:
        for name, source in sides.items():
            spent = imports_by_package(source, args.store)
            top = ", ".join(f"{package} {ms:.0f}" for package, ms in spent.most_common(12))
            print(f"\n{name}: imports {sum(spent.values()):.0f} ms (-X importtime): {top}")


if __name__ == "__main__":
    main()
