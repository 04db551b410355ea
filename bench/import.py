"""Import speed and memory: parcours next to DuckDB's own readers, on the same files, in one run.

DuckDB's `CREATE TABLE AS SELECT * FROM read_csv/read_json/read_parquet(...)` is the physical
limit for this engine: it parses and writes, nothing else. parcours also validates, normalises
(E.164 phones, time zones, value maps), derives content-hash ids, keeps the raw record,
deduplicates against the store, and quarantines. The goal is at least half of DuckDB's speed,
with peak memory that does not grow with the file.

Each measurement runs in a fresh process on a fresh store, so peak RSS is its own.

    python bench/import.py --rows 1000000            # about 1M events of demo exports
    python bench/import.py --rows 10000000 --skip-generate
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

EVENTS_PER_CUSTOMER_PROBE = 300

DUCKDB_READERS = {
    "csv": "read_csv({path!r}, delim={delim!r}, header=true)",
    "jsonl": "read_json({path!r}, format='newline_delimited', ignore_errors=true)",
    "parquet": "read_parquet({path!r})",
}


def measure(
    kind: str, path: str, source: str, mapping: str, workdir: Path, *, keep_raw: bool = True
) -> dict[str, float]:
    """Run one import in a child process; return its seconds, the seconds to load the library
    and open the store before it (`startup`), the CPU seconds of the import (`cpu`: user and
    system, every thread), rows, and peak RSS (MB). On a machine others share, the CPU
    seconds are the steadier figure; the wall seconds are the goal's."""
    code = f"""
import json, resource, sys, time
from pathlib import Path

def cpu():
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime

store = Path({str(workdir / f"{kind}-{source}.duckdb")!r})
for stale in (store, Path(str(store) + ".wal")):
    stale.unlink(missing_ok=True)
loading = time.perf_counter()
# The clock runs from the import statement to the store closed (written to disk), on both
# sides: loading the library and opening the store cost the same for a file of any size
# (about a second for parcours) and are reported apart, as `startup`.
if {kind!r} == "parcours":
    import parcours
    # The import alone: identity resolution after it is measured by bench/identity.py.
    no_resolve = {{"resolve_on_arrival": False}}
    p = parcours.connect(store, keep_raw={keep_raw!r}, identity=no_resolve)
    started, cpu_started = time.perf_counter(), cpu()
    summary = p.import_file({path!r}, source={source!r}, mapping={mapping!r})
    p.close()
    rows = summary.records
else:
    import duckdb
    con = duckdb.connect(str(store))
    started, cpu_started = time.perf_counter(), cpu()
    con.execute("CREATE TABLE t AS SELECT * FROM " + sys.argv[1])
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
startup = started - loading
print(json.dumps({{
    "seconds": seconds, "startup": startup, "cpu": cpu_seconds, "rows": rows, "peak_mb": peak
}}))
"""
    reader = _duckdb_reader(path, mapping)
    done = subprocess.run(
        [sys.executable, "-c", code, reader], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _duckdb_reader(path: str, mapping: str) -> str:
    from parcours.collect.mapping import load_mapping
    from parcours.collect.readers import detect_format

    spec, _ = load_mapping(mapping)
    fmt = detect_format(Path(path), spec.format)
    return DUCKDB_READERS[fmt].format(path=path, delim=spec.csv.delimiter)


def generate(out: Path, rows: int, seed: int) -> None:
    """Write demo exports holding about `rows` records in all."""
    from parcours.demo.world import generate_world

    probe = generate_world(out / "probe", customers=EVENTS_PER_CUSTOMER_PROBE, seed=seed)
    per_customer = sum(e.records for e in probe.exports) / EVENTS_PER_CUSTOMER_PROBE
    customers = max(1, round(rows / per_customer))
    started = time.perf_counter()
    world = generate_world(out / "world", customers=customers, seed=seed)
    total = sum(e.records for e in world.exports)
    print(
        f"generated {total:,} records for {customers:,} customers "
        f"in {time.perf_counter() - started:.0f}s",
        flush=True,
    )
    (out / "world" / "exports.json").write_text(
        json.dumps([[e.source, str(e.path), e.mapping, e.records] for e in world.exports])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="records in all the exports")
    parser.add_argument("--out", type=Path, default=Path("bench/out/import"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the last exports")
    parser.add_argument("--sources", nargs="*", help="only these sources (default: all)")
    args = parser.parse_args()

    out = args.out / f"{args.rows}"
    if not args.skip_generate:
        generate(out, args.rows, args.seed)
    exports = json.loads((out / "world" / "exports.json").read_text())
    results = []
    header = f"{'source':<12}{'records':>11}{'duckdb r/s':>13}{'parcours r/s':>14}{'ratio':>7}"
    header += f"{'no-raw r/s':>12}{'ratio':>7}{'cpu ratio':>10}{'duckdb MB':>11}{'parcours MB':>13}"
    print(header, flush=True)
    for source, path, mapping, records in exports:
        if args.sources and source not in args.sources:
            continue
        raw = measure("duckdb", path, source, mapping, out)
        ours = measure("parcours", path, source, mapping, out)
        lean = measure("parcours", path, source, mapping, out, keep_raw=False)
        ratio = raw["seconds"] / ours["seconds"]
        results.append(
            {
                "source": source,
                "records": records,
                "duckdb": raw,
                "parcours": ours,
                "parcours_no_raw": lean,
                "ratio": ratio,
            }
        )
        print(
            f"{source:<12}{records:>11,}{raw['rows'] / raw['seconds']:>13,.0f}"
            f"{records / ours['seconds']:>14,.0f}{ratio:>7.2f}"
            f"{records / lean['seconds']:>12,.0f}{raw['seconds'] / lean['seconds']:>7.2f}"
            f"{raw['cpu'] / ours['cpu']:>10.2f}"
            f"{raw['peak_mb']:>11,.0f}{ours['peak_mb']:>13,.0f}",
            flush=True,
        )
    total_raw = sum(r["duckdb"]["seconds"] for r in results)
    total_ours = sum(r["parcours"]["seconds"] for r in results)
    total_lean = sum(r["parcours_no_raw"]["seconds"] for r in results)
    cpu_ratio = sum(r["duckdb"]["cpu"] for r in results) / sum(
        r["parcours"]["cpu"] for r in results
    )
    records = sum(r["records"] for r in results)
    print(
        f"{'all':<12}{records:>11,}{records / total_raw:>13,.0f}{records / total_ours:>14,.0f}"
        f"{total_raw / total_ours:>7.2f}{records / total_lean:>12,.0f}"
        f"{total_raw / total_lean:>7.2f}"
        f"{cpu_ratio:>10.2f}"
        f"{max(r['duckdb']['peak_mb'] for r in results):>11,.0f}"
        f"{max(r['parcours']['peak_mb'] for r in results):>13,.0f}"
    )
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
