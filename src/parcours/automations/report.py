"""The automations' part of the report: for each automation that ran, its funnel step by step,
how its instances ended, and its uplift against the holdout with its interval — each said in a
sentence a marketer reads ("the welcome automation lifted Order Completed within 30 days from
12.0 % to 15.5 % (+3.5 points, 95 % CI +0.9 to +6.1)").

Read only: the measures come from automations.uplift; nothing is written. A store where no
automation ran gets no section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import plotly.graph_objects as go

from parcours.automations.definition import duration_seconds
from parcours.automations.uplift import Uplift, uplift, wilson_interval
from parcours.journeys.report import Section
from parcours.journeys.report_table import Column, Table, duration
from parcours.store.store import Store

TEMPLATE = "plotly_white"
STAGES = ("entered", "sent", "delivered", "opened", "clicked", "converted")
"""A send step's funnel, in order."""
ARM_COLOURS = {"held out": "#969696", "treated": "#3182bd"}
STEP_COLUMNS = (
    Column("step", "step", "text"),
    Column("action", "action", "text"),
    Column("entered", "entered", "count"),
    Column("held_out", "held out (no send)", "count"),
    Column("sent", "sent", "count"),
    Column("delivered", "delivered", "count"),
    Column("opened", "opened", "count"),
    Column("clicked", "clicked", "count"),
    Column("held", "held (reason)", "count"),
    Column("deferred", "deferred", "count"),
    Column("converted", "converted after", "count"),
    Column("ended", "ended here", "text"),
)


@dataclass
class AutomationSections:
    """The report sections of the automations that ran, and their headlines."""

    sections: list[Section] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    measured: list[Uplift] = field(default_factory=list)


def automation_sections(store: Store) -> AutomationSections:
    """One section per automation with at least one instance, by name."""
    out = AutomationSections()
    names = store.engine.query(
        "SELECT DISTINCT automation FROM automation_instances "
        "WHERE automation IN (SELECT name FROM automations) ORDER BY 1"
    )
    for name in names.column(0).to_pylist():
        result = uplift(store, name)
        out.measured.append(result)
        said = uplift_sentence(result)
        out.sections.append(
            Section(
                key=f"automation-{name}",
                title=f"Automation: {name}",
                sentence=" ".join((said, funnel_sentence(result), exits_sentence(result))),
                figures=[
                    f
                    for f in (funnel_figure(result), uplift_figure(result), exits_figure(result))
                    if f is not None
                ],
                table=steps_table(result),
            )
        )
        if result.measurable:
            out.findings.append(said)
    return out


def points(share: float) -> str:
    """A difference of two shares in percentage points, signed: +3.5, -0.8."""
    return f"{share * 100:+.1f}"


def rate(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f} %"


def goal_words(result: Uplift) -> str:
    """The goal as a reader says it: `Order Completed within 30 days`."""
    if result.goal is None:
        return "its goal"
    window = f" within {duration(duration_seconds(result.within))}" if result.within else ""
    return f"{result.goal}{window}"


def uplift_sentence(result: Uplift) -> str:
    """The uplift in words: what the treated reached against the held out, with the interval;
    or why it cannot be measured."""
    name, treated, held = result.automation, result.treated, result.holdout
    if result.goal is None:
        return f"The {name} automation has no goal, so its effect is not measured."
    if not held.entries:
        return (
            f"The {name} automation holds no one out, so its uplift cannot be measured: "
            f"{rate(treated.rate)} of its {treated.entries:,} entries reached {goal_words(result)}"
            " (give it a holdout, e.g. holdout: 10, to measure what it adds)."
        )
    if not treated.entries:
        return f"The {name} automation treated no one yet: all {held.entries:,} were held out."
    assert result.difference is not None and result.low is not None and result.high is not None
    interval = f"{points(result.difference)} points, 95 % CI {points(result.low)} to " + (
        f"{points(result.high)}"
    )
    counts = (
        f"{treated.converted:,} of {treated.entries:,} treated, {held.converted:,} of "
        f"{held.entries:,} held out"
    )
    if result.low > 0:
        verb = "lifted"
    elif result.high < 0:
        verb = "lowered"
    else:
        return (
            f"The {name} automation moved {goal_words(result)} from {rate(held.rate)} (held out) "
            f"to {rate(treated.rate)} (treated) ({interval}; {counts}): the interval includes "
            "zero, so no effect is shown at these numbers."
        )
    return (
        f"The {name} automation {verb} {goal_words(result)} from {rate(held.rate)} to "
        f"{rate(treated.rate)} ({interval}; {counts})."
    )


def funnel_sentence(result: Uplift) -> str:
    sends = [s for s in result.steps if s.sent or s.held or s.held_out]
    if not sends:
        return f"{result.entered:,} entered; no step sends a message."
    parts = []
    for s in sends:
        part = f"{s.step}: {s.sent:,} sent, {s.delivered:,} delivered, {s.opened:,} opened, "
        part += f"{s.clicked:,} clicked"
        if s.held:
            part += f", {s.held:,} held"
        parts.append(part)
    return f"{result.entered:,} entered. " + "; ".join(parts) + "."


def exits_sentence(result: Uplift) -> str:
    if not result.exits:
        return "None has ended yet."
    ended = sum(result.exits.values())
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in result.exits.items())
    return f"{ended:,} ended: {reasons}."


def funnel_figure(result: Uplift) -> go.Figure | None:
    """Each send step's funnel: entered, sent, delivered, opened, clicked, converted after."""
    sends = [s for s in result.steps if s.sent or s.held or s.held_out]
    if not sends:
        return None
    figure = go.Figure(
        [
            go.Funnel(
                name=s.step,
                y=list(STAGES),
                x=[getattr(s, stage) for stage in STAGES],
                textinfo="value+percent initial",
            )
            for s in sends
        ]
    )
    figure.update_layout(
        title=f"{result.automation}: each send step's funnel ({result.entered:,} entries)",
        template=TEMPLATE,
    )
    return figure


def uplift_figure(result: Uplift) -> go.Figure | None:
    """Each arm's conversion rate with its Wilson 95 % interval."""
    arms = [("held out", result.holdout), ("treated", result.treated)]
    arms = [(label, arm) for label, arm in arms if arm.entries]
    if result.goal is None or not arms:
        return None
    rates, lows, highs = [], [], []
    for _, arm in arms:
        low, high = wilson_interval(arm.converted, arm.entries)
        share = arm.converted / arm.entries
        rates.append(share * 100)
        lows.append((share - low) * 100)
        highs.append((high - share) * 100)
    figure = go.Figure(
        go.Bar(
            x=[label for label, _ in arms],
            y=rates,
            error_y={"type": "data", "symmetric": False, "array": highs, "arrayminus": lows},
            text=[f"{r:.1f} %" for r in rates],
            marker_color=[ARM_COLOURS[label] for label, _ in arms],
        )
    )
    title = f"{result.automation}: {goal_words(result)}, by arm (95 % intervals)"
    if result.difference is not None and result.low is not None and result.high is not None:
        title += (
            f"<br>uplift {points(result.difference)} points "
            f"({points(result.low)} to {points(result.high)})"
        )
    figure.update_layout(title=title, yaxis_title="% converted", template=TEMPLATE)
    return figure


def exits_figure(result: Uplift) -> go.Figure | None:
    if not result.exits:
        return None
    reasons = list(result.exits)
    figure = go.Figure(
        go.Bar(
            x=[result.exits[r] for r in reasons],
            y=reasons,
            orientation="h",
            text=[f"{result.exits[r]:,}" for r in reasons],
            marker_color="#756bb1",
        )
    )
    figure.update_layout(
        title=f"{result.automation}: how instances ended",
        xaxis_title="instances",
        yaxis={"autorange": "reversed"},
        template=TEMPLATE,
    )
    return figure


def steps_table(result: Uplift) -> Table:
    rows = []
    for s in result.steps:
        row = s.to_dict()
        row["ended"] = ", ".join(f"{n:,} {reason}" for reason, n in s.exited.items()) or "–"
        rows.append(row)
    return Table(STEP_COLUMNS, rows)
