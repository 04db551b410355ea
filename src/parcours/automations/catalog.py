"""The automations catalogue: publish (checked, linted, versioned), list, show, versions, pause,
resume and retire — what `p.automations`, `parcours automations ...` and `/v1/automations/...`
call (automations.service).

A publish that changes nothing keeps the current version; a change makes version n+1. Running
instances keep their version unless the author says otherwise (`on_publish`):

- `finish` (the default): they go on to their end on the version they entered on;
- `move`: they move to the new version at the step of the same id (an instance waiting at a
  step that is no longer a wait runs it at once); one whose step is gone exits, reason
  `moved: step gone`;
- `exit`: they exit, reason `new version`.

Every change is one transaction: nothing is half-published.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from parcours.automations.checks import check, current_rows
from parcours.automations.clock import Clock, SystemClock
from parcours.automations.definition import (
    AutomationDefinition,
    AutomationError,
    load_automation,
    parse_automation,
    parse_automation_yaml,
)
from parcours.automations.lint import WAITS, Finding, lint
from parcours.errors import NotFoundError
from parcours.segments.checks import closest_names
from parcours.store.store import Store

OnPublish = Literal["finish", "move", "exit"]
Status = Literal["live", "paused"]
Definition = AutomationDefinition | dict[str, Any] | str | Path
"""A definition as given: the model, a dict (Python, HTTP), a YAML file's path or YAML text."""
RUNNING = "state <> 'done'"
STEP_GONE, NEW_VERSION, RETIRED = "moved: step gone", "new version", "retired"


class AutomationConflict(AutomationError):
    """A change the automation's state does not allow (resuming a retired one...)."""

    http_status = 409


def definition_of(given: Definition) -> AutomationDefinition:
    """`given` as a checked-shape definition (automations.definition)."""
    if isinstance(given, AutomationDefinition):
        return given
    if isinstance(given, dict):
        return parse_automation(given)
    if isinstance(given, Path) or (
        isinstance(given, str) and "\n" not in given and given.endswith((".yaml", ".yml"))
    ):
        return load_automation(given)
    return parse_automation_yaml(given)


@dataclass(frozen=True)
class Published:
    """What a publish did: the version now current, whether it is new, the linter's warnings,
    and the running instances of earlier versions moved or exited."""

    name: str
    version: int
    changed: bool
    status: str
    on_publish: str
    warnings: list[Finding] = field(default_factory=list)
    moved: int = 0
    exited: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "warnings": [w.to_dict() for w in self.warnings]}


@dataclass(frozen=True)
class Linted:
    """The linter's findings on a definition (nothing written)."""

    name: str
    errors: list[Finding]
    warnings: list[Finding]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }


@dataclass(frozen=True)
class AutomationInfo:
    """An automation as `list` and `show` give it, with its instances counted: running (to
    run now), waiting, done, converted (reached the goal)."""

    name: str
    version: int
    status: str
    trigger: str
    description: str | None
    published_at: dt.datetime
    retired_at: dt.datetime | None
    running: int
    waiting: int
    done: int
    converted: int
    definition: dict[str, Any] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain(asdict(self))
        return plain


def lint_definition(store: Store, definition: Definition) -> Linted:
    """Check a definition's shape and its names against the store, then lint it: errors and
    warnings, nothing written. A shape or a name the store does not know is an
    AutomationError, as at publish."""
    parsed = definition_of(definition)
    check(store, parsed)
    found = lint(parsed, store)
    return Linted(
        parsed.name,
        [f for f in found if f.severity == "error"],
        [f for f in found if f.severity == "warning"],
    )


def publish(
    store: Store,
    definition: Definition,
    *,
    on_publish: OnPublish = "finish",
    status: Status = "live",
    clock: Clock | None = None,
) -> Published:
    """Publish an automation: parse it (a YAML file, YAML text or a dict), check its names
    against the store, lint it (errors refuse it, with their lines and fixes), and keep it as
    version n+1 if it changed. Running instances of earlier versions then finish on their
    version, move to this one, or exit, as `on_publish` says."""
    if on_publish not in ("finish", "move", "exit"):
        raise AutomationError(
            f"on_publish {on_publish!r} is not a choice", "choose finish, move or exit"
        )
    if status not in ("live", "paused"):
        raise AutomationError(f"status {status!r} is not a choice", "choose live or paused")
    parsed = definition_of(definition)
    check(store, parsed)
    found = lint(parsed, store)
    errors = [f for f in found if f.severity == "error"]
    if errors:
        raise AutomationError(
            f"Automation {parsed.name!r} cannot be published: "
            + "; ".join(f"{f.where}: {f.message}" for f in errors),
            "; ".join(dict.fromkeys(f.fix for f in errors)),
            where=f"automation {parsed.name}",
        )
    warnings = [f for f in found if f.severity == "warning"]
    engine, now = store.engine, (clock or SystemClock()).now()
    current = {row["name"]: row for row in current_rows(store)}.get(parsed.name)
    if current is not None and orjson.loads(current["definition"]) == parsed.to_json_dict():
        return Published(
            parsed.name, current["version"], False, current["status"], on_publish, warnings
        )
    last = engine.scalar("SELECT max(version) FROM automations WHERE name = ?", [parsed.name])
    version = int(last or 0) + 1
    with engine.transaction():
        engine.execute(
            "INSERT INTO automations VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            [
                parsed.name,
                version,
                orjson.dumps(parsed.to_json_dict()).decode(),
                parsed.description,
                status,
                on_publish,
                now,
            ],
        )
        moved = exited = 0
        if on_publish == "move":
            moved, exited = _move(store, parsed, version, now)
        elif on_publish == "exit":
            exited = end_instances(store, parsed.name, NEW_VERSION, now, below=version)
    return Published(parsed.name, version, True, status, on_publish, warnings, moved, exited)


def _move(
    store: Store, definition: AutomationDefinition, version: int, now: dt.datetime
) -> tuple[int, int]:
    """Move the running instances of earlier versions to `version` at the step of the same
    id; those whose step is gone exit. Returns (moved, exited)."""
    engine = store.engine
    steps = {s.id: s for s in definition.steps}
    ids = ", ".join("?" for _ in steps)
    waits = [s.id for s in definition.steps if s.action in WAITS] or [""]
    at = ", ".join("?" for _ in waits)
    exited = end_instances(
        store,
        definition.name,
        STEP_GONE,
        now,
        below=version,
        where=f"(step IS NULL OR step NOT IN ({ids}))",
        params=list(steps),
    )
    where = f"automation = ? AND version < ? AND {RUNNING} AND step IN ({ids})"
    moved = int(
        engine.scalar(
            f"SELECT count(*) FROM automation_instances WHERE {where}",
            [definition.name, version, *steps],
        )
    )
    engine.execute(
        "INSERT INTO automation_steps SELECT instance_id, automation, ?, customer_id, step, "
        "'moved', 'from version ' || version, ? "
        f"FROM automation_instances WHERE {where}",
        [version, now, definition.name, version, *steps],
    )
    # A waiting instance whose step is no longer a wait runs its new step at once.
    engine.execute(
        "UPDATE automation_instances SET version = ?, updated_at = ?, "
        f"state = CASE WHEN state = 'waiting' AND step NOT IN ({at}) THEN 'active' "
        "ELSE state END, "
        f"wake_at = CASE WHEN state = 'waiting' AND step NOT IN ({at}) THEN NULL "
        f"ELSE wake_at END WHERE {where}",
        [version, now, *waits, *waits, definition.name, version, *steps],
    )
    return moved, exited


def end_instances(
    store: Store,
    name: str,
    reason: str,
    now: dt.datetime,
    *,
    below: int | None = None,
    where: str = "true",
    params: list[Any] | None = None,
) -> int:
    """End the running instances of `name` (of versions below `below`, matching `where`) with
    `reason`, in the caller's transaction: each gets a history row, its timer goes, and its
    sends not yet handed to a provider are held with the reason. Returns how many ended."""
    engine = store.engine
    version = "" if below is None else f" AND version < {int(below)}"
    chosen = f"automation = ? AND {RUNNING}{version} AND {where}"
    args = [name, *(params or [])]
    ids = f"SELECT instance_id FROM automation_instances WHERE {chosen}"
    count = int(engine.scalar(f"SELECT count(*) FROM automation_instances WHERE {chosen}", args))
    if not count:
        return 0
    engine.execute(
        "INSERT INTO automation_steps SELECT instance_id, automation, version, customer_id, "
        f"coalesce(step, 'exit'), 'exited', ?, ? FROM automation_instances WHERE {chosen}",
        [reason, now, *args],
    )
    engine.execute(
        "UPDATE automation_sends SET state = 'held', reason = ?, updated_at = ?, "
        "next_attempt_at = NULL "
        f"WHERE automation = ? AND state IN ('planned', 'deferred') AND instance_id IN ({ids})",
        [f"instance exited: {reason}", now, name, *args],
    )
    engine.execute(
        "UPDATE automation_instances SET state = 'done', wake_at = NULL, exited_at = ?, "
        f"exit_reason = ?, updated_at = ? WHERE {chosen}",
        [now, reason, now, *args],
    )
    return count


def list_automations(store: Store, *, retired: bool = False) -> list[AutomationInfo]:
    """Every automation (current version), with its instances counted; `retired` adds the
    retired ones."""
    counts = _counts(store, by_version=False)
    rows = _latest(store, None if retired else False)
    return [_info(row, counts.get(row["name"], {})) for row in rows]


def show(store: Store, name: str) -> AutomationInfo:
    """One automation: its current definition, its instances counted, and every version."""
    row = known(store, name)
    return _info(row, _counts(store, by_version=False).get(name, {}), versions(store, name))


def versions(store: Store, name: str) -> list[dict[str, Any]]:
    """Every version of an automation, oldest first: version, published_at, status,
    on_publish, retired_at, and its instances counted (running, waiting, done, converted)."""
    known(store, name)
    rows = store.engine.query(
        "SELECT version, published_at, status, on_publish, retired_at, description "
        "FROM automations WHERE name = ? ORDER BY version",
        [name],
    ).to_pylist()
    counts = _counts(store, by_version=True)
    return [_plain({**r, **_zero(counts.get((name, r["version"]), {}))}) for r in rows]


def set_status(store: Store, name: str, status: Status) -> AutomationInfo:
    """Pause (no entry, no step runs, no send) or resume an automation; its instances wait
    where they are while it is paused."""
    row = known(store, name)
    if row["retired_at"] is not None:
        raise AutomationConflict(
            f"Automation {name!r} is retired", "publish it again to bring it back"
        )
    store.engine.execute(
        "UPDATE automations SET status = ? WHERE name = ? AND version = ?",
        [status, name, row["version"]],
    )
    return show(store, name)


def pause(store: Store, name: str) -> AutomationInfo:
    """Pause an automation: no new entry, no step runs, nothing sent, until resumed."""
    return set_status(store, name, "paused")


def resume(store: Store, name: str) -> AutomationInfo:
    """Resume a paused automation: its instances go on from where they waited."""
    return set_status(store, name, "live")


def retire(store: Store, name: str, *, clock: Clock | None = None) -> dict[str, Any]:
    """Retire an automation: its running instances exit (reason `retired`), their unsent
    messages are held; every version and all history are kept. Publishing it again makes a
    new version."""
    row = known(store, name)
    if row["retired_at"] is not None:
        raise AutomationConflict(f"Automation {name!r} is already retired", None)
    now = (clock or SystemClock()).now()
    with store.engine.transaction():
        exited = end_instances(store, name, RETIRED, now)
        store.engine.execute(
            "UPDATE automations SET retired_at = ? WHERE name = ? AND retired_at IS NULL",
            [now, name],
        )
    return {"name": name, "retired": True, "version": row["version"], "exited": exited}


def known(store: Store, name: str) -> dict[str, Any]:
    """The latest version's row of `name` (retired or not), or a NotFoundError naming the
    closest automations."""
    rows = [r for r in _latest(store, None) if r["name"] == name]
    if not rows:
        names = [r["name"] for r in _latest(store, None)]
        raise NotFoundError(
            f"No automation {name!r}",
            f"{closest_names(name, names)} (parcours automations list)",
        )
    return rows[0]


def current(store: Store, name: str) -> AutomationDefinition:
    """The definition of the current version of a live or paused automation."""
    row = known(store, name)
    if row["retired_at"] is not None:
        raise AutomationConflict(
            f"Automation {name!r} is retired", "publish it again to bring it back"
        )
    return parse_automation(orjson.loads(row["definition"]), origin=f"automation {name}")


def _latest(store: Store, retired: bool | None) -> list[dict[str, Any]]:
    which = {None: "", False: " AND retired_at IS NULL", True: " AND retired_at IS NOT NULL"}
    rows: list[dict[str, Any]] = store.engine.query(
        "SELECT name, version, definition, description, status, on_publish, published_at, "
        "retired_at FROM automations a WHERE version = "
        f"(SELECT max(version) FROM automations WHERE name = a.name){which[retired]} ORDER BY name"
    ).to_pylist()
    return rows


def _counts(store: Store, *, by_version: bool) -> dict[Any, dict[str, int]]:
    key = "automation, version" if by_version else "automation"
    rows = store.engine.query(
        f"SELECT {key}, count(*) FILTER (WHERE state = 'active') AS running, "
        "count(*) FILTER (WHERE state = 'waiting') AS waiting, "
        "count(*) FILTER (WHERE state = 'done') AS done, "
        "count(converted_at) AS converted "
        f"FROM automation_instances GROUP BY {key}"
    ).to_pylist()
    found: dict[Any, dict[str, int]] = {}
    for row in rows:
        name = row.pop("automation")
        found[(name, row.pop("version")) if by_version else name] = row
    return found


def _zero(counts: dict[str, int]) -> dict[str, int]:
    return {k: int(counts.get(k, 0)) for k in ("running", "waiting", "done", "converted")}


def _info(
    row: dict[str, Any], counts: dict[str, int], every: list[dict[str, Any]] | None = None
) -> AutomationInfo:
    definition = orjson.loads(row["definition"])
    return AutomationInfo(
        row["name"],
        row["version"],
        "retired" if row["retired_at"] is not None else row["status"],
        next(iter(definition["trigger"])),
        row["description"],
        row["published_at"],
        row["retired_at"],
        **_zero(counts),
        definition=definition,
        versions=every or [],
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
