"""The journey report: every analysis a manager looks at, in one HTML file that works offline.

`build_report` runs the analyses over a scope and turns each into a section — a figure, or a
table, and one sentence that says what it shows, computed from the figures — plus the headline
findings the demo prints. `write_report` writes one self-contained HTML file: Plotly's
JavaScript comes from the installed package, inline, once; nothing is fetched when it opens.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

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
from parcours.journeys.contacts import RepeatContacts
from parcours.journeys.scope import Scope
from parcours.store.store import Store
from parcours.version import __version__

ECOMMERCE_STEPS = ("Product Viewed", "Product Added", "Checkout Started")
"""Segment's e-commerce spec: the funnel a report shows before the conversion, when present."""
MIN_VISITS = 30
"""A visit number needs this many visits before the report compares its conversion."""
MIN_SWITCHES = 10
"""A switch needs this many occurrences before the report judges it."""


@dataclass
class Section:
    """One analysis in the report: what it shows in a sentence, its figures, maybe a table."""

    key: str
    title: str
    sentence: str
    figures: list[go.Figure] = field(default_factory=list)
    table: list[dict[str, Any]] | None = None


@dataclass
class Report:
    title: str
    generated_at: str
    findings: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


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
    return report


Built = tuple[Section | None, str | None]


def _funnel_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    if len(steps) < 2:
        return None, None
    result = funnel.funnel(store, steps, scope)
    rows = result.steps
    leak = max(rows[1:], key=lambda r: r["dropped"])
    before = rows[leak["step"] - 2]
    sentence = (
        f"{result.customers:,} customers reached {rows[0]['name']}; "
        f"{rows[-1]['customers']:,} ({rows[-1]['from_first']:.0%}) went on to "
        f"{rows[-1]['name']} within 7 days. The biggest leak is between {before['name']} "
        f"and {leak['name']}: {leak['dropped']:,} customers "
        f"({1 - (leak['from_previous'] or 0):.0%}) stop there."
    )
    finding = (
        f"The funnel leaks most between {before['name']} and {leak['name']}: "
        f"{1 - (leak['from_previous'] or 0):.0%} stop there."
    )
    # Where those who leak go instead.
    after = paths.paths(store, before["name"], scope, depth=4, top=6)
    sentence += (
        f" Below, what the {after.customers:,} customers who did {before['name']} did next, "
        "four steps on (rarer touchpoints grouped as other, journeys that stop as (end))."
    )
    figures = [charts.funnel_figure(result), charts.paths_figure(after)]
    return Section("funnel", "Funnel, its leaks, and where customers go", sentence, figures), (
        finding
    )


def _visits_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = visits.conversion_by_visit(store, conversion, scope, max_visit=12)
    rates = {
        r["visit_number"]: r["first_conversion_rate"]
        for r in result.by_visit
        if r["visits"] >= MIN_VISITS and r["first_conversion_rate"] is not None
    }
    if 1 not in rates or not rates[1]:
        return None, None
    best = max((k for k in rates if k <= 10), key=lambda k: rates[k])
    ratio = rates[best] / rates[1]
    sentence = (
        f"Of {result.customers:,} customers, {result.converters:,} converted. A customer "
        f"still unconverted at visit {best} converts there {rates[best]:.1%} of the time, "
        f"{ratio:.1f}x the {rates[1]:.1%} of a first visit."
    )
    finding = f"Visit {best} converts {ratio:.1f}x better than visit 1."
    return Section(
        "visits", "Conversion by visit number", sentence, [charts.visits_figure(result)]
    ), finding


def _map_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = paths.journey_map(store, scope, touchpoint="channel")
    moves = [e for e in result.edges if e["source"] != e["target"]]
    if not moves:
        return None, None
    top = moves[0]
    sentence = (
        f"What follows what across {result.journeys:,} customers' journeys, by channel: the "
        f"most frequent move between channels is {top['source']} → {top['target']} "
        f"({top['count']:,} times, in {top['journeys']:,} journeys)."
    )
    return Section("map", "The journey map", sentence, [charts.map_figure(result)]), None


def _switch_section(
    store: Store, scope: Scope, conversion: str, steps: list[str], *, repeats: RepeatContacts
) -> Built:
    result = contacts.channel_switching(store, scope)
    if not result.by_switch:
        return None, None
    first = {r["channel"]: r["first_contact_resolution"] for r in repeats.by_channel}
    costly = result.by_switch[0]
    sentence = (
        f"{result.switches:,} channel switches in {result.contacts:,} contacts. The costliest, "
        f"{costly['from_channel']} → {costly['to_channel']} ({costly['switches']:,} switches), "
        f"still needed {costly['contacts_after']:,} contacts after it."
    )
    # The switch that settles least, against a first contact on the channel it leads to.
    judged = [
        (unsettled / base, s)
        for s in result.by_switch
        if s["switches"] >= MIN_SWITCHES
        and (base := 1 - (first.get(s["to_channel"]) or 1.0)) > 0
        and (unsettled := 1 - (s["resolved_rate"] or 0)) > 0
    ]
    finding = None
    if judged:
        ratio, worst = max(judged, key=lambda j: j[0])
        finding = (
            f"{worst['from_channel']} → {worst['to_channel']} switches end unsettled "
            f"{ratio:.1f}x as often as a first {worst['to_channel']} contact."
        )
        sentence += f" {finding}"
    return Section(
        "switches",
        "Channel switching and what followed",
        sentence,
        [charts.switch_heatmap_figure(result)],
    ), finding


def _repeats_section(
    store: Store, scope: Scope, conversion: str, steps: list[str], *, repeats: RepeatContacts
) -> Built:
    result = repeats
    if not result.by_intent:
        return None, None
    worst = max(result.by_intent, key=lambda r: r["repeat_rate"] or 0)
    sentence = (
        f"{result.cases:,} cases, {result.repeats:,} repeats; first-contact resolution "
        f"{result.first_contact_resolution:.0%}, {result.contacts_per_resolution} contacts per "
        f"resolution, mean effort {result.mean_effort}. {worst['intent']} repeats most: "
        f"{worst['repeat_rate']:.0%} of its contacts are followed by another within 7 days."
    )
    finding = (
        f"{worst['repeat_rate']:.0%} of {worst['intent'].replace('_', ' ')} contacts repeat "
        "within 7 days."
    )
    return Section(
        "repeats",
        "Repeat contacts and effort by intent",
        sentence,
        [charts.repeats_figure(result)],
        [
            {
                k: r[k]
                for k in (
                    "intent",
                    "contacts",
                    "cases",
                    "repeat_rate",
                    "first_contact_resolution",
                    "mean_effort",
                )
            }
            for r in result.by_intent
        ],
    ), finding


def _typical_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = typical.typical_journeys(store, scope, conversion=conversion)
    if not result.typical:
        return None, None
    best = max(result.typical, key=lambda t: t["conversion_rate"] or 0)
    sentence = (
        f"{result.customers:,} customers' journeys fall into {result.clusters} typical ones, "
        f"grouped by how alike their sequences of visits are and named by what sets them "
        f"apart. The one that converts most, '{best['name']}' ({best['share']:.0%} of "
        f"customers), converts {best['conversion_rate']:.0%}."
    )
    return Section(
        "typical",
        "Typical journeys",
        sentence,
        [charts.typical_figure(result)],
        [
            {
                "journey": t["name"],
                "customers": t["customers"],
                "conversion": t["conversion_rate"],
                "effort": t["mean_effort"],
                "median tenure (days)": t["profile"]["median_tenure_days"],
            }
            for t in result.typical
        ],
    ), None


def _attribution_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = attribution.attribution(store, conversion, scope)
    if not result.conversions:
        return None, None
    top = result.by_touchpoint[0]
    sentence = (
        f"{result.conversions:,} conversions credited to channels by seven models. The exact "
        f"Markov model gives {top['touchpoint']} {top['markov_share']:.0%} of the credit "
        f"(last touch: {top['last_touch_share']:.0%}, first touch: "
        f"{top['first_touch_share']:.0%}); a budget split in proportion follows each model."
    )
    finding = (
        f"{top['touchpoint']} earns {top['markov_share']:.0%} of conversions (Markov), "
        f"against {top['last_touch_share']:.0%} by last touch."
    )
    return Section(
        "attribution",
        "Attribution and budget",
        sentence,
        [charts.attribution_figure(result)],
        [
            {
                "channel": r["touchpoint"],
                **{f"{m} budget": r[f"{m}_budget"] for m in attribution.MODELS},
            }
            for r in result.by_touchpoint
        ],
    ), finding


def _agents_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = performance.agents(store, scope)
    teams = [t for t in result.teams if t["first_contact_resolution"] is not None]
    if not teams:
        return None, None
    best = max(teams, key=lambda t: t["first_contact_resolution"])
    worst = min(teams, key=lambda t: t["first_contact_resolution"])
    sentence = (
        f"{len(result.agents)} agents in {len(result.teams)} teams. {best['team']} settles "
        f"{best['first_contact_resolution']:.0%} of its first contacts, {worst['team']} "
        f"{worst['first_contact_resolution']:.0%} (repeat rates {best['repeat_rate']:.0%} and "
        f"{worst['repeat_rate']:.0%})."
    )
    columns = ("contacts", "first_contact_resolution", "repeat_rate", "median_handle_seconds")
    return Section(
        "agents",
        "Teams and agents",
        sentence,
        [charts.agents_figure(result)],
        [{"agent": r["agent"], **{c: r[c] for c in columns}} for r in result.agents],
    ), None


def _cohorts_section(store: Store, scope: Scope, conversion: str, steps: list[str]) -> Built:
    result = cohorts.cohorts(store, scope, months=6)
    month_one = [r for r in result.cohorts if r["month"] == 1 and r["observed"]]
    if not month_one:
        return None, None
    back = sum(r["active"] for r in month_one) / sum(r["observed"] for r in month_one)
    sentence = (
        f"Retention by the month customers were first seen: {back:.0%} come back the month "
        "after; repeat purchase grows month by month."
    )
    return Section("cohorts", "Cohorts", sentence, [charts.cohorts_figure(result)]), None


def write_report(report: Report, path: Path) -> Path:
    """One HTML file, Plotly inline: it opens offline, in any browser."""
    parts = []
    for section in report.sections:
        body = [f"<h2>{html.escape(section.title)}</h2>", f"<p>{html.escape(section.sentence)}</p>"]
        body += [f.to_html(full_html=False, include_plotlyjs=False) for f in section.figures]
        if section.table:
            body.append(_table(section.table))
        parts.append(f'<section id="{section.key}">' + "\n".join(body) + "</section>")
    findings = "".join(f"<li>{html.escape(f)}</li>" for f in report.findings)
    page = PAGE.format(
        title=html.escape(report.title),
        plotly=get_plotlyjs(),
        generated=html.escape(report.generated_at),
        version=__version__,
        findings=findings,
        sections="\n".join(parts),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _table(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.0%}" if 0 <= value <= 1 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


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
.findings {{ background: #f6f8fa; padding: 1em 2em; border-radius: 6px; }}
</style>
<script type="text/javascript">{plotly}</script>
</head><body>
<h1>{title}</h1>
<p class="meta">Generated {generated} by parcours {version}.</p>
<div class="findings"><h2>Headlines</h2><ul>{findings}</ul></div>
{sections}
</body></html>
"""
