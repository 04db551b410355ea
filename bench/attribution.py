"""Attribution: exact Markov and Shapley on 1M journeys next to ChannelAttribution, in one run.

The workload follows the set-up of ../shared/reference/anchors-python-peers.md §2.1 (10
channels, geometric path length with mean 2.86 capped at 20, logistic conversion about 23 %,
one row per journey; its generator is not published, so the rest is this bench's own):
`--journeys` synthetic journeys over 10 marketing channels; each touch is the previous one
again with probability 0.25 (`email > email`, as in ChannelAttribution's own data), else a
channel drawn by popularity (search 24 % ... push 3 %); a journey converts with a logistic
probability (a lift per distinct channel touched, a small one per extra touch), its intercept
set so that 23 % convert.
One row per journey (`conversions` 1 or 0, `nulls` the other), then the distinct paths with
their sums (134,535 at 1M journeys, seed 7). Both are written to Parquet once; every side reads
the same files.

The sides, each in a fresh process (its peak RSS its own), the best of `--repeat` runs, the
input prepared before the clock starts (an Arrow table for parcours, a pandas DataFrame with
`path` joined by " > " for ChannelAttribution):

* **parcours** `attribute()` on the distinct paths: every model but time decay. Also its
  pieces: the Markov removal effects (`transitions_query` + `markov_removal_effects`, the
  exact solve) and `path_credit_query` (first, last, linear, position-based and Shapley in one
  query, so its time is an upper bound for Shapley's); the same with DuckDB on one thread;
  and `attribute()` on the 1M journey rows, not aggregated.
* **ChannelAttribution** 2.2.5 (GPL-3.0, a benchmark-only dependency) `markov_model`, order 1,
  seed 0, one core, on the distinct paths at the default `conv_par` 0.05 and at 0.01, and on the
  journey rows (the issue's set-up: 1.9 s there); `heuristic_models` on both.

Checked: first/last/linear touch equal ChannelAttribution's (counts exactly, linear to 1e-6);
parcours gives the same credit from the journeys as from the distinct paths; the Markov and
Shapley credits add up to the conversions. Reported: how far each ChannelAttribution run's
Monte-Carlo credit is from the exact one (max and mean relative difference per channel, and
its own convergence measure, the L1 distance over the conversions). Goal (issue 7): exact
Markov + Shapley at least 2x faster than `markov_model` on the same paths. Timings are never
asserted; the machine is shared, so the load average is printed before each side.

Needs ChannelAttribution (an sdist: gcc builds it in 1-2 minutes): `pip install -e '.[bench]'`.

    python bench/attribution.py                          # 1M journeys
    python bench/attribution.py --journeys 100000 --repeat 5
    python bench/attribution.py --skip-generate          # the kept Parquet files again
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from measure import Runs

GOAL_SPEEDUP = 2.0
ISSUE_PEER_S = 1.9
"""ChannelAttribution's markov_model on 1M journey rows in the issue (and the reference note)."""

CHANNELS = (
    "search",
    "social",
    "display",
    "email",
    "affiliate",
    "direct",
    "video",
    "referral",
    "sms",
    "push",
)
POPULARITY = (0.24, 0.18, 0.14, 0.11, 0.09, 0.07, 0.06, 0.05, 0.03, 0.03)
LIFT = (0.5, 0.1, -0.3, 0.6, 0.4, 0.8, 0.0, 0.5, 0.3, 0.2)
"""Each channel's effect on the log-odds of converting, when the journey touches it."""
PER_TOUCH = 0.15
MEAN_LENGTH, MAX_LENGTH, REPEAT = 2.86, 20, 0.25
CONVERSION_RATE = 0.23
SEPARATOR = " > "

HEURISTICS = {"first_touch": "first_touch", "last_touch": "last_touch", "linear": "linear_touch"}


def need_peer() -> None:
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its banner
            import ChannelAttribution  # noqa: F401
            import pandas  # noqa: F401
    except ImportError as error:
        sys.exit(
            f"bench/attribution.py compares parcours with ChannelAttribution, and {error.name} "
            "is not installed in this environment.\nInstall the benchmark extra: "
            "pip install -e '.[bench]'   (ChannelAttribution builds from source with gcc)"
        )


# --- the workload ----------------------------------------------------------------------------


def generate(journeys: int, seed: int) -> pa.Table:
    """One row per journey: touchpoints, conversions (0 or 1), nulls (1 or 0)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.geometric(1 / MEAN_LENGTH, journeys), MAX_LENGTH)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    touches = int(offsets[-1])
    fresh = rng.choice(len(CHANNELS), size=touches, p=POPULARITY)
    # A repeat takes the latest fresh draw before it; a journey's first touch is always fresh.
    repeat = rng.random(touches) < REPEAT
    repeat[offsets[:-1]] = False
    source = np.where(repeat, 0, np.arange(touches))
    channel = fresh[np.maximum.accumulate(source)]

    touched = np.bitwise_or.reduceat(np.left_shift(1, channel), offsets[:-1])
    lift = sum(np.where(touched & (1 << c), LIFT[c], 0.0) for c in range(len(CHANNELS)))
    lift = lift + PER_TOUCH * (lengths - 1)
    intercept = _intercept(lift, CONVERSION_RATE)
    converts = rng.random(journeys) < 1 / (1 + np.exp(-(intercept + lift)))

    names = pa.array(CHANNELS).take(pa.array(channel))
    return pa.table(
        {
            "touchpoints": pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), names),
            "conversions": pa.array(converts.astype(np.int64)),
            "nulls": pa.array((~converts).astype(np.int64)),
        }
    )


def _intercept(lift: Any, rate: float) -> float:
    """The intercept at which the mean conversion probability is `rate` (bisection)."""
    import numpy as np

    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        if float(np.mean(1 / (1 + np.exp(-(middle + lift))))) < rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def aggregate(journeys: pa.Table) -> pa.Table:
    """The distinct paths with their conversions and non-conversions."""
    from parcours.engine.duckdb import DuckDBEngine

    with DuckDBEngine(None) as engine, engine.registered("bench_journeys", journeys):
        return engine.query(
            "SELECT touchpoints, sum(conversions)::BIGINT AS conversions, "
            "sum(nulls)::BIGINT AS nulls FROM bench_journeys "
            "GROUP BY touchpoints ORDER BY touchpoints"
        )


def write_workload(workdir: Path, journeys: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    table = generate(journeys, seed)
    paths = aggregate(table)
    workdir.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, workdir / "journeys.parquet")
    pq.write_table(paths, workdir / "paths.parquet")
    lengths = pc.list_value_length(table.column("touchpoints"))
    shape = {
        "journeys": table.num_rows,
        "paths": paths.num_rows,
        "touches": int(pc.sum(lengths).as_py()),
        "mean_length": float(pc.mean(lengths).as_py()),
        "max_length": int(pc.max(lengths).as_py()),
        "conversions": int(pc.sum(table.column("conversions")).as_py()),
        "conversion_rate": float(pc.mean(table.column("conversions")).as_py()),
        "seed": seed,
        "seconds": time.perf_counter() - started,
    }
    (workdir / "workload.json").write_text(json.dumps(shape))
    return shape


# --- the measured sides (each runs in a child process) ---------------------------------------


def memory_mb(field: str) -> float:
    """`VmRSS` (now) or `VmHWM` (peak) of this process image from /proc/self/status; not
    `ru_maxrss`, which a child inherits from its parent at exec."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ca_frame(table: pa.Table) -> Any:
    """ChannelAttribution's input: `path` (channels joined by " > "), conversions, nulls."""
    return pa.table(
        {
            "path": pc.binary_join(table.column("touchpoints"), SEPARATOR),
            "total_conversions": table.column("conversions"),
            "total_null": table.column("nulls"),
        }
    ).to_pandas()


def credits_of(result: Any) -> dict[str, dict[str, float]]:
    models = ("markov", "removal_effect", "shapley", *HEURISTICS)
    return {m: {r["touchpoint"]: float(r[m]) for r in result.by_touchpoint} for m in models}


def child_parcours(spec: dict[str, Any]) -> dict[str, Any]:
    from parcours.journeys.attribution import attribute

    paths = pq.read_table(spec["input"])
    runs = Runs()
    baseline = memory_mb("VmRSS")
    for _ in range(spec["repeat"]):
        with runs.run():
            result = attribute(paths)
    return {**runs.figures(), "baseline_mb": baseline, "credit": credits_of(result)}


def child_parcours_pieces(spec: dict[str, Any]) -> dict[str, Any]:
    """The Markov removal effects and the other models' credit, each timed alone, as
    `attribute()` runs them (the touches as arrays first, then each walk over them)."""
    from parcours.journeys.attribution import _Touches, markov_removal_effects, path_credit

    paths = pq.read_table(spec["input"])
    markov, credit = Runs(), Runs()
    baseline = memory_mb("VmRSS")
    for _ in range(spec["repeat"]):
        with markov.run():
            solved = markov_removal_effects(_Touches.of(paths))
        with credit.run():
            path_credit(_Touches.of(paths))
    return {
        "markov": markov.figures(),
        "path_credit": credit.figures(),
        "baseline_mb": baseline,
        "states": len(solved.removal_effects),
    }


def child_ca_markov(spec: dict[str, Any]) -> dict[str, Any]:
    with contextlib.redirect_stdout(io.StringIO()):  # its banner
        import ChannelAttribution as ca

    data = ca_frame(pq.read_table(spec["input"]))
    baseline = memory_mb("VmRSS")
    runs = Runs()
    for _ in range(spec["repeat"]):
        with runs.run():
            result = ca.markov_model(
                data,
                "path",
                "total_conversions",
                var_null="total_null",
                order=1,
                seed=spec["seed"],
                conv_par=spec["conv_par"],
                ncore=spec["ncore"],
                verbose=False,
                flg_pro=False,
            )
    credit = dict(zip(result["channel_name"], result["total_conversions"], strict=True))
    return {
        **runs.figures(),
        "baseline_mb": baseline,
        "credit": {"markov": {k: float(v) for k, v in credit.items()}},
    }


def child_ca_heuristic(spec: dict[str, Any]) -> dict[str, Any]:
    with contextlib.redirect_stdout(io.StringIO()):
        import ChannelAttribution as ca

    data = ca_frame(pq.read_table(spec["input"]))
    baseline = memory_mb("VmRSS")
    runs = Runs()
    for _ in range(spec["repeat"]):
        with runs.run():
            result = ca.heuristic_models(data, "path", "total_conversions", flg_pro=False)
    table = result.set_index("channel_name")
    return {
        **runs.figures(),
        "baseline_mb": baseline,
        "credit": {
            ours: table[theirs].astype(float).to_dict() for ours, theirs in HEURISTICS.items()
        },
    }


CHILDREN = {
    "parcours": child_parcours,
    "parcours_pieces": child_parcours_pieces,
    "ca_markov": child_ca_markov,
    "ca_heuristic": child_ca_heuristic,
}


def child_main(spec: dict[str, Any]) -> None:
    outcome = CHILDREN[spec["kind"]](spec)
    outcome["peak_mb"] = memory_mb("VmHWM")
    sys.stdout.write("\n" + json.dumps(outcome) + "\n")


def measure(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One side in a fresh process; its figures, and the load average when it started."""
    load = os.getloadavg()
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"stopped after {timeout:,.0f} s", "load": load}
    if done.returncode != 0:
        return {"failed": f"exit {done.returncode}: {done.stderr.strip()[-1500:]}", "load": load}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}


# --- the sides and the checks ----------------------------------------------------------------


def sides(workdir: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    paths, journeys = str(workdir / "paths.parquet"), str(workdir / "journeys.parquet")
    ca = {"kind": "ca_markov", "seed": args.seed_ca, "ncore": args.ca_ncore}
    return {
        "parcours": {"kind": "parcours", "input": paths},
        "parcours_pieces": {"kind": "parcours_pieces", "input": paths},
        "parcours_journeys": {"kind": "parcours", "input": journeys},
        "ca_markov": {**ca, "input": paths, "conv_par": 0.05},
        "ca_markov_0.01": {**ca, "input": paths, "conv_par": 0.01},
        "ca_markov_journeys": {**ca, "input": journeys, "conv_par": 0.05},
        "ca_heuristic": {"kind": "ca_heuristic", "input": paths},
        "ca_heuristic_journeys": {"kind": "ca_heuristic", "input": journeys},
    }


NAMES = {
    "parcours": "parcours attribute(), paths",
    "parcours_pieces": "  Markov: transitions + exact solve",
    "parcours_pieces_credit": "  heuristics + Shapley",
    "parcours_journeys": "parcours attribute(), journeys",
    "ca_markov": "CA markov_model 0.05, paths",
    "ca_markov_0.01": "CA markov_model 0.01, paths",
    "ca_markov_journeys": "CA markov_model 0.05, journeys",
    "ca_heuristic": "CA heuristic_models, paths",
    "ca_heuristic_journeys": "CA heuristic_models, journeys",
}


def accuracy(theirs: dict[str, float], exact: dict[str, float], conversions: int) -> dict[str, Any]:
    """How far a Monte-Carlo credit is from the exact one, per channel and in all."""
    relative = {c: abs(theirs.get(c, 0.0) - x) / x for c, x in exact.items() if x > 0}
    worst = max(relative, key=relative.__getitem__)
    return {
        "max_relative": relative[worst],
        "max_relative_channel": worst,
        "mean_relative": sum(relative.values()) / len(relative),
        "l1_over_conversions": sum(abs(theirs.get(c, 0.0) - x) for c, x in exact.items())
        / conversions,
        "relative": relative,
    }


def checks(results: dict[str, Any], conversions: int) -> dict[str, bool | None]:
    def credit(side: str) -> dict[str, dict[str, float]] | None:
        measured = results.get(side)
        return None if not measured or "failed" in measured else measured["credit"]

    ours, raw = credit("parcours"), credit("parcours_journeys")
    found: dict[str, bool | None] = {}
    for side, mine in (("ca_heuristic", ours), ("ca_heuristic_journeys", raw)):
        theirs = credit(side)
        for model in HEURISTICS:
            found[f"{model} = {side}"] = (
                None
                if mine is None or theirs is None
                else set(mine[model]) == set(theirs[model])
                and all(
                    abs(mine[model][c] - v) <= (1e-6 if model == "linear" else 0.0)
                    for c, v in theirs[model].items()
                )
            )
    found["journeys = paths (parcours, every model)"] = (
        None
        if ours is None or raw is None
        else all(
            abs(raw[model][c] - v) <= 1e-6 * max(1.0, abs(v))
            for model in ours
            for c, v in ours[model].items()
        )
    )
    for model in ("markov", "shapley"):
        found[f"{model} adds up to the conversions"] = (
            None if ours is None else abs(sum(ours[model].values()) - conversions) < 1e-3
        )
    return found


# --- the report ------------------------------------------------------------------------------


def figure(measured: dict[str, Any] | None, key: str) -> float | None:
    return None if not measured or "failed" in measured else float(measured[key])


def ratios(results: dict[str, Any], key: str) -> dict[str, float | None]:
    """Peer over parcours, in wall seconds (`key` "seconds") or CPU seconds ("cpu_seconds",
    all threads: fairer on a loaded machine, and DuckDB uses both cores where
    ChannelAttribution uses one)."""
    pieces = results.get("parcours_pieces")
    markov_shapley = (
        pieces["markov"][key] + pieces["path_credit"][key]
        if pieces and "failed" not in pieces
        else None
    )
    ca, ours = figure(results.get("ca_markov"), key), figure(results.get("parcours"), key)

    def over(peer: float | None, mine: float | None) -> float | None:
        return peer / mine if peer and mine else None

    return {
        "CA markov 0.05 / Markov + Shapley": over(ca, markov_shapley),
        "CA markov 0.05 / attribute()": over(ca, ours),
        "CA markov 0.01 / attribute()": over(figure(results.get("ca_markov_0.01"), key), ours),
        "CA on journeys / attribute() on journeys": over(
            figure(results.get("ca_markov_journeys"), key),
            figure(results.get("parcours_journeys"), key),
        ),
        "issue's 1.9 s / attribute()": over(ISSUE_PEER_S, ours) if key == "seconds" else None,
    }


def fmt_load(load: Sequence[float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def row(name: str, measured: dict[str, Any], peak: dict[str, Any] | None = None) -> str:
    if "failed" in measured:
        return f"{name:<36}{measured['failed']}"
    memory = peak or measured
    runs = " ".join(f"{r:.2f}" for r in measured["runs"])
    return (
        f"{name:<36}{measured['seconds']:>8.3f}{measured['cpu_seconds']:>8.2f}"
        f"{memory['peak_mb']:>9,.0f}{memory['baseline_mb']:>9,.0f}   {runs}"
    )


def print_report(report: dict[str, Any]) -> None:
    shape, results = report["workload"], report["results"]
    print(
        f"\n{shape['journeys']:,} journeys, {shape['paths']:,} distinct paths, "
        f"{shape['touches']:,} touches (mean {shape['mean_length']:.2f}, max "
        f"{shape['max_length']}), {shape['conversions']:,} conversions "
        f"({shape['conversion_rate']:.1%}), {len(CHANNELS)} channels"
    )
    print(f"{'':<36}{'best s':>8}{'cpu s':>8}{'peak MB':>9}{'base MB':>9}   runs  (load before)")
    for side, measured in results.items():
        if side == "parcours_pieces" and "failed" not in measured:
            print(
                row(NAMES[side], measured["markov"], measured) + f"  ({fmt_load(measured['load'])})"
            )
            print(row(NAMES["parcours_pieces_credit"], measured["path_credit"], measured))
            continue
        load = f"  ({fmt_load(measured['load'])})" if "load" in measured else ""
        print(row(NAMES[side], measured) + load)
    print("speed-up (ChannelAttribution / parcours):      wall     cpu")
    wall, cpu = report["ratios"]["wall"], report["ratios"]["cpu"]
    for name, value in wall.items():
        verdict = ""
        if name.endswith("Markov + Shapley") and value is not None:
            met = "met" if value >= GOAL_SPEEDUP else "NOT met"
            verdict = f"   goal >= {GOAL_SPEEDUP:g}x (wall): {met}"
        shown = "".join(f"{f'{v:.2f}x' if v is not None else '-':>8}" for v in (value, cpu[name]))
        print(f"  {name:<42}{shown}{verdict}")
    print("ChannelAttribution's Monte-Carlo credit against the exact one:")
    for side, found in report["accuracy"].items():
        worst = f"max {found['max_relative']:.2%} ({found['max_relative_channel']})"
        mean = f"mean {found['mean_relative']:.2%}"
        l1 = f"L1/conversions {found['l1_over_conversions']:.4f}"
        print(f"  {NAMES[side]:<34} {worst}, {mean}, {l1}")
    print(
        "checks: "
        + ", ".join(
            f"{k} {'ok' if v else ('not run' if v is None else 'DIFFERENT')}"
            for k, v in report["checks"].items()
        )
    )
    print(
        f"load average: before {fmt_load(report['load_before'])}, after "
        f"{fmt_load(report['load_after'])} ({report['cpus']} CPUs)"
    )


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    need_peer()
    workdir = args.out / f"{args.journeys}"
    if args.skip_generate and (workdir / "workload.json").exists():
        shape = json.loads((workdir / "workload.json").read_text())
    else:
        shape = write_workload(workdir, args.journeys, args.seed)
        print(
            f"workload: {shape['journeys']:,} journeys, {shape['paths']:,} distinct paths "
            f"(generated in {shape['seconds']:.1f}s)",
            flush=True,
        )
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    for side, spec in sides(workdir, args).items():
        if args.sides and side not in args.sides:
            continue
        results[side] = measure({**spec, "repeat": args.repeat}, args.timeout)
        measured = results[side]
        brief = measured.get("failed") or " ".join(
            f"{r:.2f}" for r in (measured.get("runs") or measured["markov"]["runs"])
        )
        print(f"  {side}: {brief} s (load {fmt_load(measured['load'])})", flush=True)
    exact = results.get("parcours", {}).get("credit", {}).get("markov")
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "workload": shape,
        "results": results,
        "ratios": {"wall": ratios(results, "seconds"), "cpu": ratios(results, "cpu_seconds")},
        "accuracy": {
            side: accuracy(results[side]["credit"]["markov"], exact, shape["conversions"])
            for side in ("ca_markov", "ca_markov_0.01", "ca_markov_journeys")
            if exact and side in results and "failed" not in results[side]
        },
        "checks": checks(results, shape["conversions"]),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    print_report(report)
    (workdir / "results.json").write_text(json.dumps(report, indent=2))
    print(f"results: {workdir / 'results.json'}")
    return report


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1_000_000, help="journeys to generate")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (best kept)")
    parser.add_argument("--sides", nargs="*", help="only these sides (see `sides()`)")
    parser.add_argument("--ca-ncore", type=int, default=1, help="markov_model's ncore")
    parser.add_argument("--seed-ca", type=int, default=0, help="markov_model's seed")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per side at most")
    parser.add_argument("--out", type=Path, default=Path("bench/out/attribution"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the kept files")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
