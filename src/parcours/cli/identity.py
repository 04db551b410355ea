"""`parcours identity ...` and `parcours customers ...`: thin commands over `identity`.

The services are imported when a command runs, not with the command line (see `parcours.cli`).
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from parcours.cli.output import (
    FormatOption,
    OutputFormat,
    StoreOption,
    cell,
    console,
    print_json,
    print_rows,
)
from parcours.cli.scores import standing_rows
from parcours.errors import ParcoursError

if TYPE_CHECKING:
    from parcours.client import Parcours
    from parcours.identity.resolve import Resolution

# Every command that names a person takes the same identifier options.
EmailOption = Annotated[str | None, typer.Option(help="An email.")]
PhoneOption = Annotated[str | None, typer.Option(help="A phone, E.164.")]
UserIdOption = Annotated[str | None, typer.Option(help="A user id.")]
TypeOption = Annotated[str | None, typer.Option("--type", help="Any identifier type...")]
ValueOption = Annotated[str | None, typer.Option(help="...and its value.")]


def connect(store: Path | None, *, read_only: bool = False) -> "Parcours":
    from parcours.client import connect as open_store

    return open_store(store, read_only=read_only)


identity_app = typer.Typer(
    help="One customer from many identifiers: resolve, explain, merge, split."
)
customers_app = typer.Typer(
    help="Customers, found by any of their identifiers; access and erasure requests."
)


@identity_app.command("resolve")
def identity_resolve(
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Resolve identifiers into customers under the identity rules (settings: identity).

    Every resolve is full: it recomputes from all events, so a rule change re-resolves history.
    """
    with connect(store) as p:
        result = p.identity.resolve()
    _print_resolution(result, fmt)


def _identifier(
    email: str | None, phone: str | None, user_id: str | None, kind: str | None, value: str | None
) -> tuple[str, str]:
    given = [(k, v) for k, v in (("email", email), ("phone", phone), ("user_id", user_id)) if v]
    if kind and value:
        given.append((kind, value))
    if len(given) != 1:
        raise ParcoursError(
            "Name exactly one identifier", "use --email, --phone, --user-id, or --type and --value"
        )
    return given[0]


@identity_app.command("explain")
def identity_explain(
    email: EmailOption = None,
    phone: PhoneOption = None,
    user_id: UserIdOption = None,
    kind: TypeOption = None,
    value: ValueOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Why an identifier belongs to its customer: the chain of links, with their evidence."""
    with connect(store, read_only=True) as p:
        why = p.identity.explain(*_identifier(email, phone, user_id, kind, value))
    if fmt is OutputFormat.json:
        print_json(why)
        return
    console.print(
        f"[bold]{why['identifier']['type']} {why['identifier']['value']}[/bold] belongs to "
        f"customer [bold]{why['customer_id']}[/bold]"
    )
    for step in why["path"]:
        evidence = step["evidence"]
        console.print(
            f"  {step['from']['type']} {step['from']['value']} → {step['to']['type']} "
            f"{step['to']['value']}   seen together on {evidence['events']} event(s), first "
            f"{evidence['source']}/{evidence['event_id']} at {cell('', evidence['first_seen'])}",
            highlight=False,
        )
    for refused in why["refused"]:
        console.print(
            f"  refused ({refused['decision']}): {refused['left_type']} {refused['left_value']}"
            f" – {refused['right_type']} {refused['right_value']}",
            highlight=False,
        )


@customers_app.command("show")
def customers_show(
    email: EmailOption = None,
    phone: PhoneOption = None,
    user_id: UserIdOption = None,
    kind: TypeOption = None,
    value: ValueOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The customer behind an identifier: all its identifiers, its events by channel, its
    traits and consents, and its standing (tier, health and why, value, segments)."""
    with connect(store, read_only=True) as p:
        view = p.customers.show(p.customers.find(*_identifier(email, phone, user_id, kind, value)))
        standing = p.scores.of(view.customer_id)
    if fmt is OutputFormat.json:
        print_json({**view.to_dict(), "standing": standing.to_dict()})
        return
    console.print(
        f"Customer [bold]{view.customer_id}[/bold]: {view.events:,} events, "
        f"{cell('', view.first_seen)} → {cell('', view.last_seen)} UTC",
        highlight=False,
    )
    print_rows(view.identifiers, fmt, title="Identifiers")
    print_rows(view.by_channel, fmt, title="By channel")
    if view.traits:
        traits = [{k: t[k] for k in ("trait", "value", "source", "rule")} for t in view.traits]
        print_rows(traits, fmt, title="Traits (surviving value, its source, the rule)")
    if view.consents:
        print_rows(view.consents, fmt, title="Consents")
    if standing.scores:
        print_rows(standing_rows(standing.scores), fmt, title="Standing (scores and why)")
    if standing.segments:
        print_rows(standing.segments, fmt, title="Segments")


def _pair(text: str) -> tuple[str, str]:
    kind, _, value = text.partition(":")
    if not kind or not value:
        raise ParcoursError(f"{text!r} is not TYPE:VALUE", "write e.g. email:jane@example.com")
    return kind, value


@identity_app.command("merge")
def identity_merge(
    left: Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. user_id:u1")],
    right: Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. user_id:u2")],
    reason: Annotated[str, typer.Option(help="Why, kept with the decision.")] = "",
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Force two identifiers into one customer, whatever the limits; survives every resolve."""
    with connect(store) as p:
        result = p.identity.merge(_pair(left), _pair(right), reason)
    _print_resolution(result, fmt)


@identity_app.command("split")
def identity_split(
    left: Annotated[str, typer.Argument(help="TYPE:VALUE that stays")],
    right: Annotated[str, typer.Argument(help="TYPE:VALUE to separate from it")],
    reason: Annotated[str, typer.Option(help="Why, kept with the decision.")] = "",
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Unmerge: never let these two identifiers be one customer again; survives every resolve."""
    with connect(store) as p:
        result = p.identity.split(_pair(left), _pair(right), reason)
    _print_resolution(result, fmt)


def _print_resolution(result: "Resolution", fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    refused = ", ".join(f"{count:,} {rule}" for rule, count in result.refused.items())
    console.print(
        f"{result.identifiers:,} identifiers → [bold]{result.customers:,} customers[/bold] through "
        f"{result.links:,} links in {result.seconds:.1f}s; refused by the rules: "
        f"{sum(result.refused.values()):,}{f' ({refused})' if refused else ''}; shared devices: "
        f"{result.shared_devices:,}",
        highlight=False,
    )


@customers_app.command("export")
def customers_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON file to write.")],
    email: EmailOption = None,
    phone: PhoneOption = None,
    user_id: UserIdOption = None,
    kind: TypeOption = None,
    value: ValueOption = None,
    store: StoreOption = None,
) -> None:
    """Right of access: everything held about the person, as one JSON file."""
    with connect(store) as p:
        held = p.customers.access(*_identifier(email, phone, user_id, kind, value))
    output.write_text(json.dumps(held, default=str, indent=2, ensure_ascii=False))
    console.print(
        f"Wrote {len(held['events']):,} events, {len(held['quarantine']):,} quarantined records "
        f"and the identity of customer {held['customer']['customer_id']} to [bold]{output}[/bold]"
    )


@customers_app.command("erase")
def customers_erase(
    reason: Annotated[str, typer.Option(help="Legal ground or ticket; kept in the privacy log.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
    email: EmailOption = None,
    phone: PhoneOption = None,
    user_id: UserIdOption = None,
    kind: TypeOption = None,
    value: ValueOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Right to erasure: remove the person everywhere; the log keeps counts, no personal data."""
    if not yes:
        raise ParcoursError(
            "Erasure removes the person's events, identity and quarantined records for good",
            "add --yes to confirm",
        )
    with connect(store) as p:
        entry = p.customers.erase(*_identifier(email, phone, user_id, kind, value), reason=reason)
    if fmt is OutputFormat.json:
        print_json(entry)
    else:
        counts = ", ".join(f"{count:,} {what}" for what, count in entry["counts"].items())
        console.print(f"Erased (request {entry['request_id']}): {counts}", highlight=False)


@identity_app.command("match")
def identity_match(
    resolve: Annotated[bool, typer.Option(help="Resolve again afterwards.")] = True,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Match person records that share no key (Splink: Fellegi–Sunter, EM-trained)."""
    with connect(store) as p:
        run = p.identity.match()
        result = p.identity.resolve() if resolve else None
    if fmt is OutputFormat.json:
        print_json({"match": run.to_dict(), "resolve": result.to_dict() if result else None})
        return
    console.print(
        f"{run.records:,} person records, {run.candidate_pairs:,} candidate pairs, "
        f"{run.matches_written:,} matches kept in {run.seconds:.1f}s"
    )
    if result:
        _print_resolution(result, fmt)
