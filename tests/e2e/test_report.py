"""The report `parcours demo` writes (the journeys, then segments and scores), opened in
Debian's Chromium with no network.

Every request but the file itself is refused, so a chart that needs a CDN would fail to draw;
the page must log no console error, and every section's charts must have drawn (a Plotly SVG
with marks in it, and a screenshot that is not blank).
"""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from browser import CHROMIUM, CHROMIUM_ARGS, require
from event_log import import_events
from playwright.sync_api import Route, sync_playwright

import parcours
from parcours.journeys.report import build_report

SECTIONS = (
    "funnel",
    "visits",
    "map",
    "switches",
    "repeats",
    "typical",
    "attribution",
    "agents",
    "cohorts",
    "tiers",
    "rfm",
    "personas",
    "health",
    "clv",
)
MARKS = ".trace, .sankey-node, .hm, .point, .funnellayer path"
"""What a drawn Plotly chart holds: traces, Sankey nodes, heat-map cells, bars or points."""


def test_demo_report_opens_offline_and_every_chart_draws(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, report = demo
    page_path = Path(report["report"])
    assert page_path == out / "report.html" and page_path.exists()
    assert len(report["findings"]) >= 4
    assert any("visit" in f.lower() for f in report["findings"])

    require(("chromium", CHROMIUM))
    blocked: list[str] = []
    errors: list[str] = []

    def refuse(route: Route) -> None:
        if not route.request.url.startswith("file://"):
            blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        context.route("**/*", refuse)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        drawn = {}
        for key in SECTIONS:
            section = page.locator(f"section#{key}")
            assert section.count() == 1, f"no {key} section"
            charts = section.locator(".js-plotly-plot")
            assert charts.count() >= 1, f"the {key} section has no chart"
            for i in range(charts.count()):
                chart = charts.nth(i)
                chart.scroll_into_view_if_needed()
                assert chart.locator(".main-svg").count() >= 1, f"{key}: Plotly drew nothing"
                assert chart.locator(MARKS).count() >= 1, f"{key}: the chart has no marks"
            drawn[key] = section.screenshot()
        cohorts = page.locator("section#cohorts .ytick text").all_text_contents()
        budgets = page.locator("section#attribution td").all_text_contents()
        browser.close()
    # Month cohorts read as months, and money is never written as a percentage.
    assert cohorts and all(re.fullmatch(r"\d{4}-\d{2}", label) for label in cohorts), cohorts
    assert budgets and not any(cell.endswith("%") for cell in budgets), budgets
    assert not blocked, f"the report fetched {blocked}"
    assert not errors, f"console errors: {errors}"
    for key, png in drawn.items():
        assert _colours(png) > 20, f"the {key} section's screenshot is blank"


def _colours(png: bytes) -> int:
    """How many distinct colours a screenshot holds (a blank section has one or two)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 24) or [])


# What the report says must follow the data: two small stores whose truth differs, imported
# through the real path, and the sentences differ as the truth does. Each figure in an assert is
# counted by hand from the rows the test writes.

DAY = 24.0
"""Hours in a day: the event logs are written in hours after January 1st, 2026."""
Row = tuple[str, float, str, str]
"""One event: customer, hours after January 1st, channel, name."""


def _said(tmp_path: Path, name: str, rows: list[Row]) -> dict[str, str]:
    """The report's sentence per section, for a store holding `rows`."""
    folder = tmp_path / name
    folder.mkdir()
    with parcours.connect(folder / "store.duckdb") as p:
        import_events(p, folder, rows)
        built = build_report(p.store)
    return {s.key: s.sentence for s in built.sections}


def _buyers(*, come_back: int, buy_again: int) -> list[Row]:
    """Ten customers first seen in January who each buy then; `come_back` of them visit in
    February, and `buy_again` of those buy again in March."""
    rows: list[Row] = []
    for c in range(10):
        rows += [(f"u{c}", c, "web", "Product Viewed"), (f"u{c}", c + 1, "web", "Order Completed")]
        if c < come_back:
            rows.append((f"u{c}", 35 * DAY + c, "web", "Product Viewed"))
        if c < buy_again:
            rows.append((f"u{c}", 63 * DAY + c, "store", "Order Completed"))
    rows.append(("late", 64 * DAY, "web", "Product Viewed"))  # the data runs to March either way
    return rows


def test_the_cohort_sentence_says_what_retention_and_repeat_purchase_are(tmp_path: Path) -> None:
    loyal = _said(tmp_path, "loyal", _buyers(come_back=10, buy_again=8))["cohorts"]
    once = _said(tmp_path, "once", _buyers(come_back=5, buy_again=0))["cohorts"]
    # January's ten are seen two months on (March); 'late' is March's own cohort, seen 0 months.
    assert "100% come back the month after" in loyal
    assert "By month 2, 80% of the customers seen that long have bought at least twice" in loyal
    assert "up from 0% in their first month" in loyal
    assert "50% come back the month after" in once
    assert "By month 2, no one has bought twice." in once
    assert "grows month by month" not in loyal + once


def _funnel(stages: tuple[int, int, int, int]) -> list[Row]:
    """Customers u0..: the first `stages[k]` of them reach step k + 1 of the e-commerce funnel,
    an hour apart."""
    steps = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
    return [
        (f"u{c}", c * DAY + k, "web", step)
        for k, (step, reached) in enumerate(zip(steps, stages, strict=True))
        for c in range(reached)
    ]


def test_the_funnel_sentence_names_the_step_where_most_customers_leave(tmp_path: Path) -> None:
    early = _said(tmp_path, "early", _funnel((10, 4, 3, 3)))["funnel"]
    late = _said(tmp_path, "late", _funnel((10, 9, 2, 2)))["funnel"]
    assert "3 (30%) went on to Order Completed within 7 days" in early
    assert "between Product Viewed and Product Added: 6 customers (60%) stop there" in early
    assert "2 (20%) went on to Order Completed within 7 days" in late
    assert "between Product Added and Checkout Started: 7 customers (78%) stop there" in late


def _moves(channels: tuple[str, str], crossing: int) -> list[Row]:
    """Ten customers with three events each on the first channel, `crossing` of whom then
    take a fourth on the second."""
    first, second = channels
    rows = [(f"u{c}", c * DAY + h, first, "Seen") for c in range(10) for h in range(3)]
    return rows + [(f"u{c}", c * DAY + 3, second, "Seen") for c in range(crossing)]


def test_the_map_sentence_names_the_most_frequent_move_between_channels(tmp_path: Path) -> None:
    web = _said(tmp_path, "web", _moves(("web", "email"), 2))["map"]
    app = _said(tmp_path, "app", _moves(("app", "store"), 5))["map"]
    # 20 moves within the first channel (2 per customer), plus one across per crossing customer.
    assert "2 of the 22 moves (9%) go from one channel to another" in web
    assert "the most frequent web → email (2 times, in 2 journeys)" in web
    assert "5 of the 25 moves (20%)" in app and "app → store (5 times, in 5 journeys)" in app
    alone = _said(tmp_path, "alone", _moves(("web", "web"), 0))["map"]
    assert "no one moved from one channel to another" in alone


def test_an_empty_store_reports_that_there_is_nothing_yet_and_what_to_run(
    tmp_path: Path,
) -> None:
    with parcours.connect(tmp_path / "store.duckdb"):
        pass  # a store with nothing in it
    store, page = tmp_path / "store.duckdb", tmp_path / "report.html"
    run = subprocess.run(
        [sys.executable, "-m", "parcours", "report", "--store", str(store), "-o", str(page)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stderr
    for said in (run.stdout, html.unescape(page.read_text())):
        assert "There is nothing to report yet: the store holds no events." in said
        assert "parcours import" in said and "`parcours identity resolve`" in said
    assert "Headlines" not in page.read_text()


def test_a_store_whose_events_are_not_resolved_says_to_run_resolve(tmp_path: Path) -> None:
    no_resolve = {"resolve_on_arrival": False}
    with parcours.connect(tmp_path / "store.duckdb", identity=no_resolve) as p:
        import_events(p, tmp_path, _funnel((3, 0, 0, 0)))
        built = build_report(p.store)
    assert built.sections == []
    assert built.nothing_yet is not None
    assert "holds 3 events, but none in a customer's journey" in built.nothing_yet
    assert "Run `parcours identity resolve`" in built.nothing_yet
