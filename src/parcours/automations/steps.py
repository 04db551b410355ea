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
import pyarrow as pa

from parcours.automations import privacy_steps
from parcours.automations.calendar import next_local
from parcours.automations.definition import Step, duration_seconds
from parcours.automations.matching import DRAWS, at_sql, draw_sql
from parcours.automations.moves import (
    apply_moves,
    ended,
    instances_with_rows,
    move_rows,
    onward,
    waiting,
)
from parcours.automations.render import Missing, Renderer
from parcours.automations.timezones import zones_query
from parcours.automations.versions import Version
from parcours.identity.own_events import write_own_events
from parcours.identity.profile import traits_of_many
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
    per_instance: bool = False
    """Whether each instance runs its step at its own instant (its `updated_at`: when it
    arrived there) rather than at `now`: a dry run replaying a day at once, each instance
    on its own hour."""
    planned: dict[str, int] = field(default_factory=dict)

    @property
    def moment(self) -> str:
        """SQL over a group row: the instant its step runs at."""
        return "updated_at" if self.per_instance else at_sql(self.now)

    def moments(self) -> list[dt.datetime]:
        """The distinct instants the group's steps run at."""
        if not self.per_instance:
            return [self.now]
        column = self.store.engine.query(f"SELECT DISTINCT updated_at FROM {GROUP} ORDER BY 1")
        return [m.astimezone(dt.UTC) for m in column.column(0).to_pylist()]


def advance(context: Context, versions: list[Version]) -> tuple[int, bool]:
    """Run every active instance's steps until each waits or ends; return (steps run,
    whether none is left active: a cycle of steps without a wait leaves some for the next
    tick)."""
    engine = context.store.engine
    by_key = {(v.name, v.version): v for v in versions}
    rounds = max((len(v.definition.steps) for v in versions), default=0) + 1
    advanced = 0
    for _ in range(rounds):
        groups = engine.query(
            "SELECT automation, version, step FROM automation_instances "
            "WHERE state = 'active' GROUP BY ALL ORDER BY ALL"
        ).to_pylist()
        groups = [g for g in groups if (g["automation"], g["version"]) in by_key]
        if not groups:
            return advanced, True
        for group in groups:
            version = by_key[(group["automation"], group["version"])]
            with engine.transaction():
                advanced += _run_group(context, version, group["step"])
    return advanced, False  # a step cycle without a wait: the rest moves on next tick


def _run_group(context: Context, version: Version, step_id: str) -> int:
    engine = context.store.engine
    size = engine.write(
        f"CREATE OR REPLACE TEMP TABLE {GROUP} AS "
        + instances_with_rows(
            f"state = 'active' AND automation = {lit(version.name)} "
            f"AND version = {version.version} AND step = {lit(step_id)}"
        )
    )
    step = version.definition.step(step_id)
    after = version.definition.after(step_id)
    record = run_step(context, version, step, lit(after) if after else "NULL::VARCHAR")
    # Every instance of the group moves, but a deleted customer's instance is gone.
    counted = None if step.action in ("anonymise", "delete") else size
    at_column = "updated_at" if context.per_instance else None
    return apply_moves(engine, context.now, record=record, moved=counted, at_column=at_column)


def _moves(outcome: str, detail: str, rest: str) -> str:
    return move_rows(
        f"SELECT g.*, {lit(outcome)} AS outcome, {detail} AS detail, {rest} FROM {GROUP} g"
    )


def run_step(context: Context, version: Version, step: Step, after: str) -> bool:
    """Write `MOVES` for the group at `step` (and whatever the step does); return whether
    the moves go to the step history (a wait beginning does not: its end does)."""
    engine = context.store.engine
    action = step.action
    if action in ("wait", "wait_for"):
        seconds = duration_seconds(step.wait if step.wait else step.wait_for.timeout)  # type: ignore[union-attr]
        wake = f"{context.moment} + INTERVAL ({int(seconds)}) SECOND"
        engine.execute(_moves("waiting", "NULL", waiting(lit(step.id), wake)))
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
    elif action == "task":  # an agent's call is treatment too: none for the held out
        _task(context, version, step)
        engine.execute(
            move_rows(
                f"SELECT g.*, CASE WHEN arm = 'holdout' THEN 'held_out' ELSE 'task' END "
                f"AS outcome, NULL AS detail, {onward(after)} FROM {GROUP} g"
            )
        )
    elif action in ("anonymise", "delete"):
        outcome = privacy_steps.run(context.store, step, GROUP, acts=context.acts)
        # Their rows as the privacy service left them: re-keyed (anonymised) or gone (deleted).
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {GROUP} AS SELECT * FROM automation_instances "
            f"WHERE instance_id IN (SELECT instance_id FROM {GROUP})"
        )
        engine.execute(_moves(outcome, "NULL", onward(after)))
    else:  # exit
        reason = lit(step.exit.reason or "exit step")  # type: ignore[union-attr]
        engine.execute(_moves("exited", reason, ended(reason)))
    return True


def _wait_until(context: Context, step: Step) -> None:
    """Each customer's next local time in their zone: computed once per zone (and instant)."""
    until = step.wait_until
    assert until is not None
    engine = context.store.engine
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _auto_zone AS "
        + zones_query(f"SELECT customer_id FROM {GROUP}", context.default_zone)
    )
    pairs = engine.query(
        f"SELECT DISTINCT z.zone, {context.moment} AS m FROM {GROUP} g "
        "JOIN _auto_zone z USING (customer_id)"
    ).to_pylist()
    wakes = ", ".join(
        f"({lit(r['zone'])}, {at_sql(r['m'])}, "
        f"{at_sql(next_local(r['m'], until.time, until.weekdays, r['zone']))})"
        for r in pairs
    )
    engine.execute(
        move_rows(
            f"""SELECT g.*, 'waiting' AS outcome, NULL::VARCHAR AS detail,
                       {waiting(lit(step.id), "w.wake")}
                FROM {GROUP} g JOIN _auto_zone z USING (customer_id)
                JOIN (VALUES {wakes or "(NULL, NULL, NULL)"}) w(zone, m, wake)
                  ON w.zone = z.zone AND w.m = {context.moment}"""
        )
    )


def _split(context: Context, step: Step) -> None:
    """The first branch whose condition holds for the customer at the step's instant, else
    `else` (the conditions evaluated once per distinct instant)."""
    split = step.split
    assert split is not None
    parts = []
    for moment in context.moments():
        builder = Builder(context.rules, as_of=moment)
        whens = [
            builder.compile(SegmentDefinition(name=f"branch{i}", where=branch.when)).member_sql
            for i, branch in enumerate(split.branches)
        ]
        cases = " ".join(
            f"WHEN {when} THEN {lit(branch.next)}"
            for when, branch in zip(whens, split.branches, strict=True)
        )
        only = f" WHERE updated_at = {at_sql(moment)}" if context.per_instance else ""
        features = builder.features_query(f"SELECT customer_id FROM {GROUP}{only}")
        parts.append(
            f"SELECT g.*, CASE {cases} ELSE {lit(split.else_)} END AS next "
            f"FROM (SELECT * FROM {GROUP}{only}) g LEFT JOIN ({features}) f USING (customer_id)"
        )
    union = " UNION ALL ".join(f"({p})" for p in parts)
    context.store.engine.execute(
        move_rows(
            f"""SELECT * EXCLUDE (next), 'branch' AS outcome, next AS detail, {onward("next")}
                FROM ({union})"""
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
            f"""SELECT * EXCLUDE (d, drawn, next), 'branch' AS outcome, drawn AS detail,
                       {onward("next")}
                FROM (SELECT *, CASE {picks} ELSE {lit(last.name)} END AS drawn,
                             CASE {nexts} ELSE {lit(last.next)} END AS next
                      FROM (SELECT *, {draw} AS d FROM {GROUP}))"""
        )
    )


def _send(context: Context, version: Version, step: Step, after: str) -> None:
    """Plan the send in the ledger for the treated; the held out are recorded, not sent."""
    send = step.send
    assert send is not None
    engine, at = context.store.engine, context.moment
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
    where = f"{version.name}:{step.id}"
    context.planned[where] = context.planned.get(where, 0) + planned
    engine.execute(
        move_rows(
            f"""SELECT *,
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
    """A task per treated instance for the agents' queue, its title filled from the
    customer's profile and what made them enter (Jinja2, as a message's text)."""
    task = step.task
    assert task is not None
    at = context.moment
    due = int(duration_seconds(task.due_in))
    queue = lit(task.queue) if task.queue else "NULL"
    engine = context.store.engine
    treated = f"SELECT * FROM {GROUP} WHERE arm <> 'holdout'"
    with engine.registered("_auto_titles", _titles(context.store, treated, task.title)) as titles:
        engine.execute(
            f"""INSERT INTO automation_tasks BY NAME
                SELECT md5(g.instance_id || '|' || {lit(step.id)}) AS task_id, g.instance_id,
                       {lit(version.name)} AS automation, g.customer_id, t.title,
                       {lit(task.priority)} AS priority, {queue} AS queue,
                       {at} + INTERVAL ({due}) SECOND AS due_at, {at} AS created_at,
                       'open' AS state
                FROM ({treated}) g JOIN {titles} t USING (instance_id)"""
        )


def _titles(store: Store, treated: str, title: str) -> pa.Table:
    """Each treated instance's task title. One that cannot be filled (a missing trait) is
    the title as written with the reason: the task reaches the queue all the same."""
    rows = store.engine.query(f"SELECT instance_id, customer_id, entry FROM ({treated})")
    if "{{" not in title and "{%" not in title:
        return pa.table({"instance_id": rows.column("instance_id"), "title": [title] * len(rows)})
    profiles = traits_of_many(store, f"SELECT customer_id FROM ({treated})")
    renderer = Renderer()
    titles = []
    for row in rows.to_pylist():
        context = {
            "traits": profiles.get(row["customer_id"], {}),
            "customer_id": row["customer_id"],
            "entry": orjson.loads(row["entry"]) if row["entry"] else {},
        }
        try:
            filled = renderer.render(
                "task", template=None, subject=None, body=title, context=context
            ).body
            titles.append(" ".join(filled.split()))
        except Missing as missing:
            titles.append(f"{title} ({missing})")
    return pa.table({"instance_id": rows.column("instance_id"), "title": titles})
