"""Full recompute of tiers, RFM and personas on a store, each in a fresh process with its peak
memory: `python bench/tiers_rfm_personas.py STORE [--copy]`.

Each score runs in its own process (`/usr/bin/time`-style peak RSS from `resource`), writing
its scores, on the store given (with `--copy`, a copy of it in the same folder, so a store
being shared is not written). Prints one line per score: seconds, peak RSS, customers scored.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

RUN = """
import json, resource, sys, time
import parcours
score, store = sys.argv[1], sys.argv[2]
with parcours.connect(store) as p:
    start = time.perf_counter()
    if score == "tiers":
        done = p.scores.tiers(ladder="orders").written
    elif score == "tiers-spend":
        done = p.scores.tiers(ladder="spend").written
    elif score == "rfm":
        done = p.scores.rfm().written
    else:
        done = p.scores.personas().written
    seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"score": score, "seconds": round(seconds, 2), "peak_mb": round(peak),
                  "scored": done["scored"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", type=Path)
    parser.add_argument("--copy", action="store_true")
    parser.add_argument("--scores", default="tiers,tiers-spend,rfm,personas")
    args = parser.parse_args()
    store = args.store
    if args.copy:
        store = store.with_name(store.stem + ".bench.duckdb")
        shutil.copy(args.store, store)
    for score in args.scores.split(","):
        done = subprocess.run(
            [sys.executable, "-c", RUN, score, str(store)], capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(done.stderr)
        print(json.loads(done.stdout.strip().splitlines()[-1]), flush=True)


if __name__ == "__main__":
    main()
