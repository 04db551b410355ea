"""Pictures of the journey analyses, as Plotly figures (one self-contained HTML file each).

Each function takes an analysis's result and returns a figure; `write_html` saves it with
Plotly's JavaScript inside, so the file opens anywhere, offline.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from parcours.journeys.attribution import MODELS, Attribution
from parcours.journeys.cohorts import Cohorts
from parcours.journeys.contacts import ChannelSwitching, RepeatContacts
from parcours.journeys.funnel import FunnelResult
from parcours.journeys.paths import JourneyMap, Paths
from parcours.journeys.performance import AgentPerformance
from parcours.journeys.typical import TypicalJourneys
from parcours.journeys.visits import ConversionByVisit

TEMPLATE = "plotly_white"


def funnel_figure(result: FunnelResult) -> go.Figure:
    """The funnel: customers per step, with the share of step 1 and the leak at each step."""
    names = [s["name"] for s in result.steps]
    if result.breakdown:
        figure = go.Figure(
            [
                go.Funnel(
                    name=str(row["value"]),
                    y=names,
                    x=[row[f"step_{j + 1}"] for j in range(len(names))],
                    textinfo="value+percent initial",
                )
                for row in result.breakdown[:8]
            ]
        )
    else:
        figure = go.Figure(
            go.Funnel(
                y=names,
                x=[s["customers"] for s in result.steps],
                textinfo="value+percent initial+percent previous",
            )
        )
    window = result.window_seconds / 86400
    figure.update_layout(
        title=f"Funnel ({result.order}, {window:g}-day window): {result.customers:,} customers",
        template=TEMPLATE,
    )
    return figure


def visits_figure(result: ConversionByVisit) -> go.Figure:
    """Visits and first conversions per visit number, with the conversion rate."""
    rows = result.by_visit
    k = [str(r["visit_number"]) for r in rows]
    if rows and rows[-1]["visits"] > rows[-1]["customers"]:
        k[-1] += "+"  # later visits are folded into the last number
    figure = go.Figure()
    channels = sorted({c for r in rows for c in r["channel_mix"]})
    for channel in channels:
        figure.add_bar(x=k, y=[r["channel_mix"].get(channel, 0) for r in rows], name=channel)
    figure.add_scatter(
        x=k,
        y=[r["first_conversion_rate"] for r in rows],
        name="first-conversion rate",
        yaxis="y2",
        mode="lines+markers",
    )
    figure.update_layout(
        barmode="stack",
        title=f"Conversion ({result.conversion}) by visit number",
        xaxis_title="visit number",
        yaxis_title="visits",
        yaxis2={
            "title": "rate",
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "rangemode": "tozero",  # a rate is never below 0%
        },
        legend={"orientation": "h", "y": 1.08},
        template=TEMPLATE,
    )
    return figure


def paths_figure(result: Paths) -> go.Figure:
    """The paths from (or to) the anchor as a Sankey diagram, depth by depth."""
    labels: list[str] = []
    index: dict[tuple[int, str], int] = {}
    for node in result.nodes:
        index[(node["depth"], node["activity"])] = len(labels)
        labels.append(node["activity"])
    sign = 1 if result.direction == "from" else -1
    links = [
        (index[(link["depth"], link["source"])], index[(link["depth"] + 1, link["target"])])
        for link in result.links
    ]
    if sign < 0:  # paths to the anchor read left to right, towards it
        links = [(b, a) for a, b in links]
    figure = go.Figure(
        go.Sankey(
            node={"label": labels, "pad": 12},
            link={
                "source": [a for a, _ in links],
                "target": [b for _, b in links],
                "value": [link["customers"] for link in result.links],
            },
        )
    )
    figure.update_layout(
        title=f"Paths {result.direction} {result.anchor}: {result.customers:,} customers",
        template=TEMPLATE,
    )
    return figure


MAP_COLOURS = [[0.0, "#c6dbef"], [1.0, "#08306b"]]
"""From a light blue any eye tells from the white of an empty cell, to a dark one."""
TEXT_IN_CELLS = 12
"""Up to this many touchpoints, each cell of the journey map writes its count."""


def map_figure(result: JourneyMap, top: int = 25) -> go.Figure:
    """The directly-follows graph as a matrix: row = touchpoint, column = the next one.

    Colour follows the count on a log scale, since moves within a channel (web → web) outnumber
    moves across channels by orders of magnitude: on a linear scale every cross-channel cell
    would be white. The real counts are in each cell (when few enough) and in the hover, with
    the share of the row's moves."""
    edges = result.edges[: top * top]
    busiest: dict[str, int] = {}
    for edge in edges:
        busiest[edge["source"]] = busiest.get(edge["source"], 0) + edge["count"]
        busiest[edge["target"]] = busiest.get(edge["target"], 0) + edge["count"]
    names = sorted(busiest, key=lambda n: -busiest[n])[:top]
    counts = {(e["source"], e["target"]): e["count"] for e in edges}
    grid = [[counts.get((a, b)) for b in names] for a in names]
    out_of = [sum(c or 0 for c in row) for row in grid]
    most = max((c for row in grid for c in row if c), default=1)
    decades = list(range(math.ceil(math.log10(most)) + 1)) if most > 1 else [0]
    figure = go.Figure(
        go.Heatmap(
            z=[[math.log10(c) if c else None for c in row] for row in grid],
            x=names,
            y=names,
            text=[[f"{c:,}" if c else "" for c in row] for row in grid],
            texttemplate="%{text}" if len(names) <= TEXT_IN_CELLS else None,
            customdata=[
                [c / total if c and total else None for c in row]
                for row, total in zip(grid, out_of, strict=True)
            ],
            colorscale=MAP_COLOURS,
            zmin=0,
            zmax=max(decades[-1], 1),
            colorbar={
                "title": "moves",
                "tickvals": decades,
                "ticktext": [f"{10**d:,}" for d in decades],
            },
            hovertemplate="%{y} → %{x}: %{text} moves, "
            "%{customdata:.1%} of the moves from %{y}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Journey map: what follows what ({result.journeys:,} journeys; colour: log scale)",
        xaxis_title="next",
        yaxis_title="from",
        yaxis_autorange="reversed",
        template=TEMPLATE,
    )
    return figure


def switching_figure(result: ChannelSwitching) -> go.Figure:
    """Channel flows between consecutive contacts of a case, as a Sankey diagram."""
    channels = sorted(
        {r["from_channel"] for r in result.matrix} | {r["to_channel"] for r in result.matrix}
    )
    labels = [f"{c} (before)" for c in channels] + [f"{c} (next)" for c in channels]
    position = {c: i for i, c in enumerate(channels)}
    figure = go.Figure(
        go.Sankey(
            node={"label": labels, "pad": 12},
            link={
                "source": [position[r["from_channel"]] for r in result.matrix],
                "target": [len(channels) + position[r["to_channel"]] for r in result.matrix],
                "value": [r["contacts"] for r in result.matrix],
                "customdata": [r["resolved_rate"] for r in result.matrix],
                "hovertemplate": "%{source.label} → %{target.label}: %{value} contacts, "
                "%{customdata:.0%} resolved<extra></extra>",
            },
        )
    )
    figure.update_layout(
        title=f"Channel switching: {result.switches:,} switches in {result.contacts:,} contacts",
        template=TEMPLATE,
    )
    return figure


def switch_heatmap_figure(result: ChannelSwitching) -> go.Figure:
    """Consecutive contacts of a case, from channel × to channel: how often the second
    settled the case (colour) and how many there were (text)."""
    channels = sorted(
        {r["from_channel"] for r in result.matrix} | {r["to_channel"] for r in result.matrix}
    )
    cell = {(r["from_channel"], r["to_channel"]): r for r in result.matrix}
    figure = go.Figure(
        go.Heatmap(
            z=[[(cell.get((a, b)) or {}).get("resolved_rate") for b in channels] for a in channels],
            x=channels,
            y=channels,
            text=[
                [str((cell.get((a, b)) or {}).get("contacts", "")) for b in channels]
                for a in channels
            ],
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmin=0,
            zmax=1,
            colorbar={"title": "settled", "tickformat": ".0%"},
            hovertemplate="%{y} → %{x}: %{text} contacts, %{z:.0%} settled<extra></extra>",
        )
    )
    figure.update_layout(
        title="Channel switches: settled after the switch (colour), contacts (number)",
        xaxis_title="next contact",
        yaxis_title="contact before",
        yaxis_autorange="reversed",
        template=TEMPLATE,
    )
    return figure


def repeats_figure(result: RepeatContacts) -> go.Figure:
    """Repeat-contact rate and first-contact resolution per intent."""
    rows = result.by_intent
    intents = [r["intent"] for r in rows]
    figure = go.Figure()
    figure.add_bar(x=intents, y=[r["repeat_rate"] for r in rows], name="repeat rate")
    figure.add_bar(
        x=intents, y=[r["first_contact_resolution"] for r in rows], name="first-contact resolution"
    )
    figure.update_layout(
        barmode="group",
        title=f"Repeat contacts within {result.window_seconds / 86400:g} days",
        yaxis_tickformat=".0%",
        template=TEMPLATE,
    )
    return figure


def attribution_figure(result: Attribution) -> go.Figure:
    """Each touchpoint's share of the conversions under every model, side by side."""
    rows = result.by_touchpoint
    figure = go.Figure(
        [
            go.Bar(
                name=model.replace("_", " "),
                x=[r["touchpoint"] for r in rows],
                y=[r[f"{model}_share"] for r in rows],
            )
            for model in MODELS
        ]
    )
    figure.update_layout(
        barmode="group",
        title=f"Attribution of {result.conversions:,} conversions ({result.conversion})",
        yaxis_tickformat=".0%",
        template=TEMPLATE,
    )
    return figure


def agents_figure(result: AgentPerformance) -> go.Figure:
    """Per team: first-contact resolution against the repeat rate it leaves behind."""
    rows = result.teams
    figure = go.Figure(
        go.Scatter(
            x=[r["repeat_rate"] for r in rows],
            y=[r["first_contact_resolution"] for r in rows],
            text=[r["team"] for r in rows],
            mode="markers+text",
            textposition="top center",
            marker={"size": [max(8, r["contacts"] ** 0.5 * 2) for r in rows]},
        )
    )
    figure.update_layout(
        title="Teams: first-contact resolution against repeats caused (size: contacts)",
        xaxis_title="repeat rate",
        yaxis_title="first-contact resolution",
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
        template=TEMPLATE,
    )
    return figure


def cohorts_figure(result: Cohorts) -> go.Figure:
    """Retention per cohort and month since first seen, as a heat map.

    Both axes are categories: a cohort is a month ("2026-03") or a channel, and Plotly would
    otherwise read "2026-03" as a date and, with one cohort, label it down to the millisecond."""
    names = sorted({r["cohort"] for r in result.cohorts})
    months = sorted({r["month"] for r in result.cohorts})
    cell = {(r["cohort"], r["month"]): r["retention"] for r in result.cohorts}
    figure = go.Figure(
        go.Heatmap(
            z=[[cell.get((c, m)) for m in months] for c in names],
            x=[str(m) for m in months],
            y=names,
            colorscale="Greens",
            zmin=0,
            zmax=1,
            colorbar={"title": "retention", "tickformat": ".0%"},
            hovertemplate="%{y}, month %{x}: %{z:.0%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Retention by cohort ({result.by})",
        xaxis={"title": "months since first seen", "type": "category"},
        yaxis={"title": f"first seen ({result.by})", "type": "category", "autorange": "reversed"},
        template=TEMPLATE,
    )
    return figure


def typical_figure(result: TypicalJourneys) -> go.Figure:
    """Each typical journey's share of the customers, coloured by its conversion rate."""
    rows = result.typical
    figure = go.Figure(
        go.Bar(
            x=[r["share"] for r in rows],
            y=[f"{r['cluster']}. {r['name']}" for r in rows],
            orientation="h",
            marker={
                "color": [r["conversion_rate"] for r in rows],
                "colorscale": "Blues",
                "cmin": 0,
                "cmax": 1,
                "colorbar": {"title": "conversion", "tickformat": ".0%"},
            },
            customdata=[[r["customers"], r["conversion_rate"], r["mean_effort"]] for r in rows],
            hovertemplate="%{y}<br>%{customdata[0]:,} customers (%{x:.1%})<br>"
            "conversion %{customdata[1]:.1%}, effort %{customdata[2]:.1f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{result.clusters} typical journeys of {result.customers:,} customers",
        xaxis_title="share of customers",
        xaxis_tickformat=".0%",
        yaxis_autorange="reversed",
        template=TEMPLATE,
    )
    return figure


def write_html(figure: go.Figure, path: Path) -> Path:
    """Save the figure as one HTML file that opens offline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


FIGURES: dict[type, Any] = {
    FunnelResult: funnel_figure,
    ConversionByVisit: visits_figure,
    Paths: paths_figure,
    JourneyMap: map_figure,
    ChannelSwitching: switching_figure,
    RepeatContacts: repeats_figure,
    Attribution: attribution_figure,
    AgentPerformance: agents_figure,
    Cohorts: cohorts_figure,
    TypicalJourneys: typical_figure,
}


def figure_of(result: Any) -> go.Figure:
    """The figure for any analysis result."""
    return FIGURES[type(result)](result)
