"""Moving instances, set-based: every phase of a tick writes what happens to which instances
into one temp table (`MOVES`: each instance's row as it is, with the outcome at its current
step and where it goes), and `apply_moves` records it in the step history and moves the
instances, in three statements whatever their number.

A few instances among many move by replacing their rows (a delete and an insert), not by an
UPDATE: on a table of ten million waiting instances, updating a few thousand rows spread over
all of it makes the commit rewrite every row group they touch (seconds), where deleting and
appending them costs a scan of the ids (a tenth of a second). When a large share of the table
moves (a million entrants at once), an UPDATE writes less than deleting and re-inserting."""

from __future__ import annotations

import datetime as dt

from parcours.automations.matching import at_sql
from parcours.engine import Engine

MOVES = "_auto_moves"
REPLACE_BELOW = 20
"""Rows move by replacement while fewer than 1/REPLACE_BELOW of the table moves."""
SMALL_MOVE = 10_000
"""Fewer rows than this always move by replacement (cheap whatever the table's size)."""
INSTANCE_ROW = "instance_row"
"""A moves table's column for its instances' row ids, when they were read in the transaction
that moves them (`instances_with_rows`)."""
STEPS = "_auto_steps"
"""The transitions of every version in play: automation, version, step, action, after (where
it goes on to), on_event, on_timeout (a wait_for's outcomes, defaulting to after), live."""


def instances_with_rows(where: str) -> str:
    """The instances where `where` holds, with their row ids (`INSTANCE_ROW`): read in the
    transaction that moves them, they find the rows to replace without a scan."""
    return f"SELECT *, rowid AS {INSTANCE_ROW} FROM automation_instances WHERE {where}"


def move_rows(select: str) -> str:
    """`CREATE` the moves table from `select`, which answers the instance's columns (`i.*`)
    and outcome, detail, to_step (NULL: the end), to_state, to_wake_at, to_exit_reason,
    to_converted_at — one row per instance."""
    return f"CREATE OR REPLACE TEMP TABLE {MOVES} AS {select}"


def apply_moves(
    engine: Engine,
    now: dt.datetime,
    *,
    record: bool = True,
    moved: int | None = None,
    at_column: str | None = None,
) -> int:
    """Record (unless not `record`: a wait beginning is recorded when it ends) and apply
    `MOVES` (`moved` rows, counted if not given), inside the caller's transaction; return
    how many moved. Each move happens at `now`, or at its own instant in the column
    `at_column` of `MOVES` (a dry run's day replayed at once)."""
    at = at_column or at_sql(now)
    if moved is None:
        moved = int(engine.scalar(f"SELECT count(*) FROM {MOVES}") or 0)
    if not moved:
        return 0
    if record:
        engine.execute(
            f"""INSERT INTO automation_steps BY NAME
                SELECT instance_id, automation, version, customer_id,
                       coalesce(step, 'end') AS step, outcome, detail, {at} AS happened_at
                FROM {MOVES}"""
        )
    if moved < SMALL_MOVE or moved * REPLACE_BELOW < _instances(engine):
        _replace(engine, at)
    else:
        _update(engine, f"m.{at_column}" if at_column else at)
    return moved


def _instances(engine: Engine) -> int:
    return int(engine.scalar("SELECT count(*) FROM automation_instances") or 0)


def move(engine: Engine, select: str, now: dt.datetime, *, at_column: str | None = None) -> int:
    """`move_rows(select)` and `apply_moves`: how many moved."""
    moved = engine.write(move_rows(select))
    return apply_moves(engine, now, moved=moved, at_column=at_column) if moved else 0


def _by_row(engine: Engine) -> bool:
    """Whether `MOVES` names its instances' rows (`INSTANCE_ROW`): then they are found by row
    id, reading those rows only, instead of matching every instance's id (a scan of ten
    million ids, 40 ms, twice a tick)."""
    return INSTANCE_ROW in engine.query(f"SELECT * FROM {MOVES} LIMIT 0").column_names


def _replace(engine: Engine, at: str) -> None:
    if _by_row(engine):
        engine.execute(
            f"DELETE FROM automation_instances WHERE rowid IN (SELECT {INSTANCE_ROW} FROM {MOVES})"
        )
    else:
        engine.execute(
            "DELETE FROM automation_instances WHERE instance_id IN "
            f"(SELECT instance_id FROM {MOVES})"
        )
    engine.execute(
        f"""INSERT INTO automation_instances BY NAME
            SELECT instance_id, automation, version, customer_id, entry_key, entry, arm,
                   CASE WHEN to_state = 'done' THEN NULL ELSE to_step END AS step,
                   to_state AS state,
                   CASE WHEN to_state = 'waiting' THEN to_wake_at END AS wake_at,
                   entered_at, {at} AS updated_at,
                   coalesce(converted_at, to_converted_at) AS converted_at,
                   CASE WHEN to_state = 'done' THEN {at} END AS exited_at,
                   CASE WHEN to_state = 'done' THEN to_exit_reason END AS exit_reason
            FROM {MOVES}"""
    )


def _update(engine: Engine, at: str) -> None:
    engine.execute(
        f"""UPDATE automation_instances i SET
                step = CASE WHEN m.to_state = 'done' THEN NULL ELSE m.to_step END,
                state = m.to_state,
                wake_at = CASE WHEN m.to_state = 'waiting' THEN m.to_wake_at END,
                updated_at = {at},
                converted_at = coalesce(i.converted_at, m.to_converted_at),
                exited_at = CASE WHEN m.to_state = 'done' THEN {at} END,
                exit_reason = CASE WHEN m.to_state = 'done' THEN m.to_exit_reason END
            FROM {MOVES} m WHERE i.instance_id = m.instance_id"""
    )


def onward(next_step: str, reason: str = "'end'") -> str:
    """The move's columns for going on to `next_step` (SQL; NULL ends the instance with
    `reason`)."""
    return (
        f"{next_step} AS to_step, "
        f"CASE WHEN {next_step} IS NULL THEN 'done' ELSE 'active' END AS to_state, "
        "NULL::TIMESTAMPTZ AS to_wake_at, "
        f"CASE WHEN {next_step} IS NULL THEN {reason} END AS to_exit_reason, "
        "NULL::TIMESTAMPTZ AS to_converted_at"
    )


def waiting(step_id: str, wake: str) -> str:
    """The move's columns for waiting at `step_id` until `wake` (SQL)."""
    return (
        f"{step_id} AS to_step, 'waiting' AS to_state, {wake} AS to_wake_at, "
        "NULL::VARCHAR AS to_exit_reason, NULL::TIMESTAMPTZ AS to_converted_at"
    )


def ended(reason: str, converted: str = "NULL::TIMESTAMPTZ") -> str:
    """The move's columns for ending now with `reason` (SQL)."""
    return (
        f"NULL::VARCHAR AS to_step, 'done' AS to_state, NULL::TIMESTAMPTZ AS to_wake_at, "
        f"{reason} AS to_exit_reason, {converted} AS to_converted_at"
    )
