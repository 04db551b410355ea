"""`parcours automations ...`: thin commands over `p.automations` (docs/automations.md).

`--format json` prints what `/v1/automations/...` answers. A mistake (a misspelt name, a bad
file, a definition the linter refuses) is one message and exit 2; `lint` also exits 2 when it
finds an error, 0 when only warnings.
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from parcours.cli.output import (
    FormatOption,
    OutputFormat,
    StoreOption,
    console,
    errors,
    print_json,
    print_record,
    print_rows,
)

if TYPE_CHECKING:
    from parcours.automations.catalog import OnPublish, Status
    from parcours.automations.lint import Finding
    from parcours.client import Parcours

EXIT_LINT_ERRORS = 2

automations_app = typer.Typer(
    help="Automations: published, versioned definitions that act on customers (welcome, "
    "inactivity, renewal...): publish, lint, follow their instances, sends and tasks."
)

NameArgument = Annotated[str, typer.Argument(help="The automation's name.")]
LimitOption = Annotated[int, typer.Option(help="How many rows to list.", min=0)]
OnPublishOption = Annotated[
    str,
    typer.Option(
        "--on-publish",
        help="What running instances of earlier versions do: finish (on their version), "
        "move (to this one, at the step of the same id) or exit.",
    ),
]


def connect(store: Path | None, *, read_only: bool = False) -> "Parcours":
    from parcours.client import connect as open_store

    return open_store(store, read_only=read_only)


def _findings(found: "list[Finding]", kind: str) -> None:
    for finding in found:
        colour = "red" if finding.severity == "error" else "yellow"
        errors.print(
            f"[{colour}]{kind}[/{colour}] {finding.rule} at {finding.where}: {finding.message}. "
            f"Fix: {finding.fix}.",
            highlight=False,
            markup=True,
        )


@automations_app.command("publish")
def publish_command(
    path: Annotated[
        Path | None, typer.Argument(help="The definition: a YAML file (or --template).")
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(help="Publish a shipped automation (parcours automations templates)."),
    ] = None,
    on_publish: OnPublishOption = "finish",
    paused: Annotated[bool, typer.Option(help="Publish it paused (resume it later).")] = False,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Publish an automation: checked against the store and linted (an error refuses it with
    its line and fix; warnings are shown), kept as a new version if it changed."""
    from parcours.automations.definition import AutomationError

    if (path is None) == (template is None):
        raise AutomationError(
            "Give either a definition file or --template NAME",
            "e.g. parcours automations "
            "publish welcome.yaml, or parcours automations publish --template welcome",
        )
    if on_publish not in ("finish", "move", "exit"):
        raise AutomationError(
            f"--on-publish {on_publish!r} is not a choice", "choose finish, move or exit"
        )
    choice = cast("OnPublish", on_publish)
    status: Status = "paused" if paused else "live"
    with connect(store) as p:
        if template is not None:
            done = p.automations.publish_template(template, on_publish=choice, status=status)
        else:
            assert path is not None
            done = p.automations.publish(path, on_publish=choice, status=status)
    if fmt is OutputFormat.json:
        print_json(done.to_dict())
        return
    state = "published as version" if done.changed else "unchanged at version"
    moved = (
        f"; running instances: {done.moved:,} moved, {done.exited:,} exited"
        if done.changed and done.on_publish != "finish"
        else ""
    )
    console.print(
        f"Automation [bold]{done.name}[/bold] {state} {done.version} ({done.status}){moved}",
        highlight=False,
    )
    _findings(done.warnings, "warning")


@automations_app.command("lint")
def lint_command(
    path: Annotated[Path, typer.Argument(help="The definition: a YAML file.")],
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Check a definition against the store and lint it, publishing nothing: branches that
    overlap, steps no path reaches, a send no consent covers, a wait with no way out."""
    with connect(store, read_only=True) as p:
        linted = p.automations.lint(path)
    if fmt is OutputFormat.json:
        print_json(linted.to_dict())
    else:
        _findings(linted.errors, "error")
        _findings(linted.warnings, "warning")
        if not linted.errors:
            console.print(
                f"Automation [bold]{linted.name}[/bold] can be published "
                f"({len(linted.warnings)} warning{'s' if len(linted.warnings) != 1 else ''})",
                highlight=False,
            )
    if linted.errors:
        raise typer.Exit(EXIT_LINT_ERRORS)


@automations_app.command("list")
def list_command(
    retired: Annotated[bool, typer.Option(help="Also the retired ones.")] = False,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Every automation: version, status, trigger, its instances counted."""
    with connect(store, read_only=True) as p:
        found = [a.to_dict() for a in p.automations.list(retired=retired)]
    if fmt is OutputFormat.json:
        print_json(found)
        return
    if not found:
        console.print(
            "No automation yet: parcours automations publish FILE, or --template NAME "
            "(parcours automations templates)"
        )
        return
    keep = ("name", "version", "status", "trigger", "running", "waiting", "done", "converted")
    print_rows([{k: a[k] for k in keep} for a in found], fmt, title="Automations")


@automations_app.command("show")
def show_command(
    name: NameArgument, store: StoreOption = None, fmt: FormatOption = OutputFormat.table
) -> None:
    """An automation's definition, its instances counted, and every version."""
    with connect(store, read_only=True) as p:
        info = p.automations.show(name).to_dict()
    if fmt is OutputFormat.json:
        print_json(info)
        return
    import yaml

    console.print(
        f"Automation [bold]{info['name']}[/bold], version {info['version']} ({info['status']}): "
        f"{info['running']:,} running, {info['waiting']:,} waiting, {info['done']:,} done, "
        f"{info['converted']:,} converted"
        + (f" — {info['description']}" if info["description"] else ""),
        highlight=False,
    )
    console.print(yaml.safe_dump(info["definition"], sort_keys=False).rstrip(), markup=False)
    print_rows(_for_people(info["versions"], fmt), fmt, title="Versions")


@automations_app.command("versions")
def versions_command(
    name: NameArgument, store: StoreOption = None, fmt: FormatOption = OutputFormat.table
) -> None:
    """Every version of an automation, with its instances counted."""
    with connect(store, read_only=True) as p:
        rows = p.automations.versions(name)
    print_rows(_for_people(rows, fmt), fmt, title=f"Versions of {name}")


def _status(name: str, what: str, store: Path | None, fmt: OutputFormat) -> None:
    with connect(store) as p:
        info = getattr(p.automations, what)(name)
    done = info if isinstance(info, dict) else info.to_dict()
    if fmt is OutputFormat.json:
        print_json(done)
        return
    if what == "retire":
        console.print(
            f"Automation [bold]{name}[/bold] retired: {done['exited']:,} running instances "
            "exited; its versions and history are kept",
            highlight=False,
        )
        return
    console.print(f"Automation [bold]{name}[/bold] is {done['status']}", highlight=False)


@automations_app.command("pause")
def pause_command(
    name: NameArgument, store: StoreOption = None, fmt: FormatOption = OutputFormat.table
) -> None:
    """Pause: no entry, no step runs, nothing sent, until resumed."""
    _status(name, "pause", store, fmt)


@automations_app.command("resume")
def resume_command(
    name: NameArgument, store: StoreOption = None, fmt: FormatOption = OutputFormat.table
) -> None:
    """Resume a paused automation: its instances go on from where they waited."""
    _status(name, "resume", store, fmt)


@automations_app.command("retire")
def retire_command(
    name: NameArgument, store: StoreOption = None, fmt: FormatOption = OutputFormat.table
) -> None:
    """Retire: running instances exit, unsent messages are held; history is kept."""
    _status(name, "retire", store, fmt)


@automations_app.command("templates")
def templates_command(store: StoreOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """The shipped automations, ready to publish (--template NAME) or to copy and adapt."""
    from parcours.automations.service import shipped_templates

    rows = shipped_templates()
    if fmt is OutputFormat.table:
        rows = [{k: r[k] for k in ("name", "trigger", "description")} for r in rows]
    print_rows(rows, fmt, title="Shipped automations")


@automations_app.command("enter")
def enter_command(
    name: NameArgument,
    identifier: Annotated[
        str, typer.Option(help="The identifier's type: email, phone, user_id... or customer_id.")
    ],
    value: Annotated[str, typer.Option(help="The identifier's value.")],
    properties: Annotated[
        str | None,
        typer.Option(help='The entry\'s properties as JSON, e.g. \'{"quote_id": "q1"}\'.'),
    ] = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Enter a customer into an automation triggered by HTTP (as POST .../entries does)."""
    from parcours.automations.definition import AutomationError

    try:
        given = json.loads(properties) if properties else {}
    except json.JSONDecodeError as error:
        raise AutomationError(
            f"--properties is not JSON: {error.msg} at character {error.pos}",
            'write an object, e.g. --properties \'{"quote_id": "q1"}\'',
        ) from None
    if not isinstance(given, dict):
        raise AutomationError("--properties is not a JSON object", 'write {"key": "value", ...}')
    with connect(store) as p:
        done = p.automations.enter(name, identifier=identifier, value=value, properties=given)
    if fmt is OutputFormat.json:
        print_json(done.to_dict())
        return
    verb = "entered" if done.entered else "did not enter (re-entry rule or audience)"
    console.print(f"Customer {done.customer_id} {verb} {name}", highlight=False)


@automations_app.command("instances")
def instances_command(
    name: NameArgument,
    step: Annotated[str | None, typer.Option(help="Only those at this step.")] = None,
    state: Annotated[str | None, typer.Option(help="active, waiting or done.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer (c_...).")] = None,
    limit: LimitOption = 100,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Who is where: the automation's instances, the latest entries first."""
    with connect(store, read_only=True) as p:
        rows = p.automations.instances(
            name, step=step, state=state, customer_id=customer, limit=limit
        )
    print_rows(_for_people(rows, fmt), fmt, title=f"Instances of {name}")


@automations_app.command("history")
def history_command(
    instance: Annotated[
        int, typer.Argument(help="The instance id (parcours automations instances).")
    ],
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Every step one instance went through, in order, with what happened there."""
    with connect(store, read_only=True) as p:
        rows = p.automations.history(instance)
    print_rows(_for_people(rows, fmt), fmt, title=f"Instance {instance}")


@automations_app.command("sends")
def sends_command(
    automation: Annotated[str | None, typer.Option(help="Only this automation's.")] = None,
    state: Annotated[
        str | None, typer.Option(help="planned, sending, sent, deferred, held or failed.")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="email, sms, push or webhook.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer (c_...).")] = None,
    limit: LimitOption = 100,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The send ledger (no address, no content): each message's state and reason."""
    with connect(store, read_only=True) as p:
        rows = p.automations.sends(
            automation=automation, state=state, channel=channel, customer_id=customer, limit=limit
        )
    print_rows(_for_people(rows, fmt), fmt, title="Sends")


@automations_app.command("tasks")
def tasks_command(
    automation: Annotated[str | None, typer.Option(help="Only this automation's.")] = None,
    state: Annotated[str, typer.Option(help="open or done.")] = "open",
    limit: LimitOption = 100,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Agents' tasks the automations created, the soonest due first."""
    with connect(store, read_only=True) as p:
        rows = p.automations.tasks(automation=automation, state=state, limit=limit)
    print_rows(_for_people(rows, fmt), fmt, title="Tasks")


@automations_app.command("run")
def run_command(store: StoreOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """One batch round: new events read, due timers and triggers fired, steps run, sends
    planned; then the sends due checked and sent."""
    with connect(store) as p:
        done = p.automations.run().to_dict()
    if fmt is OutputFormat.json:
        print_json(done)
        return
    print_record(_flat(done["tick"]), fmt, title="Runtime")
    print_record(_flat(done["delivery"]), fmt, title="Delivery")


@automations_app.command("dry-run")
def dry_run_command(
    automation: Annotated[
        str, typer.Argument(help="A published automation's name, or a definition file (YAML).")
    ],
    days: Annotated[int, typer.Option(help="Days of events to replay.", min=1, max=3650)] = 30,
    start: Annotated[
        str | None,
        typer.Option(help="Replay from this date (YYYY-MM-DD, UTC); default: DAYS days ago."),
    ] = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Replay the store's events against an automation in simulated time, on a session of its
    own: who would enter and where each would go. Nothing is written, nothing sent."""
    import datetime as dt

    from parcours.automations.definition import AutomationError

    try:
        begin = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC) if start else None
    except ValueError:
        raise AutomationError(
            f"--start {start!r} is not a date", "write it YYYY-MM-DD, e.g. 2026-03-01"
        ) from None
    given: str | Path = Path(automation) if automation.endswith((".yaml", ".yml")) else automation
    with connect(store, read_only=True) as p:
        seen = p.automations.dry_run(given, days=days, start=begin).to_dict()
    if fmt is OutputFormat.json:
        print_json(seen)
        return
    console.print(
        f"Dry run of [bold]{seen['automation']}[/bold] from {seen['start']:%Y-%m-%d %H:%M} to "
        f"{seen['end']:%Y-%m-%d %H:%M} UTC: [bold]{seen['entered']:,}[/bold] entered "
        f"({seen['held_out']:,} held out), {seen['converted']:,} converted, "
        f"{seen['running']:,} still running",
        highlight=False,
    )
    steps = [{"step": step, **outcomes} for step, outcomes in seen["steps"].items()]
    print_rows(steps, fmt, title="Outcomes per step")
    exits = [{"reason": reason, "instances": n} for reason, n in seen["exits"].items()]
    print_rows(exits, fmt, title="How instances ended")


def _for_people(rows: list[dict[str, Any]], fmt: OutputFormat) -> list[dict[str, Any]]:
    """Rows as JSON gives them (times as ISO text) made readable in a table: times to the
    minute, an instance id as the identifier it is rather than a number with separators."""
    if fmt is not OutputFormat.table:
        return rows
    import datetime as dt

    def cell(key: str, value: Any) -> Any:
        if key.endswith("_at") and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        return str(value) if key == "instance_id" else value

    return [{k: cell(k, v) for k, v in row.items()} for row in rows]


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in record.items()}


@automations_app.command("uplift")
def uplift_command(
    name: NameArgument,
    version: Annotated[
        int | None, typer.Option(help="Only the entries of this version (default: all).")
    ] = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """What the automation did: its goal's conversion for treated against held-out customers,
    the difference with its 95 % interval (Newcombe), and each step's funnel."""
    from parcours.automations.report import STEP_COLUMNS, uplift_sentence

    with connect(store, read_only=True) as p:
        measured = p.automations.uplift(name, version=version)
    if fmt is OutputFormat.json:
        print_json(measured.to_dict())
        return
    console.print(uplift_sentence(measured), highlight=False, markup=False)
    rows = [
        {c.key: s.to_dict().get(c.key) for c in STEP_COLUMNS if c.key != "ended"}
        | {"ended here": ", ".join(f"{n:,} {r}" for r, n in s.exited.items())}
        for s in measured.steps
    ]
    print_rows(rows, fmt, title=f"{name}: each step")
