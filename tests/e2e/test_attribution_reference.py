"""Attribution on ChannelAttribution's own example data, against ChannelAttribution and an
independent exact solver.

The data: `Data.csv` as the ChannelAttribution 2.2.5 sdist ships it (`src/cypack/data/`), which
its wheel installs as `cypack/data/Data.csv` beside the package: 10,000 distinct paths over 12
channels named after Greek letters (`eta > iota > alpha > eta`), with their conversions (19,785
in all) and non-conversions (68,602). It is found through the installed distribution's file
list, never downloaded. ChannelAttribution is GPL-3.0: a test dependency
(`pip install -e '.[test]'`), never imported by parcours itself.

The references:

* ChannelAttribution's `markov_model` (order 1) estimates the removal effects by Monte-Carlo
  simulation. Its error is measured, not guessed: `RUNS` runs with seeds that share no random
  stream give each channel's mean and standard error, and our exact credit must lie within
  `STANDARD_ERRORS` of the mean; each run must also be within its own convergence criterion of
  our answer (below), at the default `conv_par` 0.05 and at 0.01.
* The exact solver of ../shared/reference/anchors-python-peers.md §2.1 (its
  `scripts/ref_attribution.py`: absorbing chain, one linear solve per channel removed, inflow
  sent to NULL; and Zhao's simplified Shapley), whose table on this data is copied below.
* ChannelAttribution's `heuristic_models`: first, last and linear touch, which are exact and
  must be equal. `attribute()` takes the paths as given (repeats such as `iota > iota` kept;
  parcours collapses repeats only when it builds paths from events), as ChannelAttribution does.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import io
import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pytest
from peers import TEST_EXTRA, peer, unavailable

from parcours.journeys.attribution import Attribution, attribute

CONVERSIONS, NULLS, PATHS = 19_785, 68_602, 10_000
CONVERSION_PROBABILITY = 0.22385
REFERENCE = {
    # channel: (exact removal effect, exact Markov credit, Zhao's simplified Shapley), from the
    # table of anchors-python-peers.md §2.1 (3, 1 and 1 decimals).
    "alpha": (0.558, 5344.9, 7627.9),
    "iota": (0.406, 3884.6, 3505.0),
    "eta": (0.349, 3340.8, 3613.7),
    "beta": (0.264, 2527.4, 1982.7),
    "theta": (0.206, 1971.9, 1191.0),
    "lambda": (0.134, 1282.8, 987.8),
    "epsilon": (0.063, 599.6, 374.7),
    "zeta": (0.040, 381.1, 200.0),
    "kappa": (0.029, 274.4, 159.1),
    "gamma": (0.018, 171.1, 138.2),
    "delta": (0.000, 4.6, 2.3),
    "mi": (0.000, 1.7, 2.7),
}

RUNS, NFOLD = 10, 10
"""ChannelAttribution draws fold k of a run from the generator seeded `seed + k`: runs whose
seeds are NFOLD apart share no random stream, so they are independent estimates."""
STANDARD_ERRORS = 4.0
"""How far from the runs' mean our exact value may be, in standard errors of that mean."""


@pytest.fixture(scope="module")
def ca() -> ModuleType:
    # Importing it prints a banner (and it imports matplotlib, which it does not declare).
    with contextlib.redirect_stdout(io.StringIO()):
        return peer("ChannelAttribution")


@pytest.fixture(scope="module")
def data_csv(ca: ModuleType) -> Path:
    """Data.csv from the installed distribution's own file list."""
    files = importlib.metadata.files("ChannelAttribution") or []
    found = [Path(str(f.locate())) for f in files if f.name == "Data.csv"]
    if not found or not found[0].exists():
        unavailable("the installed ChannelAttribution has no cypack/data/Data.csv", TEST_EXTRA)
    return found[0]


@dataclass
class Example:
    rows: list[dict[str, Any]]
    """Data.csv's rows, as ChannelAttribution reads them: path, total_conversions, total_null."""
    ours: Attribution

    def credit(self, model: str) -> dict[str, float]:
        return {r["touchpoint"]: float(r[model]) for r in self.ours.by_touchpoint}


@pytest.fixture(scope="module")
def example(data_csv: Path) -> Iterator[Example]:
    with data_csv.open(newline="") as read:
        rows: list[dict[str, Any]] = [
            {
                "path": row["path"],
                "total_conversions": int(row["total_conversions"]),
                "total_null": int(row["total_null"]),
            }
            for row in csv.DictReader(read, delimiter=";")
        ]
    # ChannelAttribution splits on its separator and trims the spaces around each channel.
    paths = pa.table(
        {
            "touchpoints": [[c.strip() for c in r["path"].split(">")] for r in rows],
            "conversions": [r["total_conversions"] for r in rows],
            "nulls": [r["total_null"] for r in rows],
        }
    )
    yield Example(rows, attribute(paths))


def frame(example: Example) -> Any:
    """Data.csv as the pandas DataFrame ChannelAttribution takes."""
    import pandas as pd

    return pd.DataFrame(example.rows)


def markov_model(ca: ModuleType, data: Any, *, seed: int, conv_par: float) -> dict[str, Any]:
    """One ChannelAttribution run: its credit and removal effect per channel."""
    result = ca.markov_model(
        data,
        "path",
        "total_conversions",
        var_null="total_null",
        order=1,
        seed=seed,
        nfold=NFOLD,
        conv_par=conv_par,
        out_more=True,
        verbose=False,
        flg_pro=False,
    )
    credit, removal = result["result"], result["removal_effects"]
    return {
        "markov": dict(
            zip(credit["channel_name"], map(float, credit["total_conversions"]), strict=True)
        ),
        "removal_effect": dict(
            zip(removal["channel_name"], map(float, removal["removal_effect"]), strict=True)
        ),
    }


def distance(theirs: dict[str, float], ours: dict[str, float]) -> float:
    """ChannelAttribution's convergence measure: the L1 distance between two credit vectors
    over the total conversions. It stops simulating when every fold is within `conv_par` of
    the folds' median in this measure."""
    return sum(abs(theirs[c] - ours[c]) for c in ours) / CONVERSIONS


@pytest.fixture(scope="module")
def simulated(ca: ModuleType, example: Example) -> list[dict[str, Any]]:
    data = frame(example)
    return [markov_model(ca, data, seed=run * NFOLD, conv_par=0.05) for run in range(RUNS)]


def test_the_data_is_channelattributions_example(example: Example) -> None:
    assert len(example.rows) == PATHS
    assert example.ours.conversions == CONVERSIONS
    assert example.ours.paths == CONVERSIONS + NULLS
    assert {r["touchpoint"] for r in example.ours.by_touchpoint} == set(REFERENCE)


def test_exact_markov_and_shapley_equal_the_independent_exact_solver(example: Example) -> None:
    """Within the rounding of the reference table (half a unit of its last decimal) and of
    ours (6 decimals)."""
    assert example.ours.conversion_probability == pytest.approx(
        CONVERSION_PROBABILITY, abs=5e-6 + 5e-7
    )
    for column, (model, half_unit) in enumerate(
        [("removal_effect", 5e-4), ("markov", 0.05), ("shapley", 0.05)]
    ):
        expected = {channel: values[column] for channel, values in REFERENCE.items()}
        assert example.credit(model) == pytest.approx(expected, abs=half_unit + 5e-7), model


@pytest.mark.parametrize("model", ["markov", "removal_effect"])
def test_exact_markov_is_within_channelattributions_monte_carlo_error(
    example: Example, simulated: list[dict[str, Any]], model: str
) -> None:
    ours = example.credit(model)
    for channel, exact in ours.items():
        estimates = [run[model][channel] for run in simulated]
        mean = statistics.fmean(estimates)
        standard_error = statistics.stdev(estimates) / math.sqrt(len(estimates))
        assert abs(exact - mean) <= STANDARD_ERRORS * standard_error, (
            f"{channel}: ours {exact:.6g}, ChannelAttribution {mean:.6g} ± {standard_error:.3g} "
            f"over {len(estimates)} runs"
        )


def test_each_channelattribution_run_is_within_its_convergence_criterion_of_ours(
    example: Example, simulated: list[dict[str, Any]]
) -> None:
    ours = example.credit("markov")
    assert all(distance(run["markov"], ours) <= 0.05 for run in simulated)


@pytest.mark.slow  # one ChannelAttribution run at conv_par 0.01: 2-4 s here, 40x the default
def test_a_tighter_channelattribution_run_comes_closer_to_ours(
    ca: ModuleType, example: Example, simulated: list[dict[str, Any]]
) -> None:
    tight = markov_model(ca, frame(example), seed=0, conv_par=0.01)
    ours = example.credit("markov")
    assert distance(tight["markov"], ours) <= 0.01
    assert distance(tight["markov"], ours) < statistics.fmean(
        distance(run["markov"], ours) for run in simulated
    )


def test_first_last_and_linear_touch_equal_channelattributions(
    ca: ModuleType, example: Example
) -> None:
    heuristic = ca.heuristic_models(frame(example), "path", "total_conversions", flg_pro=False)
    theirs = heuristic.set_index("channel_name").to_dict()
    assert set(theirs["first_touch"]) == set(example.credit("first_touch"))
    # Counts, equal exactly; linear shares are summed in another order and ours are rounded to
    # 6 decimals.
    assert example.credit("first_touch") == theirs["first_touch"]
    assert example.credit("last_touch") == theirs["last_touch"]
    assert example.credit("linear") == pytest.approx(theirs["linear_touch"], abs=5e-7)
