"""`parcours scores clv` as a user runs it, on CDNOW imported with `parcours import`.

The log is the raw CDNOW_sample shipped in `lifetimes` (tests/cdnow.py: only its separators
changed, its lines numbered), mapped by tests/cdnow_sample.yaml. Expected values come from the
papers: Fader, Hardie & Lee (2005) for BG/NBD (r 0.243, α 4.414 weeks, a 0.793, b 2.426,
LL -9582.4 in weeks) and Fader & Hardie (2013) for Gamma-Gamma (p 6.25, q 3.74, γ 15.44 on the
946 repeat buyers). The command fits in days: α in days is 7 times α in weeks, and the
log-likelihood in days is the one in weeks less ln 7 per repeat purchase (each of the 2,457
repeat purchase times has a density 7 times smaller per day than per week).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cdnow import HERE, as_csv, raw_log
from cli_process import run
from peers import peer

REPEAT_PURCHASES = 2457  # validation-data.md §2.1, and tests/engine/test_clv.py


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    peer("lifetimes")  # the data ships in it
    folder = tmp_path_factory.mktemp("cdnow_cli")
    data = as_csv(raw_log("CDNOW_sample.txt"), folder / "cdnow.csv")
    mapping = str(HERE / "cdnow_sample.yaml")
    done = run("import", str(data), "--source", "cdnow", "--mapping", mapping, cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def test_scores_clv_fits_the_papers_models_and_scores_every_buyer(store: Path) -> None:
    done = run("scores", "clv", "--as-of", "1997-09-30", "--top", "3", "-f", "json", cwd=store)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    bg, gg = result["model"]["bg_nbd"], result["model"]["gamma_gamma"]
    assert (bg["r"], bg["alpha"] / 7, bg["a"], bg["b"]) == (
        pytest.approx(0.243, abs=5e-4),
        pytest.approx(4.414, abs=5e-3),
        pytest.approx(0.793, abs=5e-4),
        pytest.approx(2.426, abs=5e-3),
    )
    weeks_ll = bg["log_likelihood"] + REPEAT_PURCHASES * math.log(7)
    assert weeks_ll == pytest.approx(-9582.4, abs=0.05)
    assert (gg["p"], gg["q"], gg["v"], gg["customers"]) == (
        pytest.approx(6.25, abs=5e-3),
        pytest.approx(3.74, abs=5e-3),
        pytest.approx(15.44, abs=5e-3),
        946,
    )
    # Every one of the 2,357 customers bought by 1997-09-30 (they are the first quarter's
    # cohort), so each holds the four scores; churn risk is 1 - P(alive).
    assert result["scored"] == result["customers"] == 2357
    assert result["model"]["refitted"] is True
    for customer in result["top"]:
        assert customer["churn_risk"] == pytest.approx(1 - customer["p_alive"], abs=2e-6)
    assert [c["clv"] for c in result["top"]] == sorted(
        (c["clv"] for c in result["top"]), reverse=True
    )

    # Some customers again: the kept model, no refit, only they are scored.
    some = "SELECT customer_id FROM identity_map WHERE value IN ('0001', '0002')"
    again = run(
        "scores", "clv", "--as-of", "1997-09-30", "--customers", some, "-f", "json", cwd=store
    )
    assert again.returncode == 0, again.stderr
    rescored = json.loads(again.stdout)
    assert rescored["scored"] == 2 and rescored["model"]["refitted"] is False
    assert rescored["model"]["version"] == result["model"]["version"]

    # The table for people says the same fit (fitting anew).
    table = run("scores", "clv", "--as-of", "1997-09-30", cwd=store, columns=100)
    assert table.returncode == 0, table.stderr
    assert "BG/NBD" in table.stdout and "r 0.2426" in table.stdout
    assert "2,357 customers scored" in table.stdout


def test_scores_clv_names_the_purchase_events_it_could_not_find(store: Path) -> None:
    done = run("scores", "clv", "--purchase-event", "Order Complete", cwd=store)
    assert done.returncode == 2
    assert "No event named 'Order Complete'" in done.stderr
    assert "'Order Completed'" in done.stderr  # the event the store does hold
