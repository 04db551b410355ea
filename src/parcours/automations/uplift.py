"""What an automation did, measured: the goal's conversion of treated against held-out
customers with a confidence interval, and the funnel of each step.

Every automation with a `holdout` draws a stable share of its entrants into the `holdout` arm:
they go through the steps but are sent nothing. Both arms entered on the same trigger over the
same period, so the difference of their conversion rates is the effect of what was sent — the
uplift. Its 95 % interval is Newcombe's hybrid score interval for a difference of two
independent proportions (Newcombe 1998, method 10): the Wilson score interval of each rate,
combined by "square and add". Unlike the textbook Wald interval it stays inside [-1, 1],
keeps its coverage near 95 % for small arms and rates near 0 or 1 — a holdout of 10 % of a
few hundred sign-ups is exactly that case — and needs no iteration.

  Newcombe, R. G. (1998). Interval estimation for the difference between independent
  proportions: comparison of eleven methods. Statistics in Medicine 17(8), 873-890.

Counts are read from the store as the runtime and delivery leave it (schema v9): arms and
conversions from `automation_instances` (converted = `converted_at` within the goal's window of
`entered_at`), the steps from `automation_steps`, sends from `automation_sends`, and deliveries,
opens and clicks from the events that came back (automations.events), tied to their send by
its key.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from parcours.automations.definition import (
    AutomationDefinition,
    duration_seconds,
    parse_automation,
)
from parcours.automations.events import FUNNEL_EVENTS, SEND_KEY
from parcours.errors import NotFoundError
from parcours.sql import lit
from parcours.store.store import Store

Z_95 = 1.959963984540054
"""The standard normal's 97.5th percentile: a two-sided 95 % interval."""
HOLDOUT = "holdout"
"""The arm of held-out instances; every other arm (treated, a random split's) was treated."""


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a proportion `successes / trials` (no continuity
    correction): the rates whose score test does not reject at `z`. Example: 0 of 10 gives
    (0.0, 0.2775)."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    successes_1: int, trials_1: int, successes_2: int, trials_2: int, z: float = Z_95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for p1 - p2: with (l1, u1) and
    (l2, u2) the Wilson intervals of p1 and p2, from p1 - p2 - sqrt((p1-l1)^2 + (u2-p2)^2)
    to p1 - p2 + sqrt((u1-p1)^2 + (p2-l2)^2). Example (the paper's Table II, a): 56/70 against
    48/80 gives (0.0524, 0.3339)."""
    p1, p2 = successes_1 / trials_1, successes_2 / trials_2
    l1, u1 = wilson_interval(successes_1, trials_1, z)
    l2, u2 = wilson_interval(successes_2, trials_2, z)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


@dataclass(frozen=True)
class ArmConversion:
    """One arm's entries and how many reached the goal within its window."""

    entries: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.entries if self.entries else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


@dataclass(frozen=True)
class StepFunnel:
    """One step: the instances that reached it (`entered`; `held_out` of them in the holdout
    at a send), its messages (`sent`, then `delivered`, `opened`, `clicked` by the events that
    came back; `held`, `deferred`, `failed` still in the ledger), how many of the instances that
    reached it and were not held out converted afterwards (the holdout's conversions are the
    uplift's baseline, not the step's doing), and those whose run ended there, by reason."""

    step: str
    action: str
    entered: int
    held_out: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    held: int = 0
    deferred: int = 0
    failed: int = 0
    converted: int = 0
    exited: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Uplift:
    """An automation's measured effect: its goal's conversion for treated and held-out
    entries, their difference (treated - holdout, a share: 0.035 is +3.5 points) with its 95 %
    interval (Newcombe 1998, method 10), the relative uplift (difference / holdout rate), and
    the funnel of each step with the reasons instances ended."""

    automation: str
    version: int | None
    """The version measured (None: every version's entries)."""
    goal: str | None
    """The goal's event name (None: the automation has no goal)."""
    within: str | None
    """The goal's window after entering (e.g. 30d)."""
    entered: int
    treated: ArmConversion
    holdout: ArmConversion
    difference: float | None
    low: float | None
    high: float | None
    relative: float | None
    steps: list[StepFunnel]
    exits: dict[str, int]
    """Every ended instance by its reason (goal, end, exit step...)."""
    confidence: float = 0.95
    as_of: str | None = None
    """Only entries whose window had closed by then count (None: all)."""

    @property
    def measurable(self) -> bool:
        """Both arms have entries and a goal to convert on: the difference exists."""
        return self.difference is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("treated", "holdout", "steps")},
            "treated": self.treated.to_dict(),
            "holdout": self.holdout.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
        }


def automation_definition(
    store: Store, automation: str, version: int | None = None
) -> tuple[int, AutomationDefinition]:
    """The published definition of `automation` (its latest version, or `version`)."""
    clause = f" AND version = {int(version)}" if version is not None else ""
    row = store.engine.query(
        f"SELECT version, definition FROM automations WHERE name = {lit(automation)}{clause} "
        "ORDER BY version DESC LIMIT 1"
    ).to_pylist()
    if not row:
        known = store.engine.query("SELECT DISTINCT name FROM automations ORDER BY 1").column(0)
        names = ", ".join(known.to_pylist()) or "none yet"
        what = f"version {version} of " if version is not None else ""
        raise NotFoundError(
            f"No {what}automation {automation!r} is published (published: {names})",
            "publish it first (parcours automations publish FILE), or check the name",
        )
    return int(row[0]["version"]), parse_automation(json.loads(row[0]["definition"]))


def uplift(
    store: Store,
    automation: str,
    *,
    version: int | None = None,
    as_of: dt.datetime | None = None,
) -> Uplift:
    """The goal's conversion of `automation`'s treated against its held-out entries, with the
    difference's 95 % interval, and each step's funnel. `version`: only the entries of that
    version (default: every version, with the latest version's goal and steps). `as_of`: only
    entries whose goal window had closed by then, so that each had its full window (default:
    every entry, as the store holds them)."""
    latest, definition = automation_definition(store, automation, version)
    where = f"automation = {lit(automation)}"
    if version is not None:
        where += f" AND version = {latest}"
    goal = definition.goal
    window = int(duration_seconds(goal.within)) if goal else 0
    in_window = f"converted_at <= entered_at + INTERVAL {window} SECOND"
    if as_of is not None:
        where += f" AND entered_at + INTERVAL {window} SECOND <= {_instant(as_of)}"
    instances = f"(SELECT * FROM automation_instances WHERE {where})"
    arms = {
        r["held"]: ArmConversion(int(r["entries"]), int(r["converted"]))
        for r in store.engine.query(
            f"SELECT arm = {lit(HOLDOUT)} AS held, count(*) AS entries, "
            f"count(*) FILTER (WHERE converted_at IS NOT NULL AND {in_window}) AS converted "
            f"FROM {instances} GROUP BY ALL"
        ).to_pylist()
    }
    treated, holdout = arms.get(False, ArmConversion(0, 0)), arms.get(True, ArmConversion(0, 0))
    difference = low = high = relative = None
    if goal is not None and treated.entries and holdout.entries:
        difference = treated.converted / treated.entries - holdout.converted / holdout.entries
        low, high = newcombe_interval(
            treated.converted, treated.entries, holdout.converted, holdout.entries
        )
        if holdout.converted:
            relative = difference / (holdout.converted / holdout.entries)
    exits = {
        str(r["reason"]): int(r["n"])
        for r in store.engine.query(
            f"SELECT coalesce(exit_reason, 'ended') AS reason, count(*) AS n FROM {instances} "
            "WHERE exited_at IS NOT NULL GROUP BY ALL ORDER BY n DESC, reason"
        ).to_pylist()
    }
    return Uplift(
        automation=automation,
        version=latest if version is not None else None,
        goal=goal.event.name if goal else None,
        within=goal.within if goal else None,
        entered=treated.entries + holdout.entries,
        treated=treated,
        holdout=holdout,
        difference=difference,
        low=low,
        high=high,
        relative=relative,
        steps=step_funnel(store, automation, instances, in_window, definition),
        exits=exits,
        as_of=as_of.isoformat() if as_of is not None else None,
    )


def step_funnel(
    store: Store,
    automation: str,
    instances: str,
    in_window: str,
    definition: AutomationDefinition,
) -> list[StepFunnel]:
    """Each step's funnel over the instances `instances` (a parenthesised query), in the
    definition's order; steps the history names that the definition does not (the entry, or
    a step of an earlier version) come first, in the order they were first reached."""
    engine = store.engine
    reached = {
        r["step"]: r
        for r in engine.query(
            f"""
            WITH r AS (
                SELECT s.step, s.instance_id, min(s.happened_at) AS reached_at,
                       bool_or(s.outcome = 'held_out') AS held_out
                FROM automation_steps s JOIN {instances} i USING (instance_id)
                GROUP BY ALL
            )
            SELECT r.step, count(*) AS entered, count(*) FILTER (WHERE r.held_out) AS held_out,
                   count(*) FILTER (WHERE i.arm <> 'holdout' AND i.converted_at >= r.reached_at
                                      AND i.{in_window}) AS converted,
                   min(r.reached_at) AS first_at
            FROM r JOIN {instances} i USING (instance_id) GROUP BY ALL
            """
        ).to_pylist()
    }
    sends = {
        r["step"]: r
        for r in engine.query(
            f"""
            SELECT step, count(*) FILTER (WHERE state = 'sent') AS sent,
                   count(*) FILTER (WHERE state = 'held') AS held,
                   count(*) FILTER (WHERE state = 'deferred') AS deferred,
                   count(*) FILTER (WHERE state = 'failed') AS failed
            FROM automation_sends
            WHERE automation = {lit(automation)}
              AND instance_id IN (SELECT instance_id FROM {instances})
            GROUP BY ALL
            """
        ).to_pylist()
    }
    back = _came_back(store, automation, instances)
    exited: dict[str, dict[str, int]] = {}
    for row in engine.query(_exits_query(instances)).to_pylist():
        exited.setdefault(row["step"], {})[row["reason"]] = int(row["n"])
    order = [s.id for s in definition.steps]
    others = sorted((s for s in reached if s not in order), key=lambda s: reached[s]["first_at"])
    funnel = []
    for step in [*others, *order]:
        seen, sent = reached.get(step), sends.get(step, {})
        funnel.append(
            StepFunnel(
                step=step,
                action=definition.step(step).action if step in order else "entry",
                entered=int(seen["entered"]) if seen else 0,
                held_out=int(seen["held_out"]) if seen else 0,
                sent=int(sent.get("sent", 0)),
                delivered=back.get((step, "delivered"), 0),
                opened=back.get((step, "opened"), 0),
                clicked=back.get((step, "clicked"), 0),
                held=int(sent.get("held", 0)),
                deferred=int(sent.get("deferred", 0)),
                failed=int(sent.get("failed", 0)),
                converted=int(seen["converted"]) if seen else 0,
                exited=exited.get(step, {}),
            )
        )
    return funnel


def _came_back(store: Store, automation: str, instances: str) -> dict[tuple[str, str], int]:
    """(step, stage) → sends of that step with at least one event of that stage back; an
    email accepted by the SMTP server counts as delivered."""
    stages = " ".join(
        f"WHEN name IN ({', '.join(lit(n) for n in names)}) THEN {lit(stage)}"
        for stage, names in FUNNEL_EVENTS.items()
    )
    names = ", ".join(lit(n) for group in FUNNEL_EVENTS.values() for n in group)
    rows = store.engine.query(
        f"""
        WITH back AS (
            SELECT DISTINCT json_extract_string(properties, {lit("$." + SEND_KEY)}) AS send_key,
                   CASE {stages} END AS stage
            FROM events WHERE name IN ({names})
        )
        SELECT s.step, b.stage, count(DISTINCT s.send_key) AS n
        FROM automation_sends s
        JOIN (SELECT * FROM back
              UNION  -- an email the SMTP server accepted is delivered (a bounce: failed)
              SELECT send_key, 'delivered' FROM automation_sends
              WHERE channel = 'email' AND state = 'sent') b USING (send_key)
        WHERE s.automation = {lit(automation)}
          AND s.instance_id IN (SELECT instance_id FROM {instances})
        GROUP BY ALL
        """
    ).to_pylist()
    return {(r["step"], r["stage"]): int(r["n"]) for r in rows}


def _exits_query(instances: str) -> str:
    """Ended instances by the step they ended at and their reason: the step of their `exited`
    history row, else the last step they reached (history order breaks ties of one instant)."""
    return f"""
        WITH h AS (SELECT *, rowid AS seq FROM automation_steps),
        ended AS (
            SELECT i.instance_id, coalesce(any_value(i.exit_reason), 'ended') AS reason,
                   coalesce(arg_max(h.step, (h.happened_at, h.seq))
                                FILTER (WHERE h.outcome = 'exited'),
                            arg_max(h.step, (h.happened_at, h.seq))) AS step
            FROM {instances} i JOIN h USING (instance_id)
            WHERE i.exited_at IS NOT NULL GROUP BY ALL
        )
        SELECT step, reason, count(*) AS n FROM ended GROUP BY ALL
    """


def _instant(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("as_of must be an aware instant")
    return f"TIMESTAMPTZ {lit(moment.astimezone(dt.UTC).isoformat())}"
