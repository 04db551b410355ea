"""`parcours journeys ...`: thin commands over `journeys`, one per analysis.

Every command takes the same filters (time range, channels, a segment as SQL, event
properties, a free expression), prints a table, JSON or CSV, and with `--chart FILE.html`
draws the result too.

The options they share, and the analyses' defaults they show, are in `journey_options`.
"""

from typing import Annotated, Any

import typer

from parcours.cli.journey_options import (
    CHURN_DAYS,
    GAP,
    HALF_LIFE,
    LOOKBACK,
    MAX_DEPTH,
    TOP_VARIANTS,
    ChannelOption,
    ChartOption,
    PropertyOption,
    SegmentOption,
    SinceOption,
    TouchpointOption,
    UntilOption,
    WhereOption,
    connect,
    draw,
    scope_of,
    warned,
)
from parcours.cli.output import (
    FormatOption,
    OutputFormat,
    StoreOption,
    console,
    duration,
    percent,
    print_json,
    print_record,
    print_rows,
)

journeys_app = typer.Typer(
    help="The whole journey across channels: visits, funnels, paths, switches, repeats."
)


@journeys_app.command("visits")
def visits_command(
    conversion: Annotated[
        str, typer.Argument(help="The conversion event, e.g. 'Order Completed'.")
    ],
    gap: Annotated[str, typer.Option(help="Inactivity that ends a visit.")] = GAP,
    max_visit: Annotated[int, typer.Option(help="Fold later visits into this number.")] = 20,
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Conversion by visit number: which visit converts, and the channel mix of each."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        result = p.journeys.visits(conversion, scope, gap=gap, max_visit=max_visit)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    elif fmt is OutputFormat.csv:
        print_rows(
            [
                {
                    **{k: v for k, v in r.items() if k != "converting_channel_mix"},
                    "channel_mix": _mix(r["channel_mix"], top=None),
                }
                for r in result.by_visit
            ],
            fmt,
        )
    else:
        # The visits of number k are the customers who made k visits: one column says both.
        print_rows(
            [
                {
                    "visit": r["visit_number"],
                    "customers": r["customers"],
                    "converting_visits": r["converting_visits"],
                    "visit_conversion_rate": r["visit_conversion_rate"],
                    "first_conversions": r["first_conversions"],
                    "share_of_converters": r["share_of_converters"],
                    "channel_mix": _mix(r["channel_mix"]),
                }
                for r in result.by_visit
            ],
            fmt,
            title=f"{result.customers:,} customers, {result.converters:,} converted ({conversion})",
        )
    draw(result, chart)


def _mix(mix: dict[str, Any], top: int | None = 3) -> str:
    """The largest shares of a mix (counts or shares), e.g. "web 78%, app 14%, store 5%"."""
    total = sum(mix.values()) or 1
    ranked = sorted(mix.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v / total:.0%}" for k, v in ranked[:top])


@journeys_app.command("funnel")
def funnel_command(
    steps: Annotated[
        list[str],
        typer.Argument(
            help="Steps in order: 'Product Viewed', 'web:Cart', 'call:*'; '?' ends an optional one."
        ),
    ],
    window: Annotated[str, typer.Option(help="Conversion window from step 1.")] = "7d",
    order: Annotated[str, typer.Option(help="ordered, strict or any.")] = "ordered",
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="EVENT@A-B: doing EVENT between steps A and B breaks the chain."),
    ] = None,
    breakdown: Annotated[
        str | None, typer.Option(help="channel, source, intent... or properties.KEY.")
    ] = None,
    attribution: Annotated[str, typer.Option(help="first, last or step (for breakdowns).")] = (
        "first"
    ),
    customers_at: Annotated[
        int | None, typer.Option("--customers-at", help="List the customers who reached step N.")
    ] = None,
    dropped_at: Annotated[
        int | None, typer.Option("--dropped-at", help="List those who left before step N.")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """A funnel: customers at each step, conversion, the leaks and time to convert."""
    from parcours.journeys import funnel

    scope = scope_of(since, until, channel, customers, prop, where)
    exclusions = [funnel.Exclusion.parse(text) for text in exclude or []]
    listed = customers_at if customers_at is not None else dropped_at
    with connect(store, scope) as p, warned():
        result = p.journeys.funnel(
            list(steps),
            scope,
            window=window,
            order=order,
            exclusions=exclusions,
            breakdown=breakdown,
            attribution=attribution,
        )
        # The customers are read from the store: while it is open.
        ids = None if listed is None else result.customers_at(listed, dropped=customers_at is None)
    if ids is not None:
        print_rows([{"customer_id": i} for i in ids], fmt)
        return
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    elif fmt is OutputFormat.csv:
        print_rows(result.steps, fmt)
    else:
        _print_funnel_steps(result.steps)
        if result.breakdown:
            print_rows(result.breakdown, fmt, title=f"By {breakdown} ({attribution} touch)")
    draw(result, chart)


def _print_funnel_steps(steps: list[dict[str, Any]]) -> None:
    """The steps as a table; the time to convert, which only the last step has, below it."""
    timing = ("median_seconds_to_convert", "p90_seconds_to_convert")
    print_rows(
        [{k: v for k, v in step.items() if k not in timing} for step in steps],
        OutputFormat.table,
        title=f"{steps[0]['customers']:,} customers at step 1",
    )
    last = steps[-1]
    if last.get(timing[0]) is not None:
        console.print(
            f"Time to convert: median {duration(last[timing[0]])}, "
            f"90% within {duration(last[timing[1]])}",
            highlight=False,
        )


@journeys_app.command("map")
def map_command(
    touchpoint: TouchpointOption = "name",
    case: Annotated[str, typer.Option(help="customer (whole journeys) or visit.")] = "customer",
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The journey map: which touchpoint follows which, how often, and how long between."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        result = p.journeys.map(scope, touchpoint=touchpoint, case=case)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    else:
        print_rows(result.edges, fmt, title=f"{result.journeys:,} journeys: a → b")
    draw(result, chart)


@journeys_app.command("variants")
def variants_command(
    top: Annotated[int, typer.Option(help="How many variants; the rest are summed.")] = 20,
    touchpoint: TouchpointOption = "name",
    case: Annotated[str, typer.Option(help="customer (whole journeys) or visit.")] = "customer",
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The most frequent whole journeys and their share."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        rows = p.journeys.variants(scope, touchpoint=touchpoint, case=case, top=top)
    if fmt is not OutputFormat.json:
        rows = [
            {**r, "variant": " → ".join(r["variant"]) if r["variant"] else "(others)"} for r in rows
        ]
    print_rows(rows, fmt, title="Journeys, most frequent first")


@journeys_app.command("paths")
def paths_command(
    anchor: Annotated[str, typer.Argument(help="The touchpoint paths start from (or end at).")],
    to: Annotated[bool, typer.Option("--to", help="Paths leading to the anchor.")] = False,
    depth: Annotated[int, typer.Option(help=f"Steps, 1 to {MAX_DEPTH}.")] = 5,
    top: Annotated[int, typer.Option(help="Touchpoints kept per step; the rest: other.")] = 8,
    touchpoint: TouchpointOption = "name",
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """What customers did after (or before) a touchpoint, step by step."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        result = p.journeys.paths(
            anchor,
            scope,
            direction="to" if to else "from",
            depth=depth,
            top=top,
            touchpoint=touchpoint,
        )
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    else:
        print_rows(result.nodes, fmt, title=f"{result.customers:,} customers did {anchor}")
    draw(result, chart)


@journeys_app.command("switches")
def switches_command(
    window: Annotated[str, typer.Option(help="Contacts this close make one case.")] = "7d",
    churn_days: Annotated[
        int, typer.Option(help="Silent this long at the end: churned.")
    ] = CHURN_DAYS,
    detail: Annotated[bool, typer.Option(help="Every switch, one row each.")] = False,
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Channel switching within cases, and what followed each switch."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        if detail:
            rows = p.journeys.switch_list(scope, window=window, churn_days=churn_days)
            print_rows(rows, fmt, title="Channel switches")
            return
        result = p.journeys.switches(scope, window=window, churn_days=churn_days)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    else:
        print_rows(result.matrix, fmt, title="Consecutive contacts of a case")
        print_rows(result.by_switch, fmt, title="Switches, costliest first")
    draw(result, chart)


@journeys_app.command("repeats")
def repeats_command(
    window: Annotated[str, typer.Option(help="Contacts this close make one case.")] = "7d",
    list_cases: Annotated[
        bool, typer.Option("--list", help="The cases where customers had to repeat themselves.")
    ] = False,
    limit: Annotated[int, typer.Option(help="How many cases --list shows.")] = 100,
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Repeat contacts, first-contact resolution, time to resolution and customer effort."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        if list_cases:
            rows = p.journeys.repeaters(scope, window=window, limit=limit)
            if fmt is not OutputFormat.json:
                rows = [
                    {
                        **{k: v for k, v in r.items() if k != "history"},
                        "channels": " → ".join(r["channels"]),
                    }
                    for r in rows
                ]
            print_rows(rows, fmt, title="Customers who had to repeat themselves")
            return
        result = p.journeys.repeats(scope, window=window)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    else:
        summary = {k: v for k, v in result.to_dict().items() if not k.startswith("by_")}
        print_record(summary, fmt, title="Contacts and cases")
        print_rows(result.by_intent, fmt, title="By intent")
        print_rows(result.by_channel, fmt, title="By channel")
    draw(result, chart)


@journeys_app.command("attribution")
def attribution_command(
    conversion: Annotated[str, typer.Option(help="The conversion event.")] = "Order Completed",
    touchpoint: TouchpointOption = "channel",
    lookback: Annotated[str, typer.Option(help="Touches this long before count.")] = LOOKBACK,
    half_life: Annotated[str, typer.Option(help="Time decay's half-life.")] = HALF_LIFE,
    budget: Annotated[float, typer.Option(help="The budget to split by credit.")] = 100.0,
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Which touchpoints earn the conversions: first, last, linear, position, time decay,
    exact Markov and Shapley credit side by side, and the budget each would give."""
    from parcours.journeys import attribution

    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        result = p.journeys.attribution(
            conversion,
            scope,
            touchpoint=touchpoint,
            lookback=lookback,
            half_life=half_life,
            budget=budget,
        )
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    else:
        models = attribution.MODELS
        print_rows(
            [
                {"touchpoint": r["touchpoint"], **{m: r[m] for m in models}}
                for r in result.by_touchpoint
            ],
            fmt,
            title=f"{result.conversions:,} conversions ({conversion}): credit by model",
        )
        print_rows(
            [
                {"touchpoint": r["touchpoint"], **{m: r[f"{m}_budget"] for m in models}}
                for r in result.by_touchpoint
            ],
            fmt,
            title=f"A budget of {budget:g} split by each model",
        )
    draw(result, chart)


@journeys_app.command("touchpoints")
def touchpoints_command(
    conversion: Annotated[str, typer.Option(help="The conversion event.")] = "Order Completed",
    touchpoint: TouchpointOption = "channel:name",
    window: Annotated[str, typer.Option(help="Conversion counted this long after.")] = "30d",
    churn_days: Annotated[
        int, typer.Option(help="Silent this long at the end: churned.")
    ] = CHURN_DAYS,
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Each touchpoint's reach, what follows it, and the moments of truth."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        result = p.journeys.touchpoints(
            scope,
            conversion=conversion,
            touchpoint=touchpoint,
            window=window,
            churn_days=churn_days,
        )
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    print_rows(
        result.moments_of_truth,
        fmt,
        title=f"Moments of truth ({result.customers:,} customers, conversion "
        f"{percent(result.conversion_rate)}, churn {percent(result.churn_rate)})",
    )
    print_rows(result.touchpoints, fmt, title="Every touchpoint")


@journeys_app.command("agents")
def agents_command(
    window: Annotated[str, typer.Option(help="Contacts this close make one case.")] = "7d",
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Each agent and team: contacts, first-contact resolution, repeats caused, handle time."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        result = p.journeys.agents(scope, window=window)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    else:
        print_rows(result.teams, fmt, title="Teams")
        print_rows(result.agents, fmt, title="Agents")
    draw(result, chart)


@journeys_app.command("cohorts")
def cohorts_command(
    by: Annotated[str, typer.Option(help="month (first seen) or channel (acquisition).")] = (
        "month"
    ),
    conversion: Annotated[str, typer.Option(help="The purchase event.")] = "Order Completed",
    months: Annotated[int, typer.Option(help="Months since first seen to follow.")] = 12,
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Retention and repeat purchase by first-seen month or acquisition channel."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        result = p.journeys.cohorts(scope, by=by, conversion=conversion, months=months)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    else:
        print_rows(result.cohorts, fmt, title=f"Cohorts by {by}")
    draw(result, chart)


@journeys_app.command("typical")
def typical_command(
    clusters: Annotated[
        int | None,
        typer.Option("--clusters", "-k", help="How many (default: chosen by silhouette, 2-8)."),
    ] = None,
    conversion: Annotated[str, typer.Option(help="The conversion event.")] = "Order Completed",
    top: Annotated[
        int, typer.Option(help="Cluster the most frequent journeys; the rest join the nearest.")
    ] = TOP_VARIANTS,
    seed: Annotated[int, typer.Option(help="Seed of the k-medoids restarts.")] = 0,
    members: Annotated[
        int | None, typer.Option("--list", help="The customers following typical journey N.")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    channel: ChannelOption = None,
    customers: SegmentOption = None,
    prop: PropertyOption = None,
    where: WhereOption = None,
    chart: ChartOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Typical journeys: whole journeys grouped by their order and mix of steps (k-medoids), each
    named by its characteristic sub-paths, with its share, conversion, effort and customers."""
    scope = scope_of(since, until, channel, customers, prop, where)
    with connect(store, scope) as p:
        result = p.journeys.typical(
            scope, clusters=clusters, conversion=conversion, top=top, seed=seed
        )
    if members is not None:
        rows = [{"customer_id": c} for c in result.customers_in(members)]
        print_rows(rows, fmt, title=f"Customers following typical journey {members}")
        return
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
    else:
        print_rows(
            [
                {
                    "#": t["cluster"],
                    "name": t["name"],
                    "customers": t["customers"],
                    "share": t["share"],
                    "conversion_rate": t["conversion_rate"],
                    "effort": t["mean_effort"],
                    "tenure (days)": t["profile"]["median_tenure_days"],
                    "value": t["profile"]["mean_value"],
                    "channels": _mix(t["channel_mix"]),
                }
                for t in result.typical
            ],
            fmt,
            title=f"{result.clusters} typical journeys of {result.customers:,} customers",
        )
    draw(result, chart)
