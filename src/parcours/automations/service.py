"""Automations, the one typed service: what `p.automations`, `parcours automations ...` and
`/v1/automations/...` call (docs/automations.md). The catalogue (publish, lint, list, show,
versions, pause, resume, retire: automations.catalog), the shipped templates, entries by HTTP,
who is where, the send ledger, agents' tasks, a batch run and a dry run.

The runtime (automations.runtime) and delivery (automations.delivery) are imported when a
method needs them: reading the catalogue loads neither.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from parcours.automations import catalog
from parcours.automations.catalog import AutomationInfo, Definition, Linted, Published
from parcours.automations.checks import check
from parcours.automations.clock import Clock, SystemClock
from parcours.automations.definition import AutomationDefinition, AutomationError
from parcours.automations.uplift import uplift
from parcours.errors import NotFoundError
from parcours.identity.customers import customer_of
from parcours.segments.checks import closest_names
from parcours.sql import lit
from parcours.store.component import Component, service
from parcours.store.store import Store

if TYPE_CHECKING:
    from parcours.automations.dryrun import DryRun

TEMPLATES = Path(__file__).parent / "templates"
"""The shipped automations, one YAML file each (their messages in templates/messages/)."""
INSTANCE_STATES = ("active", "waiting", "done")
SEND_STATES = ("planned", "sending", "sent", "deferred", "held", "failed")
TASK_STATES = ("open", "done")


def shipped_templates(store: Store | None = None) -> list[dict[str, Any]]:
    """The shipped automations: name, trigger, description, file."""
    found = []
    for path in sorted(TEMPLATES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        found.append(
            {
                "name": path.stem,
                "trigger": next(iter(data.get("trigger") or {"?": None})),
                "description": data.get("description"),
                "file": str(path),
            }
        )
    return found


def template_path(name: str) -> Path:
    """The file of a shipped automation, or a NotFoundError naming the closest."""
    path = TEMPLATES / f"{name}.yaml"
    if not path.is_file():
        names = [t.stem for t in TEMPLATES.glob("*.yaml")]
        raise NotFoundError(
            f"No shipped automation {name!r}",
            f"{closest_names(name, names)} (parcours automations templates)",
        )
    return path


def publish_template(
    store: Store,
    name: str,
    *,
    on_publish: catalog.OnPublish = "finish",
    status: catalog.Status = "live",
) -> Published:
    """Publish a shipped automation as it is (copy its file to adapt it first)."""
    return catalog.publish(store, template_path(name), on_publish=on_publish, status=status)


@dataclass(frozen=True)
class Entered:
    """An entry by HTTP: the customer found, and whether an instance started (re-entry rules
    and the audience may refuse it)."""

    automation: str
    customer_id: str
    entered: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "automation": self.automation,
            "customer_id": self.customer_id,
            "entered": self.entered,
        }


def enter(
    store: Store,
    name: str,
    *,
    identifier: str,
    value: str,
    properties: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> Entered:
    """Enter a customer, found by an identifier (`identifier` its type: email, phone,
    user_id..., or customer_id), into an automation whose trigger is `http`, with
    `properties` its steps and templates read as `entry`."""
    definition = catalog.current(store, name)
    if definition.trigger.http is None:
        raise AutomationError(
            f"Automation {name!r} starts on its {definition.trigger.kind} trigger, not by HTTP",
            "give it `trigger: {http: {}}` to enter customers by a call",
        )
    customer = value if identifier == "customer_id" else customer_of(store, identifier, value)
    if identifier == "customer_id" and not store.engine.scalar(
        "SELECT count(*) FROM identity_map WHERE customer_id = ?", [customer]
    ):
        raise NotFoundError(f"No customer {customer!r}", "check the id (parcours customers show)")
    from parcours.automations.runtime import Runtime

    entered = Runtime(store, clock=clock or SystemClock()).enter(
        name, f"SELECT {lit(customer)} AS customer_id", entry=properties or {}
    )
    return Entered(name, customer, int(entered))


def instances(
    store: Store,
    name: str,
    *,
    step: str | None = None,
    state: str | None = None,
    customer_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Who is where in an automation: its instances (of one step, state or customer), the
    latest entries first."""
    catalog.known(store, name)
    _choice("state", state, INSTANCE_STATES)
    where, params = _filters(automation=name, step=step, state=state, customer_id=customer_id)
    return _rows(
        store,
        "SELECT instance_id, customer_id, version, arm, step, state, wake_at, entered_at, "
        "updated_at, converted_at, exited_at, exit_reason FROM automation_instances "
        f"WHERE {where} ORDER BY entered_at DESC, instance_id LIMIT ?",
        [*params, limit],
    )


def history(store: Store, instance_id: int) -> list[dict[str, Any]]:
    """Every step one instance went through, in order: step, outcome, detail, happened_at."""
    rows = _rows(
        store,
        "SELECT instance_id, automation, version, customer_id, step, outcome, detail, "
        "happened_at FROM automation_steps WHERE instance_id = ? ORDER BY happened_at",
        [instance_id],
    )
    if not rows and not store.engine.scalar(
        "SELECT count(*) FROM automation_instances WHERE instance_id = ?", [instance_id]
    ):
        raise NotFoundError(
            f"No automation instance {instance_id}",
            "take an instance_id from parcours automations instances NAME",
        )
    return rows


def sends(
    store: Store,
    *,
    automation: str | None = None,
    state: str | None = None,
    channel: str | None = None,
    customer_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The send ledger (no address, no content), the latest planned first; filtered by
    automation, state, channel, customer."""
    if automation is not None:
        catalog.known(store, automation)
    _choice("state", state, SEND_STATES)
    where, params = _filters(
        automation=automation, state=state, channel=channel, customer_id=customer_id
    )
    return _rows(
        store,
        "SELECT send_key, automation, version, step, customer_id, channel, purpose, priority, "
        "state, attempts, next_attempt_at, planned_at, sent_at, reason "
        f"FROM automation_sends WHERE {where} ORDER BY planned_at DESC, send_key LIMIT ?",
        [*params, limit],
    )


def tasks(
    store: Store,
    *,
    automation: str | None = None,
    state: str | None = "open",
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Agents' tasks created by automations, the soonest due first."""
    if automation is not None:
        catalog.known(store, automation)
    _choice("state", state, TASK_STATES)
    where, params = _filters(automation=automation, state=state)
    return _rows(
        store,
        "SELECT task_id, automation, customer_id, title, priority, queue, due_at, created_at, "
        f"state FROM automation_tasks WHERE {where} ORDER BY due_at, task_id LIMIT ?",
        [*params, limit],
    )


@dataclass(frozen=True)
class Run:
    """One batch round: what the runtime's tick did, then what delivery sent."""

    tick: dict[str, Any]
    delivery: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"tick": self.tick, "delivery": self.delivery}


def run(store: Store, *, clock: Clock | None = None) -> Run:
    """One batch round: the runtime's tick (entries, goals, exits, due timers and triggers,
    steps, sends planned), then one delivery run (sends due checked and sent)."""
    from parcours.automations.delivery import Delivery
    from parcours.automations.runtime import Runtime

    clock = clock or SystemClock()
    ticked = Runtime(store, clock=clock).tick()
    delivered = Delivery(store, clock=clock).run_once()
    return Run(_as_dict(ticked), _as_dict(delivered))


def dry_run(
    store: Store,
    automation: Definition,
    *,
    days: float = 30,
    start: dt.datetime | None = None,
) -> DryRun:
    """Replay `days` of the store's events from `start` (default: the last `days` days) against
    an automation — a published one by name, or a definition not yet published (checked
    against the store first) — in simulated time, on a session of its own: who would enter and
    where each would go. Nothing is written, nothing sent."""
    from parcours.automations.dryrun import dry_run as replay

    if not 0 < days <= 3650:
        raise AutomationError(f"days {days} is out of range", "give 1 to 3650 days")
    if (
        isinstance(automation, str)
        and "\n" not in automation
        and not automation.endswith((".yaml", ".yml"))
    ):
        catalog.current(store, automation)  # a misspelt name: the closest ones
        given: AutomationDefinition | str = automation
    else:
        given = catalog.definition_of(automation)
        check(store, given)
    if start is None:
        start = SystemClock().now() - dt.timedelta(days=days)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    return replay(store, given, start=start, days=days)


def _as_dict(report: Any) -> dict[str, Any]:
    to_dict = getattr(report, "to_dict", None)
    return dict(to_dict()) if to_dict else dict(vars(report))


def _choice(what: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise AutomationError(
            f"{what} {value!r} is not one of {', '.join(choices)}",
            f"give one of {', '.join(choices)}",
        )


def _filters(**given: Any) -> tuple[str, list[Any]]:
    chosen = {k: v for k, v in given.items() if v is not None}
    where = " AND ".join(f"{k} = ?" for k in chosen) or "true"
    return where, list(chosen.values())


def _rows(store: Store, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    rows = store.engine.query(sql, params).to_pylist()
    return [
        {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in r.items()} for r in rows
    ]


class Automations(Component):
    """Automations (docs/automations.md): published, versioned definitions that act on
    customers — their catalogue, entries, instances, sends and tasks, batch and dry runs."""

    publish = service(catalog.publish)
    lint = service(catalog.lint_definition)
    list = service(catalog.list_automations)
    show = service(catalog.show)
    versions = service(catalog.versions)
    pause = service(catalog.pause)
    resume = service(catalog.resume)
    retire = service(catalog.retire)
    templates = service(shipped_templates)
    publish_template = service(publish_template)
    enter = service(enter)
    instances = service(instances)
    history = service(history)
    sends = service(sends)
    tasks = service(tasks)
    run = service(run)
    dry_run = service(dry_run)
    uplift = service(uplift)


__all__ = ["AutomationInfo", "Automations", "Definition", "Entered", "Linted", "Published", "Run"]
