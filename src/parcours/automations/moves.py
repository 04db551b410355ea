"""Moving instances, set-based: every phase of a tick writes what happens to which instances
into one temp table (`MOVES`), and `apply_moves` records it in the step history and moves the
instances, in two statements whatever their number.

A move names the outcome at the instance's current step (waited, planned, branch...), and
what comes next: another step (`active`, to run in this tick), a wait (`waiting` with its
timer), or the end (`done`, with its reason)."""

from __future__ import annotations

import datetime as dt

from parcours.automations.matching import at_sql
from parcours.engine import Engine

MOVES = "_auto_moves"
STEPS = "_auto_steps"
"""The transitions of every acting version: automation, version, step, action, after (where
it goes on to), on_event, on_timeout (a wait_for's outcomes, defaulting to after)."""


def move_rows(select: str) -> str:
    """`CREATE` the moves table from `select`, which answers instance_id, outcome, detail,
    next_step (NULL: the end), state, wake_at, exit_reason, converted_at."""
    return f"CREATE OR REPLACE TEMP TABLE {MOVES} AS {select}"


def apply_moves(engine: Engine, now: dt.datetime, *, record: bool = True) -> int:
    """Record (unless not `record`: a wait beginning is recorded when it ends) and apply
    `MOVES`, inside the caller's transaction; return how many moved."""
    at = at_sql(now)
    moved = int(engine.scalar(f"SELECT count(*) FROM {MOVES}") or 0)
    if not moved:
        return 0
    if record:
        engine.execute(
            f"""INSERT INTO automation_steps BY NAME
                SELECT i.instance_id, i.automation, i.version, i.customer_id,
                       coalesce(i.step, 'end') AS step, m.outcome, m.detail,
                       {at} AS happened_at
                FROM automation_instances i JOIN {MOVES} m USING (instance_id)"""
        )
    engine.execute(
        f"""UPDATE automation_instances i SET
                step = CASE WHEN m.state = 'done' THEN NULL ELSE m.next_step END,
                state = m.state,
                wake_at = CASE WHEN m.state = 'waiting' THEN m.wake_at END,
                updated_at = {at},
                exited_at = CASE WHEN m.state = 'done' THEN {at} END,
                exit_reason = CASE WHEN m.state = 'done' THEN m.exit_reason END,
                converted_at = coalesce(i.converted_at, m.converted_at)
            FROM {MOVES} m WHERE i.instance_id = m.instance_id"""
    )
    return moved


def onward(next_step: str, reason: str = "'end'") -> str:
    """Columns next_step, state, wake_at, exit_reason, converted_at for going on to
    `next_step` (SQL; NULL ends the instance with `reason`)."""
    return (
        f"{next_step} AS next_step, "
        f"CASE WHEN {next_step} IS NULL THEN 'done' ELSE 'active' END AS state, "
        "NULL::TIMESTAMPTZ AS wake_at, "
        f"CASE WHEN {next_step} IS NULL THEN {reason} END AS exit_reason, "
        "NULL::TIMESTAMPTZ AS converted_at"
    )
