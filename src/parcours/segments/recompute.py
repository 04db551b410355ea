"""The whole station at once: every score, then every segment (segments may name scores), in
full on demand, and for the customers new events touched after each import and live load.

A full recompute runs each scorer with its defaults — tiers on the seed's orders ladder, RFM,
lifetime value, health (rules and learned), personas, the shipped onboarding milestone, each
customer's typical journey — and then every saved segment. A scorer the store cannot feed
yet (no purchases, too little history for a model) is skipped with its reason, so a young
store gets what it can have.

A refresh for touched customers rescoring them with what the last full run kept (RFM's
boundaries, the lifetime-value, health and persona models, the ladder and milestone in use) —
never a refit — and only for the scores the store holds already; then their segments. Their
events are copied once (`Engine.copy_rows`) and every step reads that copy: a thousand
customers' events lie all over `customer_events`, and each step filtering it again would read
most of the table each time. The refresh commits once, as a whole.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parcours.errors import ParcoursError
from parcours.segments import catalog
from parcours.segments.membership import Recompute, any_saved
from parcours.segments.scored import latest_model, write_scores
from parcours.sql import lit
from parcours.store.store import Store

ONBOARDING = "onboarding"
"""The shipped milestone a full recompute follows."""
STEPS = (
    "tiers",
    "rfm",
    "lifetime value",
    "health",
    "personas",
    "milestones",
    "typical journeys",
    "segments",
)
"""A full recompute's steps, in order (what `progress` is called with)."""
TYPICAL_SEED = 7
"""The seed of the typical journeys' clustering, so that a recompute is repeatable."""
TYPICAL = "_typical_scored"
TOUCHED, TOUCHED_EVENTS = "_touched", "_touched_events"
LIVE_SCORES_EVERY_S = 60.0
"""How often the live loader rescores the customers touched since it last did."""


@dataclass
class StationRun:
    """What a recompute did: seconds per step, and the steps skipped with their reason."""

    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    segments: dict[str, Any] = field(default_factory=dict)
    """The segments' recompute: entries and exits per segment."""

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "total_seconds": self.total_seconds,
            "skipped": self.skipped,
            "segments": self.segments,
        }


def recompute_all(
    store: Store, *, progress: Callable[[str], None] | None = None, ladder: str = "orders"
) -> StationRun:
    """Every score for every customer, refitting the models, then every saved segment."""
    from parcours.segments.health import health
    from parcours.segments.lifetime_value import lifetime_value
    from parcours.segments.milestone_definition import load_milestone
    from parcours.segments.milestones import milestones
    from parcours.segments.personas import personas
    from parcours.segments.rfm import rfm
    from parcours.segments.tiers import tiers

    steps: dict[str, Callable[[], object]] = {
        "tiers": lambda: tiers(store, ladder=ladder),
        "rfm": lambda: rfm(store),
        "lifetime value": lambda: lifetime_value(store),
        "health": lambda: health(store, refit=True),
        "personas": lambda: personas(store),
        "milestones": lambda: milestones(store, load_milestone(ONBOARDING)),
        "typical journeys": lambda: typical_journey_scores(store),
    }
    run = StationRun()
    for name, step in steps.items():
        _timed(store, run, name, step, progress)
    _segments(run, lambda: catalog.recompute(store), progress)
    return run


def typical_journey_scores(store: Store) -> int:
    """Each customer's typical journey (journeys/typical.py) as the score `typical_journey`:
    the journey's number as the value, its medoid (`web → web → store`) as the label, so that a
    segment can select the customers who follow one. Refreshed by a full recompute only (it is
    a clustering of everyone's journeys); return how many customers were given one."""
    import pyarrow as pa

    from parcours.journeys.typical import typical_journeys

    found = typical_journeys(store, seed=TYPICAL_SEED)
    assigned = found.assignments()
    medoids = {t["cluster"]: " → ".join(t["medoid"]) for t in found.typical}
    table = pa.table(
        {
            "customer_id": list(assigned),
            "value": [float(c) for c in assigned.values()],
            "label": [medoids.get(c, "") for c in assigned.values()],
        }
    )
    with store.engine.registered(TYPICAL, table):
        written = write_scores(
            store.engine,
            "typical_journey",
            f"SELECT customer_id, value, label, NULL AS details FROM {TYPICAL}",
            version=f"typical@{found.clusters}#{TYPICAL_SEED}",
        )
    return written.scored


def refresh_touched(store: Store, customers: str, *, rescore: bool = True) -> StationRun:
    """Rescore the customers `customers` (SQL selecting `customer_id`) selects with the kept
    models, for the scores the store holds (unless `rescore` is off), then bring their
    segments up to date; all or nothing."""
    engine, run = store.engine, StationRun()
    held: set[str] = set()
    if rescore:
        held = set(engine.query("SELECT DISTINCT score FROM customer_scores").column(0).to_pylist())
    if not held and not any_saved(engine):
        return run  # nothing reads the touched customers: not even their events are copied
    with engine.transaction():
        started = time.perf_counter()
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {TOUCHED} AS SELECT DISTINCT customer_id "
            f"FROM ({customers}) WHERE customer_id IS NOT NULL"
        )
        touched = f"SELECT customer_id FROM {TOUCHED}"
        engine.copy_rows(TOUCHED_EVENTS, "customer_events", f"customer_id IN ({touched})")
        run.seconds["their events"] = round(time.perf_counter() - started, 3)
        for name, step in _incremental(store, touched, held).items():
            _timed(store, run, name, step, None)
        _segments(run, lambda: catalog.refresh(store, touched, events=TOUCHED_EVENTS), None)
        engine.execute(f"DROP TABLE {TOUCHED_EVENTS}")
    return run


class LiveRefresh:
    """What the live loader runs after each load (`on_loaded(since)`): the segments of the
    customers the new events touched, every time — a live event moves its customer within
    seconds — and their scores at most every `scores_every_s`, for every customer touched
    since the last rescoring (rescoring costs about a second per thousand customers: done at
    every load, it would hold the loader back under heavy traffic)."""

    def __init__(self, store: Store, *, scores_every_s: float = LIVE_SCORES_EVERY_S) -> None:
        self.store, self.scores_every_s = store, scores_every_s
        self._unscored_since: dt.datetime | None = None
        self._scored_at = time.monotonic()

    def __call__(self, since: dt.datetime) -> StationRun:
        from parcours.segments.membership import touched_customers

        if self._unscored_since is None or since < self._unscored_since:
            self._unscored_since = since
        rescore = time.monotonic() - self._scored_at >= self.scores_every_s
        start = self._unscored_since if rescore else since
        after = lit(start.astimezone(dt.UTC).isoformat())
        touched = touched_customers(self.store, f"received_at >= {after}::TIMESTAMPTZ")
        run = refresh_touched(self.store, touched, rescore=rescore)
        if rescore:
            self._unscored_since, self._scored_at = None, time.monotonic()
        return run


def _incremental(store: Store, customers: str, held: set[str]) -> dict[str, Callable[[], object]]:
    """The scorers to rerun for touched customers, their events read from the refresh's
    copy: those whose scores the store holds."""
    events = TOUCHED_EVENTS
    steps: dict[str, Callable[[], object]] = {}
    engine = store.engine
    if "tier" in held:
        from parcours.segments.ladder import Ladder
        from parcours.segments.tiers import tiers

        kept = latest_model(engine, "tier")
        ladder: Ladder | str = (
            Ladder.model_validate(kept["parameters"])
            if kept
            else engine.scalar(  # a store scored before ladders were kept: by the name
                "SELECT split_part(any_value(version), ':', 1) FROM customer_scores "
                "WHERE score = 'tier'"
            )
        )
        steps["tiers"] = lambda: tiers(store, ladder=ladder, customers=customers, events=events)
    if "rfm" in held:
        from parcours.segments.rfm import rfm

        steps["rfm"] = lambda: rfm(store, customers=customers, events=events)
    if "clv" in held:
        from parcours.segments.lifetime_value import lifetime_value

        steps["lifetime value"] = lambda: lifetime_value(store, customers=customers, events=events)
    if "health" in held or "health_rules" in held:
        from parcours.segments.health import health

        steps["health"] = lambda: health(store, customers=customers, events=events)
    if "persona" in held:
        from parcours.segments.personas import personas

        steps["personas"] = lambda: personas(store, customers=customers, events=events)
    for score in sorted(s for s in held if s.startswith("milestone:")):
        steps[score] = _milestone_step(store, score, customers, events)
    return steps


def _milestone_step(store: Store, score: str, customers: str, events: str) -> Callable[[], object]:
    """Refresh a milestone score on the definition its last full run kept (the shipped
    onboarding template for a store scored before definitions were kept)."""
    from parcours.segments.milestone_definition import MilestoneDefinition, load_milestone
    from parcours.segments.milestones import milestones

    kept = latest_model(store.engine, score)
    name = score.removeprefix("milestone:")
    if kept is not None:
        definition = MilestoneDefinition.model_validate(kept["parameters"])
    elif name == ONBOARDING:
        definition = load_milestone(ONBOARDING)
    else:
        return lambda: None  # its definition was never kept: the next full run keeps it
    return lambda: milestones(store, definition, customers=customers, events=events)


def _timed(
    store: Store,
    run: StationRun,
    name: str,
    step: Callable[[], object],
    progress: Callable[[str], None] | None,
) -> None:
    """Run one step, all or nothing (its scores, history and model together), timed."""
    if progress is not None:
        progress(name)
    started = time.perf_counter()
    try:
        with store.engine.transaction():
            step()
    except ParcoursError as error:  # the store cannot feed this score yet
        run.skipped[name] = error.message
    run.seconds[name] = round(time.perf_counter() - started, 3)


def _segments(
    run: StationRun,
    step: Callable[[], Recompute],
    progress: Callable[[str], None] | None,
) -> None:
    if progress is not None:
        progress("segments")
    started = time.perf_counter()
    done = step()
    run.seconds["segments"] = round(time.perf_counter() - started, 3)
    run.segments = done.to_dict()
