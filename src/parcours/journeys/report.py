"""The journey report: every analysis a manager looks at, in one HTML file that works offline.

`build_report` runs the analyses over a scope and turns each into a section — a figure, or a
table whose columns say what kind of number they hold, and one sentence that says what it
shows, computed from the figures (report_text) — plus the headline findings the demo prints. A
store with nothing to show gets a report that says so, and what to run. `write_report` writes
one self-contained HTML file: Plotly's JavaScript comes from the installed package, inline,
once; nothing is fetched when it opens.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from parcours.journeys import (
    attribution,
    charts,
    cohorts,
    contacts,
    funnel,
    paths,
    performance,
    typical,
    visits,
)
from parcours.journeys import report_text as says
from parcours.journeys.contacts import RepeatContacts
from parcours.journeys.report_table import Column, Table
from parcours.journeys.scope import Scope
from parcours.store.store import Store
from parcours.version import __version__

ECOMMERCE_STEPS = ("Product Viewed", "Product Added", "Checkout Started")
"""Segment's e-commerce spec: the funnel a report shows before the conversion, when present."""
LEAK_DEPTH = 4
"""How many steps on the report follows the customers who did the step before the leak."""


@dataclass
class Section:
    """One analysis in the report: what it shows in a sentence, its figures, maybe a table."""

    key: str
    title: str
    sentence: str
    figures: list[go.Figure] = field(default_factory=list)
    table: Table | None = None


@dataclass
class Report:
    title: str
    generated_at: str
    findings: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    nothing_yet: str | None = None
    """When no analysis has anything to show: why, and what to run."""


def build_report(
    store: Store,
    scope: Scope | None = None,
    *,
    conversion: str = "Order Completed",
    steps: list[str] | None = None,
) -> Report:
    """Run every analysis over `scope` and say what each shows."""
    scope = scope or Scope()
    report = Report("Customer journeys", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    names = set(store.engine.query(scope.events("DISTINCT name")).column(0).to_pylist())
    steps = steps or [*(s for s in ECOMMERCE_STEPS if s in names), conversion]
    repeats = contacts.repeat_contacts(store, scope)  # two sections read it
    builds: tuple[Callable[[Store, Scope, str, list[str]], Built], ...] = (
        _funnel_section,
        _visits_section,
        _map_section,
        partial(_switch_section, repeats=repeats),
        partial(_repeats_section, repeats=repeats),
        _typical_section,
        _attribution_section,
        _agents_section,
        _cohorts_section,
    )
    for build in builds:
        section, finding = build(store, scope, conversion, steps)
        if section is not None:
            report.sections.append(section)
        if finding:
            report.findings.append(finding)
    if not report.sections:
        report.nothing_yet = nothing_yet(store, scope, conversion)
    return report


def nothing_yet(store: Store, scope: Scope, conversion: str) -> str:
    """Why a report has no section, in plain words, with the commands that would give it one."""
    events = store.engine.query("SELECT count(*) FROM events").column(0)[0].as_py()
    customers = store.engine.query(scope.events("count(DISTINCT customer_id)")).column(0)[0]
    again = "then `parcours report` again"
    if not events:
        return (
            "There is nothing to report yet: the store holds no events. Import your exports "
            "(`parcours import FILE --source NAME --mapping MAPPING`), then run "
            f"`parcours identity resolve` to join them into customers, {again}."
        )
    if not customers.as_py():
        return (
            f"There is nothing to report yet: the store holds {events:,} events, but none in a "
            "customer's journey. Run `parcours identity resolve` to join them into customers, "
            f"{again}."
        )
    return (
        f"There is nothing to report yet for these {customers.as_py():,} customers: no "
        f"conversion ('{conversion}'), no move between channels and no contact to analyse. "
        f"Import more of their events, or choose the conversion with `--conversion`, {again}."
    )


Built = tuple[Section | None, str | None]


def _funnel_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    if len(steps) < 2:
        return None, None
    result = funnel.funnel(store, steps, scope)
    said = says.funnel_says(result)
    figures = [charts.funnel_figure(result)]
    sentence = said.sentence
    leak = says.biggest_leak(result)
    if leak is not None:  # where those who leak go instead
        before = result.steps[leak["step"] - 2]["name"]
        after = paths.paths(store, before, scope, depth=LEAK_DEPTH, top=6)
        sentence += " " + says.leak_paths_says(after.customers, before, LEAK_DEPTH)
        figures.append(charts.paths_figure(after))
    title = "Funnel, its leaks, and where customers go"
    return Section("funnel", title, sentence, figures), said.finding


def _visits_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = visits.conversion_by_visit(store, conversion, scope, max_visit=12)
    said = says.visits_says(result)
    if said is None:
        return None, None
    figure = charts.visits_figure(result)
    return Section("visits", "Conversion by visit number", said.sentence, [figure]), said.finding


def _map_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = paths.journey_map(store, scope, touchpoint="channel")
    if not result.edges:
        return None, None
    said = says.map_says(result)
    return Section("map", "The journey map", said.sentence, [charts.map_figure(result)]), None


def _switch_section(
    store: Store, scope: Scope, conversion: str, steps: list[str], *, repeats: RepeatContacts
) -> Built:
    result = contacts.channel_switching(store, scope)
    if not result.matrix:
        return None, None
    said = says.switches_says(result, repeats)
    title = "Channel switching and what followed"
    figure = charts.switch_heatmap_figure(result)
    return Section("switches", title, said.sentence, [figure]), said.finding


INTENT_COLUMNS = (
    Column("intent", "intent", "text"),
    Column("contacts", "contacts", "count"),
    Column("cases", "cases", "count"),
    Column("repeat_rate", "repeat rate", "share"),
    Column("first_contact_resolution", "first-contact resolution", "share"),
    Column("mean_effort", "mean effort", "score"),
)


def _repeats_section(
    store: Store, scope: Scope, conversion: str, steps: list[str], *, repeats: RepeatContacts
) -> Built:
    if not repeats.by_intent:
        return None, None
    said = says.repeats_says(repeats)
    return Section(
        "repeats",
        "Repeat contacts and effort by intent",
        said.sentence,
        [charts.repeats_figure(repeats)],
        Table(INTENT_COLUMNS, repeats.by_intent),
    ), said.finding


TYPICAL_COLUMNS = (
    Column("name", "journey", "text"),
    Column("customers", "customers", "count"),
    Column("conversion_rate", "conversion", "share"),
    Column("mean_effort", "mean effort", "score"),
    Column("median_tenure", "median tenure", "duration"),
)


def _typical_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = typical.typical_journeys(store, scope, conversion=conversion)
    if not result.typical:
        return None, None
    rows = [
        {**t, "median_tenure": _days_in_seconds(t["profile"]["median_tenure_days"])}
        for t in result.typical
    ]
    said = says.typical_says(result)
    return Section(
        "typical",
        "Typical journeys",
        said.sentence,
        [charts.typical_figure(result)],
        Table(TYPICAL_COLUMNS, rows),
    ), said.finding


def _days_in_seconds(days: float | None) -> float | None:
    return None if days is None else days * 86400


def _attribution_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = attribution.attribution(store, conversion, scope)
    if not result.conversions:
        return None, None
    said = says.attribution_says(result)
    columns = (
        Column("touchpoint", "channel", "text"),
        *(
            Column(f"{m}_budget", f"{m.replace('_', ' ')} budget", "money")
            for m in attribution.MODELS
        ),
    )
    return Section(
        "attribution",
        "Attribution and budget",
        said.sentence,
        [charts.attribution_figure(result)],
        Table(columns, result.by_touchpoint),
    ), said.finding


AGENT_COLUMNS = (
    Column("agent", "agent", "text"),
    Column("contacts", "contacts", "count"),
    Column("first_contact_resolution", "first-contact resolution", "share"),
    Column("repeat_rate", "repeat rate", "share"),
    Column("median_handle_seconds", "median handle time", "duration"),
)


def _agents_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = performance.agents(store, scope)
    teams = [t for t in result.teams if t["first_contact_resolution"] is not None]
    if not teams:
        return None, None
    said = says.agents_says(result, teams)
    return Section(
        "agents",
        "Teams and agents",
        said.sentence,
        [charts.agents_figure(result)],
        Table(AGENT_COLUMNS, result.agents),
    ), said.finding


def _cohorts_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = cohorts.cohorts(store, scope, months=6, conversion=conversion)
    if not any(r["observed"] for r in result.cohorts):
        return None, None
    said = says.cohorts_says(result)
    figure = charts.cohorts_figure(result)
    return Section("cohorts", "Cohorts", said.sentence, [figure]), said.finding


def write_report(report: Report, path: Path) -> Path:
    """One HTML file, Plotly inline: it opens offline, in any browser."""
    parts = []
    for section in report.sections:
        body = [f"<h2>{html.escape(section.title)}</h2>", f"<p>{html.escape(section.sentence)}</p>"]
        body += [f.to_html(full_html=False, include_plotlyjs=False) for f in section.figures]
        if section.table:
            body.append(section.table.to_html())
        parts.append(f'<section id="{section.key}">' + "\n".join(body) + "</section>")
    page = PAGE.format(
        title=html.escape(report.title),
        plotly=get_plotlyjs(),
        generated=html.escape(report.generated_at),
        version=__version__,
        summary=_summary(report),
        sections="\n".join(parts),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _summary(report: Report) -> str:
    """The box at the top: the headlines, or why there is nothing to show yet."""
    if report.nothing_yet:
        return (
            f'<div class="summary" id="nothing-yet"><p>{html.escape(report.nothing_yet)}</p></div>'
        )
    if not report.findings:
        return ""
    findings = "".join(f"<li>{html.escape(f)}</li>" for f in report.findings)
    return f'<div class="summary"><h2>Headlines</h2><ul>{findings}</ul></div>'


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
h1 {{ margin-bottom: 0; }} .meta {{ color: #777; margin-top: 0.2em; }}
section {{ margin: 2.5em 0; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border-bottom: 1px solid #eee; padding: 0.3em 0.8em; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.summary {{ background: #f6f8fa; padding: 1em 2em; border-radius: 6px; }}
</style>
<script type="text/javascript">{plotly}</script>
</head><body>
<h1>{title}</h1>
<p class="meta">Generated {generated} by parcours {version}.</p>
{summary}
{sections}
</body></html>
"""
