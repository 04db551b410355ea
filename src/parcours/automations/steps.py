"""Running the steps, set-based: the active instances of one (automation, version, step) are a
group, and each group's step runs as a few statements over all of its instances at once, in
one transaction with the moves it causes (a send is planned in the transaction that moves its
instance past the send step, so it is planned exactly once).

What each action does is in `run_step`; `advance` repeats until no instance is active (each
round moves every active instance by at least one step, so the number of steps bounds it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import orjson

from parcours.automations import privacy_steps
from parcours.automations.calendar import next_local
from parcours.automations.definition import Step, duration_seconds
from parcours.automations.matching import DRAWS, at_sql, draw_sql
from parcours.automations.moves import apply_moves, move_rows, onward
from parcours.automations.timezones import zones_query
from parcours.automations.versions import Version
from parcours.identity.own_events import write_own_events
from parcours.identity.rules import IdentityRules
from parcours.segments.compile import Builder
from parcours.segments.definition import SegmentDefinition
from parcours.sql import lit
from parcours.store.store import Store

GROUP = "_auto_group"


@dataclass
class Context:
    """What a step needs besides its group: the store, the clock's now, the rules, the
    default zone, and whether it acts (a dry run records outcomes without acting)."""

    store: Store
    now: dt.datetime
    rules: IdentityRules
    default_zone: str
    acts: bool = True
    planned: dict[str, int] = field(default_factory=dict)


def advance(context: Context, versions: list[Version]) -> tuple[int, int]:
    """Run every active instance's steps until each waits or ends; return (steps run,
    rounds)."""
    engine = context.store.engine
    by_key = {(v.name, v.version): v for v in versions}
    rounds = max((len(v.definition.steps) for v in versions), default=0) + 1
    advanced = 0
    for round_number in range(rounds):
        groups = engine.query(
            "SELECT automation, version, step FROM automation_instances "
            "WHERE state = 'active' GROUP BY ALL ORDER BY ALL"
        ).to_pylist()
        groups = [g for g in groups if (g["automation"], g["version"]) in by_key]
        if not groups:
            return advanced, round_number
        for group in groups:
            version = by_key[(group["automation"], group["version"])]
            with engine.transaction():
                advanced += _run_group(context, version, group["step"])
    return advanced, rounds  # a step cycle without a wait: the rest moves on next tick


def _run_group(context: Context, version: Version, step_id: str) -> int:
    engine = context.store.engine
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE {GROUP} AS
            SELECT instance_id, customer_id, arm, entry, entered_at FROM automation_instances
            WHERE state = 'active' AND automation = {lit(version.name)}
              AND version = {version.version} AND step = {lit(step_id)}"""
    )
    step = version.definition.step(step_id)
    after = version.definition.after(step_id)
    record = run_step(context, version, step, lit(after) if after else "NULL::VARCHAR")
    moved = apply_moves(engine, context.now, record=record)
    engine.execute(f"DROP TABLE {GROUP}")
    return moved


def _moves(outcome: str, detail: str, rest: str) -> str:
    return move_rows(
        f"SELECT instance_id, {lit(outcome)} AS outcome, {detail} AS detail, {rest} FROM {GROUP}"
    )


def _waiting(step_id: str, wake: str) -> str:
    return (
        f"{lit(step_id)} AS next_step, 'waiting' AS state, {wake} AS wake_at, "
        "NULL::VARCHAR AS exit_reason, NULL::TIMESTAMPTZ AS converted_at"
    )


def run_step(context: Context, version: Version, step: Step, after: str) -> bool:
    """Write `MOVES` for the group at `step` (and whatever the step does); return whether
    the moves go to the step history (a wait beginning does not: its end does)."""
    engine, now = context.store.engine, context.now
    action = step.action
    if action in ("wait", "wait_for"):
        seconds = duration_seconds(step.wait if step.wait else step.wait_for.timeout)  # type: ignore[union-attr]
        wake = f"{at_sql(now)} + INTERVAL ({int(seconds)}) SECOND"
        engine.execute(_moves("waiting", "NULL", _waiting(step.id, wake)))
        return False
    if action == "wait_until":
        _wait_until(context, step)
        return False
    if action == "split":
        _split(context, step)
    elif action == "random":
        _random(context, version, step)
    elif action == "send":
        _send(context, version, step, after)
    elif action == "set_trait" or action == "tag":
        _own_event(context, version, step)
        engine.execute(_moves("set", lit(action), onward(after)))
    elif action == "task":
        _task(context, version, step)
        engine.execute(_moves("task", "NULL", onward(after)))
    elif action in ("anonymise", "delete"):
        outcome = privacy_steps.run(context.store, step, GROUP, acts=context.acts)
        engine.execute(_moves(outcome, "NULL", onward(after)))
    else:  # exit
        reason = lit(step.exit.reason or "exit step")  # type: ignore[union-attr]
        engine.execute(_moves("exited", reason, onward("NULL::VARCHAR", reason)))
    return True


def _wait_until(context: Context, step: Step) -> None:
    """Each customer's next local time in their zone: computed once per zone."""
    until = step.wait_until
    assert until is not None
    engine = context.store.engine
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _auto_zone AS "
        + zones_query(f"SELECT customer_id FROM {GROUP}", context.default_zone)
    )
    zones = engine.query("SELECT DISTINCT zone FROM _auto_zone").column(0).to_pylist()
    wakes = ", ".join(
        f"({lit(z)}, {at_sql(next_local(context.now, until.time, until.weekdays, z))})"
        for z in zones
    )
    engine.execute(
        move_rows(
            f"""SELECT g.instance_id, 'waiting' AS outcome, NULL AS detail,
                       {_waiting(step.id, "w.wake")}
                FROM {GROUP} g JOIN _auto_zone z USING (customer_id)
                JOIN (VALUES {wakes or "(NULL, NULL)"}) w(zone, wake) USING (zone)"""
        )
    )
    engine.execute("DROP TABLE _auto_zone")


def _split(context: Context, step: Step) -> None:
    """The first branch whose condition holds for the customer now, else `else`."""
    split = step.split
    assert split is not None
    builder = Builder(context.rules, as_of=context.now)
    whens = [
        builder.compile(SegmentDefinition(name=f"branch{i}", where=branch.when)).member_sql
        for i, branch in enumerate(split.branches)
    ]
    cases = " ".join(
        f"WHEN {when} THEN {lit(branch.next)}"
        for when, branch in zip(whens, split.branches, strict=True)
    )
    features = builder.features_query(f"SELECT customer_id FROM {GROUP}")
    context.store.engine.execute(
        move_rows(
            f"""SELECT g.instance_id, 'branch' AS outcome, next AS detail, {onward("next")}
                FROM (SELECT g.instance_id,
                             CASE {cases} ELSE {lit(split.else_)} END AS next
                      FROM {GROUP} g LEFT JOIN ({features}) f USING (customer_id)) g"""
        )
    )


def _random(context: Context, version: Version, step: Step) -> None:
    """A seeded draw per (automation, step, customer) against the arms' cumulative weights:
    the same customer draws the same arm at every entry."""
    arms = step.random
    assert arms is not None
    total = sum(a.weight for a in arms.branches)
    bounds, cumulative = [], 0.0
    for arm in arms.branches:
        cumulative += arm.weight
        bounds.append((round(cumulative / total * DRAWS), arm))
    draw = draw_sql("'random'", lit(version.name), lit(step.id), "customer_id")
    picks = " ".join(f"WHEN d < {bound} THEN {lit(arm.name)}" for bound, arm in bounds[:-1])
    nexts = " ".join(f"WHEN d < {bound} THEN {lit(arm.next)}" for bound, arm in bounds[:-1])
    last = bounds[-1][1]
    context.store.engine.execute(
        move_rows(
            f"""SELECT instance_id, 'branch' AS outcome, arm AS detail, {onward("next")}
                FROM (SELECT instance_id,
                             CASE {picks} ELSE {lit(last.name)} END AS arm,
                             CASE {nexts} ELSE {lit(last.next)} END AS next
                      FROM (SELECT instance_id, {draw} AS d FROM {GROUP}))"""
        )
    )


def _send(context: Context, version: Version, step: Step, after: str) -> None:
    """Plan the send in the ledger for the treated; the held out are recorded, not sent."""
    send = step.send
    assert send is not None
    engine, at = context.store.engine, at_sql(context.now)
    name = lit(version.name)
    key = (
        f"md5({name} || '|' || {version.version} || '|' || instance_id || '|' || "
        f"{lit(step.id)} || '|' || {lit(send.channel)})"
    )
    planned = engine.write(
        f"""INSERT INTO automation_sends BY NAME
            SELECT {key} AS send_key, instance_id, {name} AS automation,
                   {version.version} AS version, {lit(step.id)} AS step, customer_id,
                   {lit(send.channel)} AS channel, {lit(send.purpose)} AS purpose,
                   {lit(send.rank)} AS priority, 'planned' AS state, 0 AS attempts,
                   {at} AS next_attempt_at, {at} AS planned_at, {at} AS updated_at
            FROM {GROUP} WHERE arm <> 'holdout'"""
    )
    context.planned[step.id] = context.planned.get(step.id, 0) + planned
    engine.execute(
        move_rows(
            f"""SELECT instance_id,
                       CASE WHEN arm = 'holdout' THEN 'held_out' ELSE 'planned' END AS outcome,
                       {lit(send.channel)} AS detail, {onward(after)}
                FROM {GROUP}"""
        )
    )


def _own_event(context: Context, version: Version, step: Step) -> None:
    """set_trait: an identify event carrying the traits; tag: a `Tag Added` event."""
    if not context.acts:
        return
    if step.set_trait is not None:
        kind, name, properties = "identify", "NULL", dict(step.set_trait)
    else:
        kind, name, properties = "track", lit("Tag Added"), {"tag": str(step.tag)}
    body = lit(orjson.dumps(properties).decode())
    event_id = (
        f"'automation-' || md5(instance_id || '|' || {lit(version.name)} || '|' || {lit(step.id)})"
    )
    write_own_events(
        context.store,
        f"""SELECT customer_id, {event_id} AS event_id, {lit(kind)} AS type, {name} AS name,
                   'other' AS channel, {at_sql(context.now)} AS occurred_at,
                   {body}::JSON AS properties
            FROM {GROUP}""",
        import_id=f"automation:{version.name}",
    )


def _task(context: Context, version: Version, step: Step) -> None:
    """A task per instance for the agents' queue (title rendered later, by delivery)."""
    task = step.task
    assert task is not None
    at = at_sql(context.now)
    due = int(duration_seconds(task.due_in))
    queue = lit(task.queue) if task.queue else "NULL"
    context.store.engine.execute(
        f"""INSERT INTO automation_tasks BY NAME
            SELECT md5(instance_id || '|' || {lit(step.id)}) AS task_id, instance_id,
                   {lit(version.name)} AS automation, customer_id, {lit(task.title)} AS title,
                   {lit(task.priority)} AS priority, {queue} AS queue,
                   {at} + INTERVAL ({due}) SECOND AS due_at, {at} AS created_at,
                   'open' AS state
            FROM {GROUP}"""
    )
