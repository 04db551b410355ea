"""`parcours journeys ...` as a user runs it on the demo world, and its charts in a browser.

The command line must say what the Python API says (it is a thin layer over it); the chart
it writes must draw in a real browser (Debian's Chromium through Playwright), offline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from browser import CHROMIUM, CHROMIUM_ARGS, require
from playwright.sync_api import sync_playwright

import parcours
from parcours.journeys.funnel import funnel
from parcours.journeys.paths import paths

STEPS = ["Product Viewed", "Product Added", "Order Completed"]


def _journeys(store: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parcours", "journeys", *args, "--store", str(store)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": str(columns)},
    )


def test_funnel_command_says_what_the_api_says_and_draws_it(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _ = demo
    store = out / "parcours.duckdb"
    chart = tmp_path / "funnel.html"
    done = _journeys(store, "funnel", *STEPS, "--format", "json", "--chart", str(chart))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    with parcours.connect(store, read_only=True) as p:
        assert printed == json.loads(json.dumps(funnel(p.store, STEPS).to_dict()))

    require(("chromium", CHROMIUM))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        offline: list[str] = []
        page.on("request", lambda r: offline.append(r.url) if r.url.startswith("http") else None)
        page.goto(chart.as_uri())
        page.wait_for_selector(".funnellayer .trace")  # Plotly's funnel, drawn as SVG
        drawn = page.inner_text(".plot-container")
        browser.close()
    assert not offline, f"the chart fetched {offline}: it must open offline"
    for step in printed["steps"]:
        assert step["name"] in drawn
        assert f"{step['customers']:,}".replace(",", "") in drawn.replace(",", "")


def test_paths_add_up_to_the_funnel_at_every_depth(demo: tuple[Path, dict[str, Any]]) -> None:
    """Every depth of the paths from an anchor adds up to the customers who did it, the count
    a funnel starting there shows: rare touchpoints go to "other", finished journeys to
    "(end)", nothing is dropped."""
    out, _ = demo
    done = _journeys(
        out / "parcours.duckdb", "paths", "Product Added", "--depth", "6", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        started = funnel(p.store, ["Product Added", "*"]).steps[0]["customers"]
        assert result == json.loads(json.dumps(paths(p.store, "Product Added", depth=6).to_dict()))
    assert result["customers"] == started > 0
    ended = 0
    for depth in range(7):
        here = [n for n in result["nodes"] if n["depth"] == depth]
        assert sum(n["customers"] for n in here) + ended == started, depth
        ended += sum(n["customers"] for n in here if n["activity"] == "(end)")
    assert any(n["activity"] == "other" for n in result["nodes"])


def test_journeys_errors_are_clear_messages(demo: tuple[Path, dict[str, Any]]) -> None:
    out, _ = demo
    done = _journeys(out / "parcours.duckdb", "funnel", "A", "B", "--order", "sideways")
    assert done.returncode == 2
    assert "Unknown funnel order" in done.stderr and "Traceback" not in done.stderr


def test_a_misspelt_step_is_warned_on_stderr(demo: tuple[Path, dict[str, Any]]) -> None:
    out, _ = demo
    done = _journeys(
        out / "parcours.duckdb", "funnel", "Product Viewd", "Order Completed", columns=200
    )
    assert done.returncode == 0, "the funnel is still counted (no one at step 1)"
    assert "No event is named 'Product Viewd'" in done.stderr
    assert "did you mean 'Product Viewed'" in done.stderr
    assert "UnknownStepWarning" not in done.stderr, "said for people, not as a Python warning"


def test_funnel_customers_at_a_step_are_the_apis(demo: tuple[Path, dict[str, Any]]) -> None:
    """--customers-at reads the customers from the store while the command holds it."""
    out, _ = demo
    store = out / "parcours.duckdb"
    done = _journeys(store, "funnel", *STEPS, "--customers-at", "3", "--format", "json")
    assert done.returncode == 0, done.stderr
    with parcours.connect(store, read_only=True) as p:
        expected = funnel(p.store, STEPS).customers_at(3)
    assert [row["customer_id"] for row in json.loads(done.stdout)] == expected
    assert expected


TABLES = {
    "funnel": [*STEPS],
    "visits": ["Order Completed"],
    "switches": [],
    "repeats": [],
    "agents": [],
    "touchpoints": [],
    "attribution": [],
    "cohorts": [],
}


def test_tables_fit_80_columns_in_human_units(demo: tuple[Path, dict[str, Any]]) -> None:
    """At 80 columns no line is wider, no number is cut (each count the JSON gives shows
    whole), and no duration shows as raw seconds."""
    out, _ = demo
    store = out / "parcours.duckdb"
    for command, args in TABLES.items():
        table = _journeys(store, command, *args)
        assert table.returncode == 0, (command, table.stderr)
        lines = table.stdout.splitlines()
        assert max(map(len, lines)) <= 80, command
        assert "[bold]" not in table.stdout and "{" not in table.stdout, command
        long_float = re.search(r"\b\d+\.0*[1-9]\d{3,}\b", table.stdout)  # 4 digits or more
        assert not long_float, f"{command}: {long_float}"
        assert "604800" not in table.stdout and "86400" not in table.stdout, command

    data = json.loads(_journeys(store, "funnel", *STEPS, "--format", "json").stdout)
    shown = _journeys(store, "funnel", *STEPS).stdout
    for step in data["steps"]:
        assert re.search(rf"\s{step['customers']:,}\s", shown), step
    assert re.search(r"Time to convert: median \d+[smhd]", shown)
    repeats = _journeys(store, "repeats").stdout
    assert re.search(r"window\s+7d", repeats), "the case window in days, not 604800.0"


def test_the_commands_show_the_analyses_own_defaults() -> None:
    """The command line writes the analyses' defaults down so as not to import them at start-up;
    they must stay the analyses' own."""
    from parcours.cli import journey_options as journeys_cli
    from parcours.journeys import attribution, contacts, paths, typical, visits

    assert journeys_cli.GAP == visits.GAP
    assert journeys_cli.CHURN_DAYS == contacts.CHURN_DAYS
    assert (journeys_cli.LOOKBACK, journeys_cli.HALF_LIFE) == (
        attribution.LOOKBACK,
        attribution.HALF_LIFE,
    )
    assert journeys_cli.TOP_VARIANTS == typical.TOP_VARIANTS
    assert journeys_cli.MAX_DEPTH == paths.MAX_DEPTH
