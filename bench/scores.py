"""Scores: fitting lifetime value (BG/NBD + Gamma-Gamma) next to `lifetimes`, in one run.

Parts, one function each (more parts come with the station's other scorers):

* **CDNOW master** (`lifetimes`' CDNOW_master.txt: 69,659 purchases of 23,570 customers,
  1997-01-01 to 1998-06-30), imported raw through parcours's import (tests/cdnow.py,
  tests/cdnow_master.yaml) into a temporary store. The summary: parcours's engine-side SQL
  (`purchase_summary`, weeks, same-day merged, to 1998-06-30) against lifetimes'
  `summary_data_from_transaction_data` on the same purchases (read from the store, merged by
  day as the paper does, daily periods, / 7). The fits: parcours `BetaGeo` and `GammaGamma`
  against lifetimes' `BetaGeoFitter` and `GammaGammaFitter` on the same summary (parcours's).
* **Demo purchases**: the same, on the `Order Completed` events of a store made by
  `parcours demo` (`--store`), in days, up to the store's last day.

Checked: both sides make the same summary and fit the same parameters (relative difference
printed), and lifetimes' parameters are scored by parcours's log-likelihood too: where the data
cannot tell how drop-out varies across customers (the demo's purchases), the maximum lies on a
ridge towards infinite a and b, where both sides agree on r, α, the mean drop-out a / (a + b)
and the likelihood but stop at different a and b; lifetimes may also fail to converge.
Goal (issue 13): no slower than lifetimes, same parameters. Timings are the best of `--repeat`
runs, in this process; they are never asserted. The machine is shared: the load average is
printed.

    python bench/scores.py                                  # CDNOW master only
    python bench/scores.py --store /path/to/demo/store.duckdb --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import sys
import tempfile
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
    """Part 1: CDNOW's whole master log, imported raw, summarised and fitted in weeks."""
    from cdnow import import_cdnow

    with (
        tempfile.TemporaryDirectory() as folder,
        parcours.connect(Path(folder) / "store.duckdb") as p,
    ):
        imported, import_time = best(1, lambda: import_cdnow(p, Path(folder), "CDNOW_master.txt"))
        found = compare_fits(p, dt.date(1998, 6, 30), "weeks", repeat, "CDNOW master")
    return {**found, "imported": imported, "import": import_time}


def demo_purchases(store: Path, repeat: int) -> dict[str, Any]:
    """Part 2: a demo store's purchases, in days, up to its last day."""
    with parcours.connect(store, read_only=True) as p:
        end = p.store.engine.scalar("SELECT CAST(max(occurred_at) AS DATE) FROM customer_events")
        return compare_fits(p, end, "days", repeat, f"demo purchases ({store})")


def report(part: dict[str, Any]) -> None:
    print(
        f"\n== {part['data']}: {part['customers']:,} customers, "
        f"{part['repeat_buyers']:,} repeat buyers (times in {part['unit']})"
    )
    summary = part["summary"]
    print(
        f"summary   parcours {summary['parcours']['seconds']:.3f} s, lifetimes "
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
        else:
            theirs_shown = ", ".join(f"{k} {theirs[k]:.5g}" for k in params)
            their_ll = theirs["log_likelihood"]
            print(
                f"{'':<12} lifetimes {theirs['seconds']:.3f} s ({theirs_shown}; LL {their_ll:.1f})"
            )
            print(
                f"{'':<12} x{side['speed_up']:.1f} faster; parameters within "
                f"{side['max_relative_difference']:.1e} relative, log-likelihoods "
                f"{ll - their_ll:+.2g} apart"
            )
            if model == "bg_nbd":
                shares = [f["a"] / (f["a"] + f["b"]) for f in (ours, theirs)]
                print(f"{'':<12} mean drop-out a/(a+b): {shares[0]:.6g} and {shares[1]:.6g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="A demo store (parcours demo) to fit on.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per side; the best counts.")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    arguments = parser.parse_args()
    print(f"load average {os.getloadavg()}, {os.cpu_count()} cores (a shared machine)")
    parts = [cdnow_master(arguments.repeat)]
    if arguments.store:
        parts.append(demo_purchases(arguments.store, arguments.repeat))
    for part in parts:
        report(part)
    if arguments.json:
        arguments.json.write_text(json.dumps(parts, indent=2, default=str))


if __name__ == "__main__":
    main()
