"""The model person records are matched with: how each attribute is compared, which pairs
are candidates, what training blocks on. Pure builders of Splink's settings; no I/O (the run is
`identity.probabilistic`).

The comparisons follow how people and clerks write: first and last names are one comparison,
so that a swap is a level of its own (with or without a typo) rather than two disagreements,
and a nickname leaves the last name to agree; a birth date may come with day and month
swapped, or one digit wrong; postcodes, cities and streets with a typo are levels short of
agreement. Every level's m is estimated (see `identity.probabilistic`), with a floor.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.comparison_creator import ComparisonCreator

from parcours.errors import ConfigError
from parcours.identity.rules import DEFAULT_PERSON_FIELDS

MIN_ATTRIBUTES = 2
"""A record needs this many attributes: a lone postcode or first name describes nobody."""
M_FLOOR = 1e-4
"""No level is impossible for a match. Expectation–maximisation drives a level's m to zero
when it judges every pair at that level a non-match (the postcodes of pairs that agree on
names, all different): that level would then veto any match (a weight of -140 bits), and the
next session fails on it (Splink refuses an m that small), leaving the comparisons it trains
untrained. Floored, a disagreement weighs at most log2(M_FLOOR / u) bits: about -13."""
NAMES = ("first_name", "last_name")
PLACES = ("postcode", "city")
"""Pairs of these are not blocked on together: a postcode says what a city says."""
BLOCKING_ATTRIBUTES = (*NAMES, "birth_date", "street", "street_number", *PLACES)
EXACT_RULES = (
    ("first_name", "last_name", "birth_date"),
    ("first_name", "last_name", "postcode"),
    ("first_name", "last_name", "street"),
    ("first_name", "last_name", "city"),
)


def day_month_swapped(date: str) -> str:
    """SQL for an ISO date written with its day and month swapped."""
    return f"substr({date}, 1, 5) || substr({date}, 9, 2) || '-' || substr({date}, 6, 2)"


def birth_date_comparison(attribute: str) -> ComparisonCreator:
    """Birth dates as written (`birth_date_sql`): the same, day and month swapped, one digit
    wrong or two swapped, or different. A date that does not parse still counts: a wrong
    day (`1968-07-74`) is one digit off, and any other date is a disagreement, not a blank."""
    swapped = f"{attribute}_l = {day_month_swapped(attribute + '_r')}"
    return cl.CustomComparison(
        output_column_name=attribute,
        comparison_levels=[
            cll.NullLevel(attribute),
            cll.ExactMatchLevel(attribute).configure(
                label_for_charts="Exact match on date of birth"
            ),
            cll.CustomLevel(swapped, "Day and month swapped"),
            cll.DamerauLevenshteinLevel(attribute, 1).configure(
                label_for_charts="One digit wrong or two swapped"
            ),
            cll.ElseLevel(),
        ],
    )


def comparison_for(attribute: str) -> ComparisonCreator:
    """How one attribute is compared; an attribute parcours does not know is compared exactly."""
    if attribute == "birth_date":
        return birth_date_comparison(attribute)
    if attribute in NAMES:
        return cl.NameComparison(attribute)
    if attribute == "postcode":
        return cl.DamerauLevenshteinAtThresholds(attribute, [1, 2])
    if attribute in ("city", "street"):
        return cl.JaroWinklerAtThresholds(attribute, [0.9, 0.8])
    return cl.ExactMatch(attribute)


def names_comparison() -> ComparisonCreator:
    """First and last names as one comparison, so that a swap is a level of its own rather
    than two disagreements; swapped names with a typo, and a nickname (the surname agrees, on
    either side), are levels too. A surname or a first name that agrees alone weighs by its
    frequency (term frequency): a rare surname says more than a common one."""
    first, last = NAMES
    first_l, first_r, last_l, last_r = (f"{a}_{side}" for a in NAMES for side in "lr")

    def similar(left: str, right: str, threshold: float) -> str:
        return f"jaro_winkler_similarity({left}, {right}) >= {threshold}"

    return cl.CustomComparison(
        output_column_name=f"{first}_{last}",
        comparison_levels=[
            cll.And(cll.NullLevel(first), cll.NullLevel(last)),
            cll.And(cll.ExactMatchLevel(first), cll.ExactMatchLevel(last)),
            cll.ColumnsReversedLevel(first, last, symmetrical=True),
            cll.And(cll.JaroWinklerLevel(first, 0.92), cll.JaroWinklerLevel(last, 0.92)),
            cll.CustomLevel(
                f"{similar(first_l, last_r, 0.92)} AND {similar(last_l, first_r, 0.92)}",
                "Names swapped, with a typo",
            ),
            cll.And(cll.JaroWinklerLevel(first, 0.88), cll.JaroWinklerLevel(last, 0.88)),
            cll.ExactMatchLevel(last).configure(tf_adjustment_column=last),
            cll.CustomLevel(
                f"{last_l} = {first_r} OR {first_l} = {last_r}",
                "One name the same on the other side",
            ),
            cll.CustomLevel(
                f"{similar(last_l, last_r, 0.92)} OR {similar(last_l, first_r, 0.92)} "
                f"OR {similar(first_l, last_r, 0.92)}",
                "Last name alike, on either side",
            ),
            cll.ExactMatchLevel(first).configure(tf_adjustment_column=first),
            cll.ElseLevel(),
        ],
    )


def comparisons(attributes: list[str]) -> list[ComparisonCreator]:
    """One comparison per attribute; first and last names as one when both are there, so
    that a swap (`martin` `paul` against `paul` `martin`) is a level of its own."""
    found = [a for a in attributes if a not in NAMES]
    if all(name in attributes for name in NAMES):
        names: list[ComparisonCreator] = [names_comparison()]
    else:
        names = [comparison_for(a) for a in attributes if a in NAMES]
    return [*names, *(comparison_for(a) for a in found)]


def prediction_blocks(attributes: list[str]) -> list[Any]:
    """Candidate pairs: records that agree exactly on a birth date (or on it with day and
    month swapped), or on their names swapped, or on any two blocking attributes (not two
    places), or on a place and the house number their streets start with. Pairs of keys keep
    the blocks small on a million records (one first name alone would pair up a hundred
    million) while a true pair with typos in a few fields still agrees on some two others."""
    usable = [a for a in BLOCKING_ATTRIBUTES if a in attributes]
    rules: list[Any] = []
    if "birth_date" in usable:
        rules.append(block_on("birth_date"))
        rules.append(f"l.birth_date = {day_month_swapped('r.birth_date')}")
    if all(name in usable for name in NAMES):
        rules.append("l.first_name = r.last_name AND l.last_name = r.first_name")
    rules += [
        block_on(a, b)
        for a, b in combinations(usable, 2)
        if not (a in PLACES and b in PLACES) and "birth_date" not in (a, b)
    ]
    if "street" in usable and "street_number" not in usable:
        # The house number a street starts with survives a typo in the street's name.
        rules += [
            f"l.{place} = r.{place} AND {house_number('l')} = {house_number('r')}"
            for place in PLACES
            if place in usable
        ]
    return rules or [block_on(a) for a in attributes]


def house_number(side: str) -> str:
    """SQL for the number a record's street starts with (`12ruedelapaix`), NULL if none."""
    return f"nullif(regexp_extract({side}.street, '^[0-9]+'), '')"


def check_comparable(attributes: list[str]) -> None:
    """Refuse records that give the model fewer than two comparisons: with one (first and last
    names, which are compared as one), every pair agreeing on it looks alike and nothing tells
    namesakes apart, so there is nothing to train the model on."""
    if len(comparisons(attributes)) >= MIN_ATTRIBUTES:
        return
    others = [a for a in DEFAULT_PERSON_FIELDS if a not in attributes and a not in NAMES]
    raise ConfigError(
        f"The person records share only {' and '.join(attributes) or 'no attribute'}: "
        "matching needs two attributes to compare (first and last names count as one), "
        f"so one more of {', '.join(others)}",
        "send a birth date or an address with the records, as a property that the setting "
        "identity.person_fields names for it (birth_date, postcode...), or add the property "
        "name your events use to that setting (parcours.toml, section parcours.identity)",
    )


def exact_rule(attributes: list[str]) -> list[str]:
    """The attributes a near-certain match agrees on, for the prior's estimate."""
    for rule in EXACT_RULES:
        if all(a in attributes for a in rule):
            return list(rule)
    return attributes


def training_blocks(attributes: list[str]) -> list[list[str]]:
    """Blocks for the EM sessions: each trains the comparisons it does not block on, so two
    disjoint blocks train them all (names, then a birth date or an address)."""
    names = [a for a in NAMES if a in attributes]
    others: list[str] = [a for a in ("birth_date", "postcode", "street", "city") if a in attributes]
    return [block for block in (names, others[:1]) if block]


def model_settings(attributes: list[str], prior: float = 1e-4) -> SettingsCreator:
    """Splink's settings for records with these attributes; `prior` is the probability that
    two random records match, before it is estimated."""
    return SettingsCreator(
        link_type="dedupe_only",
        probability_two_random_records_match=prior,
        unique_id_column_name="record_id",
        comparisons=[*comparisons(attributes)],
        blocking_rules_to_generate_predictions=prediction_blocks(attributes),
        # The evidence: each comparison's level (gamma, kept with the matching columns) and
        # its weight (an intermediate column).
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
    )


def floored(model: dict[str, Any]) -> dict[str, Any]:
    """The model with every level's m probability at least `M_FLOOR`."""
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            m = level.get("m_probability")
            if isinstance(m, float) and m < M_FLOOR:
                level["m_probability"] = M_FLOOR
    return model
