"""Probabilistic matching: person records that share no key, matched by what they say.

A CRM row, a store receipt with a name and a postcode, a call log with a name and a birth
date: events whose properties describe a person (`rules.person_fields`) are *records*. Two
records of one person often share no identifier, so they are compared on those attributes
with the Fellegi–Sunter model (Fellegi & Sunter 1969, "A Theory for Record Linkage", JASA
64(328):1183–1210) as Splink implements it: candidate pairs come from blocking rules, the
model's m and u probabilities are estimated unsupervised (u by random sampling, m by
expectation–maximisation), and every candidate pair gets a match weight (log2 Bayes factor)
and a probability.

Assumptions, as the model makes them: attributes agree or disagree independently of each other
given the match status (first and last names are one comparison, so a swap is a level of its
own rather than two disagreements); most record pairs are non-matches (the u estimates take
random pairs as non-matches); a true pair agrees exactly on at least one blocking rule.

Each record speaks for its event's most trusted identifier (lowest priority rank, then type
and value): matches are written to `identity_matches` as pairs of those identifiers, with
their weight, probability and evidence (each attribute's comparison level and weight, and the
two events compared). `resolve_full` then unites those at or above `rules.match_threshold`,
after every deterministic link, so a rule (one user id per customer) still refuses a match.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from splink import Linker, block_on
from splink.internals.exceptions import EMTrainingException
from splink.internals.splink_dataframe import SplinkDataFrame

from parcours.identity import graph
from parcours.identity.person_model import (
    MIN_ATTRIBUTES,
    NAMES,
    check_comparable,
    exact_rule,
    floored,
    model_settings,
    training_blocks,
)
from parcours.identity.rules import IdentityRules, identity_rules
from parcours.sql import ident, lit
from parcours.store.store import Store

DESCRIBED, RECORDS, PREDICTIONS = "_person_described", "_person_records", "_person_matches"
KEEP_FROM = 0.5
"""Matches from this probability on are written (or from the threshold, if it is lower): the
audit shows the near misses, and a lower threshold needs no new run."""
SEED = 5
"""Splink samples random pairs to estimate u; seeded, a run on the same data is repeatable."""
U_SAMPLE_PAIRS = 5e6
RECALL_OF_EXACT_RULE = 0.7
"""How many true matches agree exactly on names and birth date (the prior's estimate)."""


@dataclass
class MatchRun:
    """What a matching run did. `to_dict()` is its stable JSON."""

    run_id: str
    records: int = 0
    attributes: list[str] = field(default_factory=list)
    candidate_pairs: int = 0
    matches_written: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- pure builders: records


def normalised_sql(attribute: str, value: str) -> str:
    """SQL for an attribute's value as matching compares it: lower case, no accents, and for
    names and addresses only letters and digits (`Jean-Pierre` and `jean pierre` agree); birth
    dates as ISO `YYYY-MM-DD` (see `birth_date_sql`). Empty is NULL."""
    text = f"lower(strip_accents(trim({value})))"
    if attribute in NAMES:
        text = rf"regexp_replace({text}, '[^\pL]', '', 'g')"
    elif attribute == "birth_date":
        text = birth_date_sql(text)
    elif attribute in ("street", "street_number", "postcode", "city"):
        text = rf"regexp_replace({text}, '[^\pL\pN]', '', 'g')"
    else:
        text = rf"regexp_replace({text}, '\s+', ' ', 'g')"
    return f"nullif({text}, '')"


DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y")
"""Day first before month first: `05/03/1987` is the 5th of March (an American record of
the 3rd of May then reads as its day and month swapped, which the comparison allows for)."""


def birth_date_sql(text: str) -> str:
    """SQL for a birth date as ISO `YYYY-MM-DD`: parsed when it parses (timestamps too), else
    its digits put in that shape when it is written year first or year last (a typo such as
    `1968-07-74` is still one digit from `1968-07-24`), else its digits."""
    # Lower-cased before: a timestamp's T is a t.
    formats = ", ".join([*(lit(f) for f in DATE_FORMATS), "'%Y-%m-%dt%H:%M:%S'"])
    digits = f"regexp_replace({text}, '[^0-9]', '', 'g')"
    year_first = (
        f"substr({digits}, 1, 4) || '-' || substr({digits}, 5, 2) || '-' || substr({digits}, 7, 2)"
    )
    year_last = (
        f"substr({digits}, 5, 4) || '-' || substr({digits}, 3, 2) || '-' || substr({digits}, 1, 2)"
    )
    return (
        f"coalesce(strftime(try_strptime({text}, [{formats}]), '%Y-%m-%d'), "
        rf"CASE WHEN regexp_full_match({text}, '\d{{4}}\D?\d{{2}}\D?\d{{2}}') THEN {year_first} "
        rf"WHEN regexp_full_match({text}, '\d{{2}}\D\d{{2}}\D\d{{4}}') THEN {year_last} "
        f"ELSE {digits} END)"
    )


def described_events_query(rules: IdentityRules) -> str:
    """Events whose properties describe a person, with each attribute normalised."""
    attributes = []
    for attribute, names in rules.person_fields.items():
        found = [f"nullif(trim(properties ->> {lit(name)}), '')" for name in names]
        raw = found[0] if len(found) == 1 else f"coalesce({', '.join(found)})"
        attributes.append(f"{normalised_sql(attribute, raw)} AS {ident(attribute)}")
    present = " + ".join(f"({ident(a)} IS NOT NULL)::INT" for a in rules.person_fields)
    return f"""
        SELECT * FROM (
            SELECT source, event_id, {", ".join(attributes)}
            FROM events WHERE properties IS NOT NULL AND json_type(properties) = 'OBJECT'
        ) WHERE {present} >= {MIN_ATTRIBUTES}
    """


def records_query(rules: IdentityRules, described: str) -> str:
    """One record per identity and distinct description, numbered: the records to compare.

    A record's identity is its event's most trusted identifier; `described` is a relation like
    `described_events_query`'s. Columns: record_id, record_rank, record_type, record_value,
    record_source and record_event (its first event, for the evidence), record_events, then
    the attributes.
    """
    attributes = ", ".join(ident(a) for a in rules.person_fields)
    described_attributes = ", ".join(f"d.{ident(a)}" for a in rules.person_fields)
    occurrences = graph.occurrences_query(rules)
    return f"""
        WITH identity AS (
            SELECT source, event_id, min(rank) AS record_rank,
                   first(type ORDER BY rank, type, value) AS record_type,
                   first(value ORDER BY rank, type, value) AS record_value
            FROM ({occurrences}) o
            WHERE (source, event_id) IN (SELECT source, event_id FROM {described})
            GROUP BY source, event_id
        ),
        grouped AS (
            SELECT i.record_rank, i.record_type, i.record_value,
                   first(d.source ORDER BY d.source, d.event_id) AS record_source,
                   first(d.event_id ORDER BY d.source, d.event_id) AS record_event,
                   count(*) AS record_events, {described_attributes}
            FROM {described} d JOIN identity i USING (source, event_id)
            GROUP BY ALL
        )
        SELECT (row_number() OVER (ORDER BY record_rank, record_type, record_value,
                                   {attributes}))::BIGINT AS record_id, *
        FROM grouped
    """


# ---------------------------------------------------------------- pure builders: the output


def exact_pairs_query(attributes: list[str]) -> str:
    """How many record pairs agree exactly on `exact_rule(attributes)`."""
    agree = " AND ".join(f"a.{ident(x)} = b.{ident(x)}" for x in exact_rule(attributes))
    return f"""
        SELECT count(*) FROM {RECORDS} a JOIN {RECORDS} b
        ON a.record_id < b.record_id AND {agree}
    """


def evidence_sql(model: dict[str, Any]) -> str:
    """SQL for a prediction's evidence: each comparison's level and weight (log2 Bayes factor,
    term-frequency adjustment included), the level's label from the trained model."""
    parts = []
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        levels = comparison["comparison_levels"]
        # Splink's convention: the null level is -1, the others count down to 0 ("else").
        gamma = sum(1 for level in levels if not level.get("is_null_level"))
        cases = []
        for level in levels:
            if level.get("is_null_level"):
                code = -1
            else:
                gamma -= 1
                code = gamma
            label = level.get("label_for_charts") or str(code)
            cases.append(f"WHEN {code} THEN {lit(label)}")
        weight = ident("mw_" + name)
        if any(level.get("tf_adjustment_column") for level in levels):
            weight = f"{weight} + coalesce({ident('mw_tf_adj_' + name)}, 0)"
        parts.append(
            f"{lit(name)}, json_object('level', CASE {ident('gamma_' + name)} "
            f"{' '.join(cases)} END, 'weight', round({weight}, 2))"
        )
    return f"json_object({', '.join(parts)})"


def matches_query(predictions: str, evidence: str, run_id: str) -> str:
    """`identity_matches` rows from the predictions: one per pair of identities (the
    strongest of their records' pairs), the more trusted identity on the left."""
    return f"""
        SELECT left_type, left_value, right_type, right_value, match_weight, probability,
               evidence, {lit(run_id)} AS run_id
        FROM (
            SELECT l.record_type AS left_type, l.record_value AS left_value,
                   r.record_type AS right_type, r.record_value AS right_value,
                   p.match_weight, p.match_probability AS probability,
                   json_merge_patch({evidence}, json_object('records', json_array(
                       json_object('source', l.record_source, 'event_id', l.record_event),
                       json_object('source', r.record_source, 'event_id', r.record_event)
                   ))) AS evidence,
                   row_number() OVER (
                       PARTITION BY l.record_type, l.record_value, r.record_type,
                                    r.record_value
                       ORDER BY p.match_weight DESC, l.record_id, r.record_id) AS strongest
            FROM (
                SELECT *, least(record_id_l, record_id_r) AS lo,
                       greatest(record_id_l, record_id_r) AS hi
                FROM {predictions}
            ) p
            JOIN {RECORDS} l ON l.record_id = p.lo
            JOIN {RECORDS} r ON r.record_id = p.hi
            WHERE (l.record_type, l.record_value) <> (r.record_type, r.record_value)
        ) WHERE strongest = 1
        ORDER BY left_type, left_value, right_type, right_value
    """


# ---------------------------------------------------------------- the run


def match_people(store: Store) -> MatchRun:
    """Match the store's person records and replace `identity_matches` with what is found;
    `resolve_full` then links the matches at or above `rules.match_threshold`.

    Returns how many records were compared, on which attributes, over how many candidate
    pairs, and how many matches (pairs of identities, probability at least 0.5, or the
    threshold if lower) were written. Fewer than two records is not an error: nothing to
    match, and no match is kept. Records that carry too little to compare (only names) are a
    ConfigError that says which attribute to add (`check_comparable`).
    """
    started = time.perf_counter()
    engine = store.engine
    run = MatchRun(run_id="m" + time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6])
    try:
        _collect_records(store, run)
        comparable = run.records >= 2
        if comparable:
            check_comparable(run.attributes)
            with _quiet_splink():
                _predict(store, run)
        with engine.transaction():
            engine.execute_script("DELETE FROM identity_matches")
            if comparable:
                run.matches_written = engine.write(
                    f"INSERT INTO identity_matches SELECT * FROM {PREDICTIONS}"
                )
            engine.execute(
                "INSERT INTO identity_match_runs VALUES (?, now(), ?, ?)",
                [run.run_id, run.records, run.matches_written],
            )
    finally:
        for table in (DESCRIBED, RECORDS, PREDICTIONS):
            engine.execute_script(f"DROP TABLE IF EXISTS {table}")
    run.seconds = round(time.perf_counter() - started, 3)
    return run


def _collect_records(store: Store, run: MatchRun) -> None:
    """The records table, and which attributes are worth comparing."""
    rules = identity_rules(store.settings)
    engine = store.engine
    engine.execute_script(
        f"CREATE OR REPLACE TEMP TABLE {DESCRIBED} AS {described_events_query(rules)}"
    )
    engine.execute_script(
        f"CREATE OR REPLACE TEMP TABLE {RECORDS} AS {records_query(rules, DESCRIBED)}"
    )
    counts = engine.query(
        "SELECT count(*) AS records, "
        + ", ".join(f"count({ident(a)}) AS {ident(a)}" for a in rules.person_fields)
        + f" FROM {RECORDS}"
    ).to_pylist()[0]
    run.records = counts.pop("records")
    # An attribute fewer than two records carry teaches the model nothing.
    run.attributes = [attribute for attribute, n in counts.items() if n >= 2]


def _predict(store: Store, run: MatchRun) -> None:
    """Train the model on the records and leave the matches in PREDICTIONS."""
    engine = store.engine
    records = engine.linker_api().register(RECORDS)
    # With no pair agreeing on names and birth date there is nothing to estimate the prior
    # from: take it as one match among all pairs.
    exact = int(engine.scalar(exact_pairs_query(run.attributes)))
    prior = 2 / (run.records * (run.records - 1))
    linker = _trained(records, run.attributes, prior, estimate_prior=exact > 0)
    try:
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        run.candidate_pairs = int(engine.scalar(f"SELECT count(*) FROM {blocked.physical_name}"))
        predictions = linker.inference.predict(
            threshold_match_probability=min(
                KEEP_FROM, identity_rules(store.settings).match_threshold
            ),
            warning_mode="never",
        )
        evidence = evidence_sql(linker.misc.save_model_to_json())
        engine.execute_script(
            f"CREATE OR REPLACE TEMP TABLE {PREDICTIONS} AS "
            f"{matches_query(predictions.physical_name, evidence, run.run_id)}"
        )
    finally:
        linker.table_management.delete_tables_created_by_splink_from_db()  # type: ignore[no-untyped-call]


def _trained(
    records: SplinkDataFrame, attributes: list[str], prior: float, *, estimate_prior: bool
) -> Linker:
    """A linker with unsupervised estimates: the prior from near-certain matches, u from
    random pairs, m by expectation–maximisation on two blocks that between them train every
    comparison, floored before each session and after the last (`person_model.M_FLOOR`)."""
    linker = Linker(records, model_settings(attributes, prior), log_level=None)
    training = linker.training
    if estimate_prior:
        training.estimate_probability_two_random_records_match(
            [block_on(*exact_rule(attributes))], recall=RECALL_OF_EXACT_RULE
        )
    training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
    for block in training_blocks(attributes):
        model = floored(linker.misc.save_model_to_json())
        # Each session starts from the model so far, floored (on the same database API,
        # whose cache of tables the new linker shares).
        linker = Linker(records, model, log_level=None)
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*block), record_sample_proportion=1.0
            )
        except (EMTrainingException, ValueError):
            # A block with no pair, or with no match among its pairs (every record a
            # different person), has nothing to teach: its comparisons keep the estimates
            # so far, or Splink's defaults, which still weigh an agreement above a
            # disagreement. A failed session leaves Splink's linker without the blocked
            # comparisons, so the model is restored from before it.
            linker = Linker(records, model, log_level=None)
    return Linker(records, floored(linker.misc.save_model_to_json()), log_level=None)


@contextmanager
def _quiet_splink() -> Iterator[None]:
    """Splink logs its progress, and its training notes (a level too rare to train on few
    records) as warnings on stderr; the run reports itself in `MatchRun` instead."""
    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
