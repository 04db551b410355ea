"""Health scores (rules and learned) on a store, each run in a fresh process with its peak
memory: `python bench/health.py STORE [--copy] [--touched 1000]`.

Three runs, in order, writing to the store given (with `--copy`, a copy of it in the same
folder, so a store being shared is not written): a full recompute (the model refitted), a second
full recompute (every customer now has a previous score: what moved is worked out), and an
incremental one for `--touched` customers (picked by a hash of their id) with the saved model,
which must not load scikit-learn. Prints one line per run: seconds, peak RSS, customers scored,
and whether scikit-learn was imported.
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
run, store, touched = sys.argv[1], sys.argv[2], int(sys.argv[3])
customers = None
if run == "incremental":
    customers = ("SELECT customer_id FROM customer_scores WHERE score = 'health' "
                 f"ORDER BY hash(customer_id) LIMIT {touched}")
with parcours.connect(store) as p:
    start = time.perf_counter()
    done = p.scores.health(customers=customers)
    seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"run": run, "seconds": round(seconds, 2), "peak_mb": round(peak),
                  "scored": done.customers, "refitted": done.refitted,
                  "sklearn_imported": "sklearn" in sys.modules}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", type=Path)
    parser.add_argument("--copy", action="store_true")
    parser.add_argument("--touched", type=int, default=1000)
    args = parser.parse_args()
    store = args.store
    if args.copy:
        store = store.with_name(store.stem + ".bench.duckdb")
        shutil.copy(args.store, store)
    for run in ("full", "full-again", "incremental"):
        done = subprocess.run(
            [sys.executable, "-c", RUN, run, str(store), str(args.touched)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.exit(done.stderr)
        print(json.loads(done.stdout.strip().splitlines()[-1]), flush=True)


if __name__ == "__main__":
    main()
