"""The `parcours` command line: thin commands over the same service functions as the Python API.

Exit status: 0 done; 3 done, but some records were quarantined (see `parcours quarantine list`);
2 a usage or input error (the message says how to fix it); 1 an unexpected failure.

Each command imports the services it calls when it runs: `parcours --help` and a command's
start-up load the command line only, not the engine, Arrow and numpy of every capability.
"""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape

from parcours.cli.automations import automations_app
from parcours.cli.identity import customers_app, identity_app
from parcours.cli.journeys import journeys_app
from parcours.cli.output import (
    FormatOption,
    OutputFormat,
    StoreOption,
    by_month,
    cell,
    console,
    errors,
    print_json,
    print_rows,
    progress_bar,
)
from parcours.cli.scores import scores_app
from parcours.cli.segments import segments_app
from parcours.errors import ParcoursError
from parcours.version import __version__

if TYPE_CHECKING:
    from parcours.client import Parcours
    from parcours.collect.ledger import ImportSummary

EXIT_QUARANTINED = 3

app = typer.Typer(
    name="parcours",
    help="Omnichannel customer journeys: collect every interaction, see the whole journey.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
quarantine_app = typer.Typer(help="Records refused at import: see why, replay after a fix.")
mappings_app = typer.Typer(help="Ready-made import mappings for the exports companies have.")
sources_app = typer.Typer(help="Live sources: their write keys and default channels.")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(mappings_app, name="mappings")
app.add_typer(sources_app, name="sources")
app.add_typer(identity_app, name="identity")
app.add_typer(customers_app, name="customers")
app.add_typer(journeys_app, name="journeys")
app.add_typer(scores_app, name="scores")
app.add_typer(segments_app, name="segments")
app.add_typer(automations_app, name="automations")


def _open(store: Path | None, *, read_only: bool = False) -> "Parcours":
    from parcours.client import connect

    return connect(store, read_only=read_only)


def _open_existing(store: Path | None) -> "Parcours":
    """Read commands open an existing store read-only, so several can run side by side."""
    return _open(store, read_only=True)


@app.command("import")
def import_command(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV, JSON lines or Parquet file; .gz accepted.")
    ],
    source: Annotated[str, typer.Option("--source", help="Name of the source, e.g. call_centre.")],
    mapping: Annotated[
        str,
        typer.Option("--mapping", "-m", help="Mapping file (YAML/TOML) or a shipped mapping name."),
    ],
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Refuse the file if no record has a field the mapping names."
        ),
    ] = False,
) -> None:
    """Import a file: good records become events, bad ones go to quarantine with their reason."""
    with _open(store) as p, progress_bar(f"Importing {path.name}", in_bytes=True) as update:
        summary = p.import_file(
            path, source=source, mapping=mapping, strict=strict, progress=update
        )
    _print_import(summary, fmt)
    if summary.quarantined_total:
        raise typer.Exit(EXIT_QUARANTINED)


def _print_import(summary: "ImportSummary", fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print_json(summary.to_dict())
        return
    console.print(
        f"[bold]{summary.path}[/bold] → source [bold]{summary.source}[/bold]: "
        f"{summary.records:,} records in {summary.seconds:.1f}s\n"
        f"  [green]{summary.accepted:,} stored[/green], "
        f"{summary.duplicates + summary.already_quarantined:,} already there (not stored again), "
        f"[{'yellow' if summary.quarantined_total else 'green'}]"
        f"{summary.quarantined_total:,} quarantined[/]"
    )
    for code, count in sorted(summary.quarantined.items(), key=lambda kv: -kv[1]):
        console.print(f"    {count:,} × {code}")
    _print_fields_not_found(summary)
    if summary.quarantined_total:
        console.print(
            "  See why: [bold]parcours quarantine list --source "
            f"{summary.source}[/bold]; after fixing the mapping: "
            f"[bold]parcours quarantine replay --source {summary.source}[/bold]"
        )


def _print_fields_not_found(summary: "ImportSummary") -> None:
    """A misspelt field breaks no record, so only the summary can say it: name it plainly."""
    from rich.markup import escape

    if not summary.fields_not_found:
        return
    missing = summary.fields_not_found
    named = ", ".join(
        f"{' or '.join(repr(n) for n in names)} ({label})" for label, names in missing.items()
    )
    field, it = ("fields", "them") if len(missing) > 1 else ("field", "it")
    console.print(
        f"  [yellow]No record has the mapped {field} {escape(named)}[/yellow]: the records were "
        f"stored without {it}. Check the spelling in the mapping; [bold]--strict[/bold] refuses "
        "such a file.",
        highlight=False,
    )


@quarantine_app.command("list")
def quarantine_list(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed records.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many records.")] = 50,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Quarantined records with their reason, newest first."""
    with _open_existing(store) as p:
        rows = p.quarantine.list(
            source=source, reason=reason, status=None if all_ else "open", limit=limit
        ).to_pylist()
    if fmt is OutputFormat.table:
        # People read the reason; a 12-character id prefix is enough for `quarantine show`.
        rows = [
            {
                "id": r["quarantine_id"][:12],
                "source": r["source"],
                "reason": r["reason"],
                "origin": r["origin"],
            }
            for r in rows
        ]
    print_rows(rows, fmt, title="Quarantine (open records; --all for replayed ones)")


@quarantine_app.command("show")
def quarantine_show(
    quarantine_id: Annotated[
        str, typer.Argument(help="Id (or a unique prefix) from `quarantine list`.")
    ],
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """One quarantined record in full, with its raw content."""
    with _open_existing(store) as p:
        record = p.quarantine.show(quarantine_id)
    if fmt is OutputFormat.table:
        for key, value in record.items():
            shown = "–" if value is None else escape(cell(key, value))
            console.print(f"[bold]{key:>15}[/bold]  {shown}", highlight=False)
    else:
        print_rows([record], fmt)


@quarantine_app.command("replay")
def quarantine_replay(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--mapping", "-m", help="Use this mapping instead of the recorded one."),
    ] = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Run open quarantined records through their (fixed) mapping again."""
    with _open(store) as p:
        summary = p.quarantine.replay(source=source, reason=reason, mapping=mapping)
    if fmt is OutputFormat.json:
        print_json(summary.to_dict())
    else:
        still = sum(summary.still_quarantined.values())
        console.print(
            f"Replayed {summary.considered:,} records: [green]{summary.stored:,} stored[/green], "
            f"{summary.duplicates:,} already there, "
            f"[{'yellow' if still else 'green'}]{still:,} still quarantined[/]"
        )
        for code, count in summary.still_quarantined.items():
            console.print(f"    {count:,} × {code}")
    if summary.still_quarantined:
        raise typer.Exit(EXIT_QUARANTINED)


@app.command()
def stats(store: StoreOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """What the store holds: events by channel, type, source and day; identifiers; quarantine."""
    with _open_existing(store) as p:
        figures = p.stats()
    if fmt is OutputFormat.json:
        print_json(figures)
        return
    totals = figures["totals"]
    first, last = (totals[k] for k in ("first_occurred_at", "last_occurred_at"))
    span = f", {cell('', first)} → {cell('', last)} UTC" if first is not None else ""
    console.print(
        f"[bold]{escape(str(figures['store']))}[/bold]: {totals['events']:,} events from "
        f"{totals['sources']} sources{span}; {totals['quarantined']:,} records in quarantine",
        highlight=False,
    )
    for key, title in (
        ("by_channel", "Events by channel"),
        ("by_type", "Events by type"),
        ("by_source", "Events by source"),
        ("identifiers", "Identifiers by type"),
        ("quarantine", "Quarantine by reason (open)"),
    ):
        print_rows(figures[key], fmt, title=title)
    print_rows(
        by_month(figures["by_day"]), fmt, title="Events by month (daily figures: --format json)"
    )


@app.command()
def export(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write (default: events or identifiers, with the format's suffix).",
        ),
    ] = None,
    file_format: Annotated[
        str, typer.Option("--format", "-f", help="parquet, csv or jsonl.")
    ] = "parquet",
    source: Annotated[str | None, typer.Option(help="Only this source's events.")] = None,
    identifiers: Annotated[
        bool,
        typer.Option(
            "--identifiers", help="Write every identifier with its customer instead of the events."
        ),
    ] = False,
    store: StoreOption = None,
) -> None:
    """Write the canonical events, each with its customer, to a Parquet, CSV or JSON-lines file;
    or, with --identifiers, every identifier with its customer (type, value, customer_id)."""
    if file_format not in ("parquet", "csv", "jsonl"):
        raise ParcoursError(f"Unknown export format {file_format!r}", "use parquet, csv or jsonl")
    if identifiers and source:
        raise ParcoursError(
            "--source chooses events; identifiers belong to customers, not to a source",
            "leave out --source to export the identifiers",
        )
    output = output or Path("identifiers" if identifiers else "events")
    if not output.suffix:
        output = output.with_suffix("." + file_format)
    with _open_existing(store) as p:
        if identifiers:
            count = p.export_identifiers(output, fmt=file_format)  # type: ignore[arg-type]
            what, unresolved = "identifiers", 0
        else:
            from parcours.store.export import events_without_customer

            count = p.export(output, fmt=file_format, source=source)  # type: ignore[arg-type]
            what, unresolved = "events", events_without_customer(p.store, source)
    console.print(f"Wrote {count:,} {what} with their customer to [bold]{output}[/bold]")
    if unresolved:
        console.print(
            f"{unresolved:,} of them have no customer: imported since the last resolve (run "
            "`parcours identity resolve`), or carrying only blocked identifiers"
        )


@mappings_app.command("list")
def mappings_list(fmt: FormatOption = OutputFormat.table) -> None:
    """The shipped mappings, usable by name with `parcours import --mapping NAME`."""
    from parcours.collect.mapping import load_mapping, shipped_mappings

    rows = []
    for name in shipped_mappings():
        mapping, _ = load_mapping(name)
        rows.append({"name": name, "format": mapping.format, "description": mapping.description})
    print_rows(rows, fmt, title="Shipped mappings")


@mappings_app.command("show")
def mappings_show(name: Annotated[str, typer.Argument(help="A shipped mapping name.")]) -> None:
    """Print a shipped mapping, to copy and adapt."""
    from parcours.collect.mapping import SHIPPED, shipped_mappings

    if name not in shipped_mappings():
        raise ParcoursError(
            f"No shipped mapping {name!r}", f"use one of {', '.join(shipped_mappings())}"
        )
    sys.stdout.write((SHIPPED / f"{name}.yaml").read_text())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (PARCOURS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PARCOURS_PORT, default 8765).")] = None,
    store: StoreOption = None,
) -> None:
    """Serve the tracking API (Segment, RudderStack and PostHog SDKs talk to it unchanged)."""
    import uvicorn

    from parcours.api import create_app
    from parcours.config import load_settings

    settings = load_settings(store=store, host=host, port=port)
    console.print(
        f"parcours {__version__} serving [bold]{settings.store}[/bold] on "
        f"http://{settings.host}:{settings.port} — Segment: /v1/batch, PostHog: /batch/; "
        "write keys: `parcours sources list`"
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


def _print_sources(sources: list[Any], fmt: OutputFormat) -> None:
    rows = [s.to_dict() for s in sources]
    if fmt is OutputFormat.table:
        if not rows:
            console.print("No sources yet: add one with `parcours sources add NAME --channel web`.")
            return
        rows = [{**r, "enabled": bool(r["enabled"])} for r in rows]
    print_rows(rows, fmt, title="Sources")


@sources_app.command("add")
def sources_add(
    name: Annotated[str, typer.Argument(help="A name for the source, e.g. website.")],
    channel: Annotated[str, typer.Option(help="Default channel of its events, e.g. web, app.")],
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Add a source and print its write key (configure the SDK with it)."""
    with _open(store) as p:
        _print_sources([p.sources.add(name, channel)], fmt)


@sources_app.command("list")
def sources_list(store: StoreOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Every source with its write key, channel and state."""
    with _open_existing(store) as p:
        _print_sources(p.sources.list(), fmt)


@sources_app.command("disable")
def sources_disable(
    name: Annotated[str, typer.Argument()],
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Refuse the source's key (401) until enabled again; nothing stored is touched."""
    with _open(store) as p:
        _print_sources([p.sources.set_enabled(name, False)], fmt)


@sources_app.command("enable")
def sources_enable(
    name: Annotated[str, typer.Argument()],
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Accept the source's key again."""
    with _open(store) as p:
        _print_sources([p.sources.set_enabled(name, True)], fmt)


@sources_app.command("rotate")
def sources_rotate(
    name: Annotated[str, typer.Argument()],
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Give the source a new write key; the old one stops working at once."""
    with _open(store) as p:
        _print_sources([p.sources.rotate_key(name)], fmt)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="How many customers the world has.")] = 5000,
    seed: Annotated[int, typer.Option(help="Same seed, same world.")] = 7,
    out: Annotated[Path, typer.Option(help="Where exports and truth are written.")] = Path(
        "parcours-demo"
    ),
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Build the demo world: channel exports, imported through the real import path, with truth."""
    from parcours.demo.run import print_demo_report, run_demo

    store_path = store or out / "parcours.duckdb"
    report = run_demo(store_path, out, customers=customers, seed=seed)
    if fmt is OutputFormat.json:
        print_json(report.to_dict())
    else:
        print_demo_report(report)


@app.command()
def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "parcours-report.html"
    ),
    conversion: Annotated[str, typer.Option(help="The conversion event.")] = "Order Completed",
    store: StoreOption = None,
) -> None:
    """The report: every journey analysis, then tiers, RFM, personas, the health back-test and
    lifetime value, and each automation's funnel and uplift, in one HTML file that opens
    offline."""
    from parcours.automations.report import automation_sections
    from parcours.journeys.report import write_report

    with _open_existing(store) as p:
        built = p.journeys.report(conversion=conversion)
        if not built.nothing_yet:  # tiers, RFM, personas, health and value, where they can be
            standing = p.scores.report_sections()
            built.sections += standing.sections
            built.findings += standing.findings
            automated = automation_sections(p.store)  # none when no automation ran
            built.sections += automated.sections
            built.findings += automated.findings
    write_report(built, output)
    for finding in built.findings:
        console.print(f"  • {finding}", highlight=False)
    if built.nothing_yet:
        console.print(built.nothing_yet, highlight=False, markup=False)
    console.print(f"Report written to [bold]{output}[/bold]", highlight=False)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"parcours {__version__}")
        raise typer.Exit()


def main(argv: list[str] | None = None) -> Any:
    """Entry point: a mistake is one clear message and exit 2, never a traceback."""
    try:
        return app(args=argv, standalone_mode=False)
    except ParcoursError as error:
        errors.print(f"[bold red]Error:[/bold red] {escape(error.message)}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        errors.print(
            "Interrupted. Whatever was committed stays; run the same command again to finish."
        )
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(1)
    except _usage_error() as error:
        _show_usage_error(error)
    except Exception as error:
        if os.environ.get("PARCOURS_DEBUG"):
            raise
        errors.print(
            f"[bold red]Unexpected error:[/bold red] {type(error).__name__}: "
            f"{escape(str(error))}\n"
            "This is a bug in parcours. Run again with PARCOURS_DEBUG=1 for the traceback, and "
            "report it with that output.",
            highlight=False,
        )
        sys.exit(1)


def _usage_error() -> type[Exception]:
    """The base of the exceptions a command-line mistake raises (unknown option or command,
    missing or bad value). Found through `typer.BadParameter`, a public name: Typer 0.2x
    raises those of the copy of Click it bundles, earlier Typers Click's own."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _show_usage_error(error: Exception) -> NoReturn:
    """Print the mistake as Click does (the usage line, where to find help, the error) and
    exit with its status: 2 for a usage error. With no arguments, the help is already shown."""
    if type(error).__name__ != "NoArgsIsHelpError":
        error.show()  # type: ignore[attr-defined]
    sys.exit(getattr(error, "exit_code", 2))
