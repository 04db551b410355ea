"""`parcours segments ...`: thin commands over `p.segments` (docs/segments.md).

The services are imported when a command runs, not with the command line (see `parcours.cli`).
"""

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from parcours.cli.journey_options import instant
from parcours.cli.output import (
    FormatOption,
    OutputFormat,
    StoreOption,
    console,
    print_json,
    print_record,
    print_rows,
)

if TYPE_CHECKING:
    from parcours.client import Parcours

segments_app = typer.Typer(
    help="Declarative segments: saved definitions whose members are kept current, with their "
    "history; preview and explain."
)

NameArgument = Annotated[str, typer.Argument(help="The segment's name.")]
FileArgument = Annotated[Path, typer.Argument(help="The definition: a YAML or TOML file.")]
AsOfOption = Annotated[
    dt.datetime | None,
    typer.Option("--as-of", parser=instant, help="Evaluate windows as of this time (default now)."),
]


def connect(store: Path | None, *, read_only: bool = False) -> "Parcours":
    from parcours.client import connect as open_store

    return open_store(store, read_only=read_only)


@segments_app.command("create")
def segments_create(
    path: FileArgument, store: StoreOption = None, fmt: FormatOption = OutputFormat.table
) -> None:
    """Save a segment from its definition file (a new version if it changed) and compute its
    members. A definition the store refuses saves nothing."""
    with connect(store) as p:
        saved = p.segments.create(path)
    if fmt is OutputFormat.json:
        print_json(saved.to_dict())
        return
    state = "saved as version" if saved.changed else "unchanged at version"
    console.print(
        f"Segment [bold]{saved.name}[/bold] {state} {saved.version}: "
        f"[bold]{saved.members:,}[/bold] members ({saved.entered:,} entered, "
        f"{saved.left:,} left)",
        highlight=False,
    )


@segments_app.command("list")
def segments_list(store: StoreOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Every segment with its version, members and description."""
    with connect(store, read_only=True) as p:
        found = p.segments.list()
    rows = [
        {k: v for k, v in s.to_dict().items() if k not in ("definition", "versions")} for s in found
    ]
    if fmt is OutputFormat.table and not rows:
        console.print("No segment yet: parcours segments create FILE (docs/segments.md)")
        return
    print_rows(rows, fmt, title="Segments")


@segments_app.command("show")
def segments_show(
    name: NameArgument, store: StoreOption = None, fmt: FormatOption = OutputFormat.table
) -> None:
    """A segment's definition, members and versions."""
    with connect(store, read_only=True) as p:
        info = p.segments.show(name)
    if fmt is OutputFormat.json:
        print_json(info.to_dict())
        return
    import yaml

    console.print(
        f"Segment [bold]{info.name}[/bold], version {info.version}: "
        f"[bold]{info.members:,}[/bold] members"
        + (f" — {info.description}" if info.description else ""),
        highlight=False,
    )
    console.print(yaml.safe_dump(info.definition["where"], sort_keys=False).rstrip(), markup=False)
    print_rows(info.versions, fmt, title="Versions")


@segments_app.command("preview")
def segments_preview(
    path: FileArgument,
    limit: Annotated[int, typer.Option(help="How many customers to list.")] = 20,
    as_of: AsOfOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """How many customers a definition selects, and who, before saving it."""
    with connect(store, read_only=True) as p:
        seen = p.segments.preview(path, limit=limit, as_of=as_of)
    if fmt is OutputFormat.json:
        print_json(seen.to_dict())
        return
    console.print(
        f"[bold]{seen.customers:,}[/bold] of {seen.of:,} customers would be in "
        f"[bold]{seen.name}[/bold]",
        highlight=False,
    )
    print_rows(seen.conditions, fmt, title="Customers each condition holds for")
    print_rows([{"customer_id": c} for c in seen.sample], fmt, title="Some of them")


@segments_app.command("members")
def segments_members(
    name: NameArgument,
    limit: Annotated[int, typer.Option(help="How many to list.")] = 100,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The segment's members now, the earliest entries first."""
    with connect(store, read_only=True) as p:
        rows = p.segments.members(name, limit=limit)
    print_rows(rows, fmt, title=f"Members of {name}")


@segments_app.command("explain")
def segments_explain(
    name: NameArgument,
    customer: Annotated[str, typer.Argument(help="The customer id (c_...).")],
    as_of: AsOfOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Why a customer is in a segment or not: each condition with the customer's value."""
    with connect(store, read_only=True) as p:
        why = p.segments.explain(name, customer, as_of=as_of)
    if fmt is OutputFormat.json:
        print_json(why.to_dict())
        return
    verdict = "is in" if why.member else "is not in"
    console.print(
        f"Customer [bold]{why.customer_id}[/bold] {verdict} [bold]{why.segment}[/bold] "
        f"(version {why.version}; the members table says "
        f"{'in' if why.materialised else 'out'})",
        highlight=False,
    )
    rows: list[dict[str, Any]] = [
        {"held": c["held"], "condition": c["condition"], "value": c["value"], "path": c["path"]}
        for c in why.conditions
    ]
    print_rows(rows, fmt, title="Conditions")


@segments_app.command("history")
def segments_history(
    name: NameArgument,
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    limit: Annotated[int, typer.Option(help="How many changes to list.")] = 1000,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Every entry and exit, oldest first, with the definition's version."""
    with connect(store, read_only=True) as p:
        rows = p.segments.history(name, customer_id=customer, limit=limit)
    print_rows(rows, fmt, title=f"History of {name}")


@segments_app.command("recompute")
def segments_recompute(
    names: Annotated[
        list[str] | None, typer.Argument(help="Only these segments (and those naming them).")
    ] = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Compute every segment's members for every customer now."""
    with connect(store) as p:
        done = p.segments.recompute(names or None)
    if fmt is OutputFormat.json:
        print_json(done.to_dict())
        return
    console.print(
        f"{done.segments:,} segments over {done.customers:,} customers in {done.seconds:.1f}s",
        highlight=False,
    )
    rows = [{"segment": s, "entered": done.entered[s], "left": done.left[s]} for s in done.entered]
    print_rows(rows, fmt)


@segments_app.command("delete")
def segments_delete(
    name: NameArgument, store: StoreOption = None, fmt: FormatOption = OutputFormat.table
) -> None:
    """Retire a segment: its members leave; its versions and history are kept."""
    with connect(store) as p:
        done = p.segments.delete(name)
    if fmt is OutputFormat.json:
        print_json(done)
        return
    print_record(done, fmt, title=f"Segment {name} retired")
