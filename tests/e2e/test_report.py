"""The journey report `parcours demo` writes, opened in Debian's Chromium with no network.

Every request but the file itself is refused, so a chart that needs a CDN would fail to draw;
the page must log no console error, and every section's charts must have drawn (a Plotly SVG
with marks in it, and a screenshot that is not blank).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from browser import CHROMIUM, CHROMIUM_ARGS, require
from playwright.sync_api import Route, sync_playwright

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
        browser.close()
    assert not blocked, f"the report fetched {blocked}"
    assert not errors, f"console errors: {errors}"
    for key, png in drawn.items():
        assert _colours(png) > 20, f"the {key} section's screenshot is blank"


def _colours(png: bytes) -> int:
    """How many distinct colours a screenshot holds (a blank section has one or two)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 24) or [])
