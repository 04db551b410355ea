"""What the report says about each analysis: every sentence computed from the analysis's figures.

Each function takes an analysis's result and returns what its section says and, when the
figures hold one, a headline finding. No claim is written that the figures do not back: when
the data is too thin to say something (no leak, one team, nobody back yet), the sentence says
that instead. These are pure functions, so a test can hand them two results that differ and see
the words differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parcours.journeys.attribution import MODELS, Attribution
from parcours.journeys.cohorts import Cohorts
from parcours.journeys.contacts import ChannelSwitching, RepeatContacts
from parcours.journeys.funnel import FunnelResult
from parcours.journeys.paths import JourneyMap
from parcours.journeys.performance import AgentPerformance
from parcours.journeys.report_table import duration, percent
from parcours.journeys.typical import TypicalJourneys
from parcours.journeys.visits import ConversionByVisit

MIN_VISITS = 30
"""A visit number needs this many visits before the report compares its conversion."""
MIN_SWITCHES = 10
"""A switch needs this many occurrences before the report judges it."""
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class Said:
    sentence: str
    finding: str | None = None


def funnel_says(result: FunnelResult) -> Said:
    """How many went from the first step to the last, and the biggest leak, if any."""
    rows = result.steps
    first, last = rows[0], rows[-1]
    if not result.customers:
        return Said(f"No customer has done {first['name']} yet: the funnel is empty.")
    within = duration(result.window_seconds)
    said = (
        f"{plural(result.customers, 'customer')} reached {first['name']}; "
        f"{last['customers']:,} ({percent(last['from_first'] or 0)}) went on to "
        f"{last['name']} within {within}."
    )
    leak = biggest_leak(result)
    if leak is None:
        return Said(f"{said} No one dropped out between two steps.")
    before = rows[leak["step"] - 2]
    stop = percent(1 - (leak["from_previous"] or 0))
    return Said(
        f"{said} The biggest leak is between {before['name']} and {leak['name']}: "
        f"{plural(leak['dropped'], 'customer')} ({stop}) "
        f"{'stops' if leak['dropped'] == 1 else 'stop'} there.",
        f"The funnel leaks most between {before['name']} and {leak['name']}: {stop} stop there.",
    )


def biggest_leak(result: FunnelResult) -> dict[str, Any] | None:
    """The step most customers dropped out before, or None when no one dropped out."""
    leak = max(result.steps[1:], key=lambda r: r["dropped"])
    return leak if leak["dropped"] else None


def leak_paths_says(customers: int, step: str, depth: int) -> str:
    """The caption of the paths that follow the step before the biggest leak."""
    return (
        f"Below, what the {plural(customers, 'customer')} who did {step} did next, "
        f"{_number(depth)} steps on (rarer touchpoints grouped as other, journeys that stop "
        "as (end))."
    )


def first_conversion_rates(result: ConversionByVisit, last: int = 10) -> dict[int, float]:
    """Per visit number up to `last`, with enough visits to judge, its first-conversion rate."""
    return {
        r["visit_number"]: r["first_conversion_rate"]
        for r in result.by_visit
        if r["visit_number"] <= last
        and r["visits"] >= MIN_VISITS
        and r["first_conversion_rate"] is not None
    }


def visits_says(result: ConversionByVisit) -> Said | None:
    """Which visit converts best, against the first; None when no visit number has enough.
    Rates are written to a tenth of a percent, so that the ratio between two can be checked."""
    rates = first_conversion_rates(result)
    if 1 not in rates:
        return None
    said = f"Of {plural(result.customers, 'customer')}, {result.converters:,} converted."
    best = max(rates, key=lambda k: (rates[k], -k))
    if not rates[best]:
        return Said(f"{said} No visit number with {MIN_VISITS} visits or more converts anyone.")
    if best == 1:
        others = {k: r for k, r in rates.items() if k != 1}
        if not others:
            return Said(f"{said} First visits convert {_rate(rates[1])} of the time.")
        runner = max(others, key=lambda k: (others[k], -k))
        return Said(
            f"{said} First visits convert best, {_rate(rates[1])} of the time; the next best "
            f"is visit {runner}, at {_rate(others[runner])}.",
            "First visits convert best.",
        )
    at_best = (
        f"{said} A customer still unconverted at visit {best} converts there "
        f"{_rate(rates[best])} of the time"
    )
    if not rates[1]:
        return Said(
            f"{at_best}, where no first visit converts.", f"Visit {best} converts; visit 1 never."
        )
    ratio = rates[best] / rates[1]
    return Said(
        f"{at_best}, {ratio:.1f}x the {_rate(rates[1])} of a first visit.",
        f"Visit {best} converts {ratio:.1f}x better than visit 1.",
    )


def map_says(result: JourneyMap) -> Said:
    """How many moves cross channels, and the most frequent of them."""
    moves = sum(e["count"] for e in result.edges)
    crossing = [e for e in result.edges if e["source"] != e["target"]]
    said = f"What follows what across {plural(result.journeys, 'customer')}' journeys, by channel:"
    if not crossing:
        return Said(f"{said} no one moved from one channel to another.")
    top = max(crossing, key=lambda e: e["count"])
    crossed = sum(e["count"] for e in crossing)
    return Said(
        f"{said} {crossed:,} of the {moves:,} moves ({percent(crossed / moves)}) go from one "
        f"channel to another, the most frequent {top['source']} → {top['target']} "
        f"({plural(top['count'], 'time')}, in {plural(top['journeys'], 'journey')})."
    )


def switches_says(result: ChannelSwitching, repeats: RepeatContacts) -> Said:
    """The costliest switch, and the one that settles least against a first contact."""
    said = f"{plural(result.switches, 'channel switch')} in {plural(result.contacts, 'contact')}."
    if not result.by_switch:
        return Said(f"{said} No case moved from one channel to another.")
    costly = result.by_switch[0]
    said += (
        f" The costliest, {costly['from_channel']} → {costly['to_channel']} "
        f"({plural(costly['switches'], 'switch')}), still needed "
        f"{plural(costly['contacts_after'], 'contact')} after it."
    )
    first = {r["channel"]: r["first_contact_resolution"] for r in repeats.by_channel}
    judged = [
        (unsettled / base, s)
        for s in result.by_switch
        if s["switches"] >= MIN_SWITCHES
        and (base := 1 - (first.get(s["to_channel"]) or 1.0)) > 0
        and (unsettled := 1 - (s["resolved_rate"] or 0)) > 0
    ]
    if not judged:
        return Said(said)
    ratio, worst = max(judged, key=lambda j: j[0])
    if ratio <= 1:
        return Said(
            f"{said} No switch seen {MIN_SWITCHES} times or more leaves a case unsettled more "
            "often than a first contact on the channel it leads to."
        )
    finding = (
        f"{worst['from_channel']} → {worst['to_channel']} switches end unsettled "
        f"{ratio:.1f}x as often as a first {worst['to_channel']} contact."
    )
    return Said(f"{said} {finding}", finding)


def repeats_says(result: RepeatContacts) -> Said:
    """Cases, repeats, resolution and effort; the intent that repeats most, if any does."""
    facts = [f"{plural(result.cases, 'case')}, {plural(result.repeats, 'repeat')}"]
    if result.first_contact_resolution is not None:
        facts.append(f"first-contact resolution {percent(result.first_contact_resolution)}")
    if result.contacts_per_resolution is not None:
        facts.append(f"{result.contacts_per_resolution:.1f} contacts per resolution")
    if result.mean_effort is not None:
        facts.append(f"mean effort {result.mean_effort:.1f}")
    said = "; ".join(facts) + "."
    within = duration(result.window_seconds)
    worst = max(result.by_intent, key=lambda r: r["repeat_rate"] or 0)
    if not worst["repeat_rate"]:
        return Said(
            f"{said} No contact, whatever its intent, is followed by another within {within}."
        )
    intent, rate = worst["intent"].replace("_", " "), percent(worst["repeat_rate"])
    return Said(
        f"{said} {intent.capitalize()} repeats most: {rate} of its contacts are followed by "
        f"another within {within}.",
        f"{rate} of {intent} contacts repeat within {within}.",
    )


def typical_says(result: TypicalJourneys) -> Said:
    """How many typical journeys, and the one that converts most, if any converts."""
    said = (
        f"{plural(result.customers, 'customer')}' journeys fall into "
        f"{_number(result.clusters)} typical {'one' if result.clusters == 1 else 'ones'}, "
        "grouped by how alike their sequences of visits are and named by what sets them apart."
    )
    best = max(result.typical, key=lambda t: t["conversion_rate"] or 0)
    if len(result.typical) == 1:
        return Said(f"{said} It converts {percent(best['conversion_rate'] or 0)}.")
    if not best["conversion_rate"]:
        return Said(f"{said} None of them converts.")
    return Said(
        f"{said} The one that converts most, '{best['name']}' ({percent(best['share'])} of "
        f"customers), converts {percent(best['conversion_rate'])}."
    )


def attribution_says(result: Attribution) -> Said:
    """The channel the Markov model credits most, against first and last touch."""
    top = result.by_touchpoint[0]
    markov, last = percent(top["markov_share"]), percent(top["last_touch_share"])
    return Said(
        f"{plural(result.conversions, 'conversion')} credited to channels by "
        f"{_number(len(MODELS))} models. The exact Markov model gives {top['touchpoint']} "
        f"{markov} of the credit (last touch: {last}, first touch: "
        f"{percent(top['first_touch_share'])}); the table splits a budget of "
        f"{result.budget:,.0f} in proportion to each model's credit.",
        f"{top['touchpoint']} earns {markov} of conversions (Markov), against {last} by last "
        "touch.",
    )


def agents_says(result: AgentPerformance, teams: list[dict[str, Any]]) -> Said:
    """The team that settles most first contacts and the one that settles fewest."""
    said = f"{plural(len(result.agents), 'agent')} in {plural(len(result.teams), 'team')}."
    best = max(teams, key=lambda t: t["first_contact_resolution"])
    worst = min(teams, key=lambda t: t["first_contact_resolution"])
    if best is worst or best["first_contact_resolution"] == worst["first_contact_resolution"]:
        named = best["team"] if len(teams) == 1 else "Every team"
        return Said(
            f"{said} {named} settles {percent(best['first_contact_resolution'])} of its first "
            "contacts."
        )
    return Said(
        f"{said} {best['team']} settles {percent(best['first_contact_resolution'])} of its "
        f"first contacts, {worst['team']} {percent(worst['first_contact_resolution'])} "
        f"(repeat rates {_share(best['repeat_rate'])} and {_share(worst['repeat_rate'])})."
    )


def cohorts_says(result: Cohorts) -> Said:
    """How many come back the month after, and how repeat purchase moves from the first month
    seen to the last; every cohort that far is pooled."""
    back = _pooled(result, "active", 1)
    if back is None:
        return Said(
            "Every customer was first seen in the data's last month: too soon to see anyone "
            "come back."
        )
    said = (
        f"Retention by the month customers were first seen: {percent(back)} come back the "
        "month after."
    )
    last = max(r["month"] for r in result.cohorts if r["observed"])
    far = {r["cohort"] for r in result.cohorts if r["month"] == last and r["observed"]}
    start = _pooled(result, "repeat_buyers", 0, far) or 0
    end = _pooled(result, "repeat_buyers", last, far)
    if not end:
        return Said(f"{said} By month {last}, no one has bought twice.")
    trend = "up from" if end > start else "down from" if end < start else "the same as"
    return Said(
        f"{said} By month {last}, {percent(end)} of the customers seen that long have bought "
        f"at least twice, {trend} {percent(start)} in their first month."
    )


def _pooled(
    result: Cohorts, count: str, month: int, cohorts: set[str] | None = None
) -> float | None:
    """`count` over the customers observed `month` months on, the cohorts (all, or those
    given) pooled together."""
    rows = [
        r
        for r in result.cohorts
        if r["month"] == month and r["observed"] and (cohorts is None or r["cohort"] in cohorts)
    ]
    observed = sum(r["observed"] for r in rows)
    return sum(r[count] for r in rows) / observed if observed else None


def plural(n: int, one: str, many: str | None = None) -> str:
    """`n` with the noun it counts: plural(1, "switch") == "1 switch", else "3 switches"."""
    if n == 1:
        return f"1 {one}"
    return f"{n:,} {many or (one + 'es' if one.endswith(('s', 'sh', 'ch')) else one + 's')}"


def _number(n: int) -> str:
    return NUMBERS[n] if n < len(NUMBERS) else f"{n:,}"


def _rate(value: float) -> str:
    return f"{value:.1%}"


def _share(value: float | None) -> str:
    return "unknown" if value is None else percent(value)
