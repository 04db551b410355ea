"""What the report says follows the figures, and its tables write each number by its kind.

The sentences for the contact-centre and model analyses (visits, switches, repeats, typical
journeys, attribution, teams) are pure functions of an analysis's result: each test hands two
hand-made results whose truth differs and checks the words differ as the truth does. Every
expected figure is worked out from the result written in the test. (The funnel, map and
cohorts sentences are held end to end, on real stores, in tests/e2e/test_report.py.)
"""

from __future__ import annotations

from typing import Any

import pytest

from parcours.journeys import report_text as says
from parcours.journeys.attribution import MODELS, Attribution
from parcours.journeys.charts import cohorts_figure, map_figure
from parcours.journeys.cohorts import Cohorts
from parcours.journeys.contacts import ChannelSwitching, RepeatContacts
from parcours.journeys.paths import JourneyMap
from parcours.journeys.performance import AgentPerformance
from parcours.journeys.report_table import Column, Table, duration, written
from parcours.journeys.typical import TypicalJourneys
from parcours.journeys.visits import ConversionByVisit

WEEK = 7 * 86400.0


def _visits(rates: dict[int, float]) -> ConversionByVisit:
    by_visit = [
        {"visit_number": k, "visits": 100, "first_conversion_rate": r} for k, r in rates.items()
    ]
    return ConversionByVisit("Order Completed", 1800.0, 500, 60, by_visit)


def test_the_visits_sentence_names_the_visit_that_converts_best() -> None:
    later = says.visits_says(_visits({1: 0.05, 2: 0.04, 3: 0.10}))
    first = says.visits_says(_visits({1: 0.08, 2: 0.06, 3: 0.02}))
    never = says.visits_says(_visits({1: 0.0, 2: 0.03}))
    assert later and first and never
    assert "unconverted at visit 3 converts there 10.0% of the time, 2.0x the 5.0% of a first" in (
        later.sentence
    )
    assert later.finding == "Visit 3 converts 2.0x better than visit 1."
    assert "First visits convert best, 8.0% of the time; the next best is visit 2, at 6.0%" in (
        first.sentence
    )
    assert first.finding == "First visits convert best."
    assert (
        "visit 2 converts there 3.0% of the time, where no first visit converts" in never.sentence
    )


def test_the_visits_section_is_left_out_when_first_visits_are_too_few_to_judge() -> None:
    thin = _visits({1: 0.5})
    thin.by_visit[0]["visits"] = says.MIN_VISITS - 1
    assert says.visits_says(thin) is None


def _switches(resolved_rate: float) -> ChannelSwitching:
    switch = {
        "from_channel": "chat",
        "to_channel": "call",
        "switches": 12,
        "contacts_after": 5,
        "resolved_rate": resolved_rate,
    }
    return ChannelSwitching(40, 12, [switch], [switch])


def _repeats(by_intent: list[dict[str, Any]], first_call: float = 0.6) -> RepeatContacts:
    by_channel = [{"channel": "call", "first_contact_resolution": first_call}]
    return RepeatContacts(WEEK, 40, 20, 8, 0.55, 2.04, None, 2.75, by_intent, by_channel)


def test_the_switch_finding_appears_only_when_a_switch_settles_less_than_a_first_contact() -> None:
    # A first call leaves 40% unsettled; after chat → call, 80% (ratio 2.0) or 20% (0.5).
    worse = says.switches_says(_switches(0.2), _repeats([]))
    better = says.switches_says(_switches(0.8), _repeats([]))
    assert worse.sentence.startswith("12 channel switches in 40 contacts. The costliest, ")
    assert "chat → call (12 switches), still needed 5 contacts after it." in worse.sentence
    assert (
        worse.finding == "chat → call switches end unsettled 2.0x as often as a first call contact."
    )
    assert better.finding is None
    assert "No switch seen 10 times or more leaves a case unsettled more often" in better.sentence


def test_the_repeats_sentence_names_the_intent_that_repeats_most() -> None:
    billing = [
        {"intent": "billing", "repeat_rate": 0.5},
        {"intent": "delivery", "repeat_rate": 0.1},
    ]
    delivery = [
        {"intent": "billing", "repeat_rate": 0.0},
        {"intent": "delivery", "repeat_rate": 0.3},
    ]
    none = [{"intent": "billing", "repeat_rate": 0.0}]
    said = says.repeats_says(_repeats(billing))
    assert said.sentence.startswith(
        "20 cases, 8 repeats; first-contact resolution 55%; 2.0 contacts per resolution; "
        "mean effort 2.8."
    )
    assert "Billing repeats most: 50% of its contacts are followed by another within 7 days" in (
        said.sentence
    )
    assert said.finding == "50% of billing contacts repeat within 7 days."
    assert says.repeats_says(_repeats(delivery)).finding == (
        "30% of delivery contacts repeat within 7 days."
    )
    quiet = says.repeats_says(_repeats(none))
    assert (
        quiet.finding is None and "No contact, whatever its intent, is followed" in quiet.sentence
    )


def _typical(rates: list[float | None]) -> TypicalJourneys:
    rows = [
        {"name": f"journey {i + 1}", "share": 1 / len(rates), "conversion_rate": r}
        for i, r in enumerate(rates)
    ]
    return TypicalJourneys(
        "Order Completed", len(rates), "given", None, 7, 200, 9, 9, 1.0, typical=rows
    )


def test_the_typical_sentence_names_the_journey_that_converts_most() -> None:
    assert "fall into two typical ones" in says.typical_says(_typical([0.1, 0.4])).sentence
    assert (
        "'journey 2' (50% of customers), converts 40%"
        in says.typical_says(_typical([0.1, 0.4])).sentence
    )
    assert (
        "'journey 1' (50% of customers), converts 30%"
        in says.typical_says(_typical([0.3, 0.2])).sentence
    )
    assert says.typical_says(_typical([0.0, None])).sentence.endswith("None of them converts.")
    assert says.typical_says(_typical([0.25])).sentence.endswith(
        "fall into one typical one, grouped by how alike their sequences of visits are and named "
        "by what sets them apart. It converts 25%."
    )


def _attribution(top: str, markov: float, last: float, budget: float) -> Attribution:
    row = {f"{m}_share": 0.5 for m in MODELS} | {"touchpoint": top, "markov_share": markov}
    row["last_touch_share"] = last
    return Attribution("Order Completed", "channel", 90, 100, 0.3, budget, [row])


def test_the_attribution_sentence_names_the_channel_the_markov_model_credits_most() -> None:
    web = says.attribution_says(_attribution("web", 0.46, 0.58, 100.0))
    email = says.attribution_says(_attribution("email", 0.31, 0.12, 5000.0))
    assert "The exact Markov model gives web 46% of the credit (last touch: 58%" in web.sentence
    assert "by seven models" in web.sentence and "a budget of 100 in proportion" in web.sentence
    assert web.finding == "web earns 46% of conversions (Markov), against 58% by last touch."
    assert email.finding == "email earns 31% of conversions (Markov), against 12% by last touch."
    assert "a budget of 5,000 in proportion" in email.sentence


def _teams(*rates: tuple[str, float, float]) -> tuple[AgentPerformance, list[dict[str, Any]]]:
    teams = [
        {"team": t, "first_contact_resolution": fcr, "repeat_rate": rr} for t, fcr, rr in rates
    ]
    return AgentPerformance([{"agent": "A1"}, {"agent": "A2"}, {"agent": "A3"}], teams), teams


def test_the_teams_sentence_compares_teams_only_when_there_are_two() -> None:
    two = says.agents_says(*_teams(("Billing", 0.9, 0.1), ("Chat", 0.5, 0.4)))
    one = says.agents_says(*_teams(("Billing", 0.7, 0.2)))
    assert two.sentence == (
        "3 agents in 2 teams. Billing settles 90% of its first contacts, Chat 50% "
        "(repeat rates 10% and 40%)."
    )
    assert one.sentence == "3 agents in 1 team. Billing settles 70% of its first contacts."


def test_a_number_is_written_by_the_kind_its_column_declares() -> None:
    """The issue's cases: a budget of 46.1 is money, an effort of 0.28 a score, a tenure of 0
    days a duration; none of them is a percentage. Only a share is."""
    table = Table(
        (
            Column("channel", "channel", "text"),
            Column("budget", "budget", "money"),
            Column("effort", "effort", "score"),
            Column("tenure", "median tenure", "duration"),
            Column("share", "conversion", "share"),
            Column("customers", "customers", "count"),
        ),
        [
            {"channel": "web", "budget": 46.1, "effort": 0.28, "tenure": 0.0, "share": 0.28}
            | {"customers": 1234},
            {"channel": "app", "budget": 0.28, "effort": 2.8, "tenure": 44.1 * 86400, "share": None}
            | {"customers": 7},
        ],
    )
    assert table.cells() == [
        ["web", "46.10", "0.3", "0", "28%", "1,234"],
        ["app", "0.28", "2.8", "44 days", "–", "7"],
    ]
    assert "<th>median tenure</th>" in table.to_html()


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (42.0, "42 s"),
        (742.0, "12 min 22 s"),
        (720.0, "12 min"),
        (11100.0, "3 h 5 min"),
        (WEEK, "7 days"),
        (86400.0, "1 day"),
        (2.5 * 86400, "2.5 days"),
    ],
)
def test_a_duration_reads_as_time(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_a_small_share_is_never_written_as_none_or_all() -> None:
    assert written(0.002, "share") == "0.2%"
    assert written(0.998, "share") == "99.8%"
    assert written(0.0, "share") == "0%" and written(1.0, "share") == "100%"


def test_the_journey_map_colours_a_rare_move_beside_a_hundred_thousand_common_ones() -> None:
    """web → web 100,000 times and web → email once: on a linear scale the single move is the
    white of an empty cell. On the map's log scale it must be visibly coloured, and its real
    count must be in the cell's text."""
    from plotly.colors import sample_colorscale, unlabel_rgb

    edges = [
        {"source": "web", "target": "web", "count": 100_000, "journeys": 900},
        {"source": "web", "target": "email", "count": 1, "journeys": 1},
        {"source": "email", "target": "web", "count": 30, "journeys": 30},
    ]
    heat = map_figure(JourneyMap("channel", "customer", 900, edges, [])).data[0]
    cell = {
        (y, x): (z, t)
        for y, zs, ts in zip(heat.y, heat.z, heat.text, strict=True)
        for x, z, t in zip(heat.x, zs, ts, strict=True)
    }
    rare, text = cell[("web", "email")]
    assert text == "1" and cell[("web", "web")][1] == "100,000"
    position = (rare - heat.zmin) / (heat.zmax - heat.zmin)
    scale = [[at, colour] for at, colour in heat.colorscale]
    colour = unlabel_rgb(sample_colorscale(scale, [position])[0])
    assert sum(255 - c for c in colour) > 60, f"a single move is drawn {colour}: near white"
    assert cell[("email", "email")][0] is None  # no move: no colour at all


def test_month_cohorts_are_labelled_as_months_even_when_there_is_one() -> None:
    """Plotly reads "2026-03" as a date and, with a single cohort, labels the axis down to the
    millisecond ("23:59:59.9996"): the axis must be categories."""
    row = {"cohort": "2026-03", "month": 0, "observed": 4, "retention": 1.0}
    figure = cohorts_figure(Cohorts("month", "Order Completed", [row]))
    assert figure.layout.yaxis.type == "category" and figure.layout.xaxis.type == "category"
    assert list(figure.data[0].y) == ["2026-03"]
