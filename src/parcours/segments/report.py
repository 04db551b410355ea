"""The station's part of the report: tiers and their moves, the RFM grid as a heat map, persona
cards, the health back-test (ROC and calibration curves), and lifetime value — each section a
sentence computed from its figures, drawn, and read from the scores as they are computed here
(nothing is written: a report changes no score).

A section whose data the store lacks (no purchases, too little history for a back-test) is left
out and says why in `skipped`, so a small store still gets the sections it can have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from parcours.errors import ParcoursError
from parcours.journeys.report import Section
from parcours.journeys.report_table import Column, Table
from parcours.segments.health import health_backtest
from parcours.segments.lifetime_value import current_lifetime_value
from parcours.segments.personas import personas
from parcours.segments.rfm import rfm
from parcours.segments.tiers import tiers
from parcours.store.store import Store

if TYPE_CHECKING:
    from parcours.segments.health import Backtest
    from parcours.segments.personas import Personas
    from parcours.segments.rfm import Rfm
    from parcours.segments.tiers import Tiers

Built = tuple[Section, str | None]

TEMPLATE = "plotly_white"
MODEL_COLOURS = {"learned": "#08519c", "rules": "#e6550d", "recency": "#756bb1"}


@dataclass
class StandingSections:
    """The report sections of segments and scores, their headlines, and what was left out."""

    sections: list[Section] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Section key → why it is not in the report (in words)."""


def standing_sections(store: Store, *, ladder: str = "orders") -> StandingSections:
    """Tiers on `ladder`, RFM, personas, the health back-test and lifetime value, as report
    sections (computed, not written)."""
    out = StandingSections()
    builds: dict[str, Callable[[], Built]] = {
        "tiers": lambda: _tiers_section(tiers(store, ladder=ladder, write=False)),
        "rfm": lambda: _rfm_section(rfm(store, write=False)),
        "personas": lambda: _personas_section(personas(store, write=False)),
        "health": lambda: _health_section(health_backtest(store)),
        "clv": lambda: _clv_section(store),
    }
    for key, build in builds.items():
        try:
            section, finding = build()
        except ParcoursError as error:  # a store without what the section needs
            out.skipped[key] = error.message
            continue
        out.sections.append(section)
        if finding:
            out.findings.append(finding)
    return out


def _tiers_section(result: Tiers) -> Built:
    ranked = [row for row in result.distribution if row["customers"]]
    top = max((row for row in ranked if row["level"] > 0), key=lambda r: r["level"], default=None)
    sentence = (
        f"On the {result.ladder} ladder, as of {result.as_of}: "
        + ", ".join(f"{row['tier']} {row['share']:.1%}" for row in result.distribution)
        + f" of {result.customers:,} customers."
    )
    upgrades = sum(m["customers"] for m in result.moves if m["to_level"] > m["from_level"])
    downgrades = sum(m["customers"] for m in result.moves if m["to_level"] < m["from_level"])
    sentence += f" Over the history, {upgrades:,} moves up and {downgrades:,} down."
    finding = (
        f"{top['customers']:,} customers reach {top['tier']}, the top tier held "
        f"({top['share']:.1%})."
        if top
        else None
    )
    bars = go.Figure(
        go.Bar(
            x=[row["tier"] for row in result.distribution],
            y=[row["customers"] for row in result.distribution],
            text=[f"{row['customers']:,}" for row in result.distribution],
            marker_color="#3182bd",
        )
    )
    # A base tier holds most customers: a log scale keeps the top tiers visible.
    bars.update_layout(
        template=TEMPLATE,
        title="Customers by tier now (log scale)",
        yaxis_title="customers",
        yaxis_type="log",
    )
    figures = [bars]
    if result.moves:
        months = sorted({m["month"] for m in result.moves})
        moves = go.Figure()
        for direction, sign, colour in (("up", 1, "#31a354"), ("down", -1, "#de2d26")):
            per_month = {
                month: sum(
                    m["customers"]
                    for m in result.moves
                    if m["month"] == month and (m["to_level"] - m["from_level"]) * sign > 0
                )
                for month in months
            }
            moves.add_bar(
                x=months,
                y=[sign * per_month[m] for m in months],
                name=direction,
                marker_color=colour,
            )
        moves.update_layout(
            template=TEMPLATE, barmode="relative", title="Tier moves by month (up and down)"
        )
        figures.append(moves)
    return Section("tiers", "Tiers and their moves", sentence, figures), finding


def _rfm_section(result: Rfm) -> Built:
    bins = result.bins
    counts = {(row["r"], row["f"]): row for row in result.grid}
    z = [[counts[(r, f)]["customers"] for f in range(1, bins + 1)] for r in range(bins, 0, -1)]
    text = [
        [f"{counts[(r, f)]['cell']}<br>{counts[(r, f)]['customers']:,}" for f in range(1, bins + 1)]
        for r in range(bins, 0, -1)
    ]
    heat = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"F{f}" for f in range(1, bins + 1)],
            y=[f"R{r}" for r in range(bins, 0, -1)],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            colorbar_title="customers",
        )
    )
    heat.update_layout(
        template=TEMPLATE,
        title="RFM: customers by recency (rows, 5 = most recent) and frequency (columns)",
    )
    cells = sorted(result.cells, key=lambda c: -c["customers"])
    biggest = cells[0] if cells else None
    by_value = max(cells, key=lambda c: c.get("monetary") or 0, default=None)
    sentence = f"{result.customers:,} buyers as of {result.as_of}, scored 1–{bins} by quintile."
    if biggest and by_value:
        sentence += (
            f" The largest cell is {biggest['name']} ({biggest['customers']:,}); "
            f"{by_value['name']} hold the most spend."
        )
    table = Table(
        (
            Column("name", "cell", "text"),
            Column("meaning", "what it means", "text"),
            Column("customers", "customers", "count"),
            Column("monetary", "spend", "money"),
        ),
        [{k: c.get(k) for k in ("name", "meaning", "customers", "monetary")} for c in cells],
    )
    return Section("rfm", "RFM cells", sentence, [heat], table), None


def _personas_section(result: Personas) -> Built:
    rows = [
        {
            "persona": f"{p.number}. {p.name}",
            "share": p.share,
            "mean_spend": p.mean_spend,
            "conversion": p.conversion,
            "channels": ", ".join(str(c["channel"]) for c in p.preferred_channels[:3]),
            "distinctive": p.description,
        }
        for p in result.personas
    ]
    table = Table(
        (
            Column("persona", "persona", "text"),
            Column("share", "share", "share"),
            Column("mean_spend", "mean spend", "money"),
            Column("conversion", "conversion", "share"),
            Column("channels", "preferred channels", "text"),
            Column("distinctive", "what sets them apart", "text"),
        ),
        rows,
    )
    shares = go.Figure(
        go.Bar(
            x=[p.share for p in result.personas],
            y=[f"{p.number}. {p.name}" for p in result.personas],
            orientation="h",
            text=[f"{p.share:.0%} · spend {p.mean_spend:,.0f}" for p in result.personas],
            hovertext=[p.description for p in result.personas],
            marker_color="#6baed6",
        )
    )
    shares.update_layout(
        template=TEMPLATE,
        title="Personas: their share of customers (hover: what sets them apart)",
        xaxis_tickformat=".0%",
        yaxis_autorange="reversed",
        margin={"l": 260},
    )
    largest = max(result.personas, key=lambda p: p.share)
    sentence = (
        f"{result.k} personas among {result.customers:,} customers (k chosen by silhouette); "
        f"the largest, {largest.name}, is {largest.share:.0%} of them."
    )
    return Section("personas", "Personas", sentence, [shares], table), None


def _health_section(result: Backtest) -> Built:
    models = {"learned": result.learned, "rules": result.rules, "recency": result.recency}
    roc = go.Figure()
    for name, metrics in models.items():
        fpr, tpr = zip(*metrics.roc, strict=True) if metrics.roc else ((), ())
        roc.add_scatter(
            x=list(fpr),
            y=list(tpr),
            name=f"{name} (AUC {metrics.auc:.3f})",
            line_color=MODEL_COLOURS[name],
        )
    roc.add_scatter(x=[0, 1], y=[0, 1], name="chance", line={"dash": "dot", "color": "#999"})
    roc.update_layout(
        template=TEMPLATE,
        title="Health back-test: ROC out of time",
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
    )
    calibration = go.Figure()
    for name in ("learned", "rules", "recency"):
        points = models[name].reliability
        calibration.add_scatter(
            x=[p["predicted"] for p in points],
            y=[p["observed"] for p in points],
            mode="lines+markers",
            name=name,
            line_color=MODEL_COLOURS[name],
        )
    calibration.add_scatter(
        x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dot", "color": "#999"}
    )
    calibration.update_layout(
        template=TEMPLATE,
        title="Calibration: predicted churn against observed, by bin",
        xaxis_title="predicted churn",
        yaxis_title="observed churn",
    )
    best = max(models, key=lambda n: models[n].auc)
    sentence = result.headline + f" The best ranking here is the {best} score."
    return Section("health", "Health score back-test", sentence, [roc, calibration]), (
        f"Health: the {best} score ranks churners best out of time (AUC "
        f"{models[best].auc:.3f}; learned {result.learned.auc:.3f}, rules "
        f"{result.rules.auc:.3f}, recency {result.recency.auc:.3f})."
    )


def _clv_values(store: Store) -> list[float]:
    """Every customer's stored lifetime value up to the 99th percentile (the long tail would
    flatten the histogram; the table below lists the top)."""
    column = store.engine.query(
        "SELECT value FROM customer_scores WHERE score = 'clv' AND value <= ("
        "SELECT quantile_cont(value, 0.99) FROM customer_scores WHERE score = 'clv')"
    ).column(0)
    return [float(v) for v in column.to_pylist()]


def _clv_section(store: Store) -> Built:
    result = current_lifetime_value(store)
    values = _clv_values(store)
    histogram = go.Figure(go.Histogram(x=values, nbinsx=40, marker_color="#31a354"))
    histogram.update_layout(
        template=TEMPLATE,
        title=f"Lifetime value over {result.horizon_days:.0f} days (up to the 99th percentile)",
        xaxis_title="expected value",
        yaxis_title="customers",
    )
    top_rows: list[dict[str, Any]] = [
        {k: row.get(k) for k in ("customer_id", "clv", "p_alive", "expected_purchases")}
        for row in result.top
    ]
    table = Table(
        (
            Column("customer_id", "customer", "text"),
            Column("clv", "lifetime value", "money"),
            Column("p_alive", "probability alive", "share"),
            Column("expected_purchases", "expected purchases", "score"),
        ),
        top_rows,
    )
    clv = result.distribution.get("clv", {})
    spend = (
        "their own mean spend, as Gamma-Gamma could not describe it"
        if "empirical_spend" in result.model
        else "Gamma-Gamma"
    )
    sentence = (
        f"{result.customers:,} buyers valued as of {result.as_of} (BG/NBD on their purchases, "
        f"{spend}): {_money(clv.get('total'))} expected over "
        f"{result.horizon_days:.0f} days, a median of {_money(clv.get('median'))} a customer."
    )
    share_top = _top_decile_share(store)
    finding = (
        f"Lifetime value: the top 10% of buyers carry {share_top:.0%} of the value expected."
        if share_top is not None
        else None
    )
    section = Section("clv", "Lifetime value: who is worth most", sentence, [histogram], table)
    return section, finding


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _top_decile_share(store: Store) -> float | None:
    """The share of all expected value held by the 10 % of customers worth most."""
    share = store.engine.scalar(
        "SELECT sum(value) FILTER (WHERE decile = 1) / nullif(sum(value), 0) FROM ("
        "SELECT value, ntile(10) OVER (ORDER BY value DESC) AS decile "
        "FROM customer_scores WHERE score = 'clv')"
    )
    return None if share is None else float(share)
