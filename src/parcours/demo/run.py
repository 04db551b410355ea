"""`parcours demo`: build the world, import its exports through the real import path, and say
what was found against the world's recorded truth.

Later capabilities extend `run_demo` with their own findings (identity, journeys...).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.cli.output import (
    OutputFormat,
    console,
    errors,
    print_rows,
    progress_bar,
    steps_bar,
)
from parcours.client import connect
from parcours.collect.ledger import ImportSummary
from parcours.demo.automations import copy_store, run_automations
from parcours.demo.world import DemoWorld, generate_world
from parcours.identity.accuracy import pairwise_scores
from parcours.identity.probabilistic import match_people
from parcours.identity.resolve import resolve_full
from parcours.sql import lit

if TYPE_CHECKING:
    from parcours.journeys.report import Report


@dataclass
class SourceCheck:
    """One export: what the truth expects and what the store holds."""

    source: str
    file: str
    records: int
    expected_events: int
    stored_events: int
    planted_bad: dict[str, int]
    quarantined: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.expected_events == self.stored_events and self.planted_bad == self.quarantined


@dataclass
class DemoReport:
    store: str
    out_dir: str
    customers: int
    seed: int
    seconds: float
    events: int = 0
    sources: list[SourceCheck] = field(default_factory=list)
    by_channel: list[dict[str, Any]] = field(default_factory=list)
    identifiers: list[dict[str, Any]] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    """The probabilistic matching run, the customers resolved, pairwise precision/recall against
    the truth's identifiers, recall within its evidence groups, and the best recall possible."""
    scores: dict[str, Any] = field(default_factory=dict)
    """Every score and segment recomputed (seconds per step, what was skipped and why), and
    the health back-test: learned model, rules and recency, out of time."""
    automations: dict[str, Any] = field(default_factory=dict)
    """The welcome and inactivity automations run over the world's last two months in
    simulated time, on a copy of the store (demo/automations.py): the mail they sent, the
    orders the welcome brought, the customers anonymised, each one's funnel and uplift."""
    report: str = ""
    """The journey report written at the end (HTML)."""
    findings: list[str] = field(default_factory=list)
    """Its headline findings."""

    @property
    def matches_truth(self) -> bool:
        return all(s.ok for s in self.sources) and all(
            c["stored"] == c["expected"] for c in self.by_channel
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "sources": [{**asdict(s), "ok": s.ok} for s in self.sources],
            "matches_truth": self.matches_truth,
        }


def run_demo(store: Path, out_dir: Path, *, customers: int, seed: int) -> DemoReport:
    """Generate the world into `out_dir`, import it into `store`, check it against the truth."""
    started = time.perf_counter()
    if store.parent == out_dir:
        # The demo's own store is rebuilt from scratch; a store given elsewhere is imported into.
        for stale in (store, store.with_name(store.name + ".wal")):
            stale.unlink(missing_ok=True)
    with progress_bar(f"Generating {customers:,} customers", in_bytes=False) as update:
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            update(done, customers)

        world = generate_world(out_dir, customers=customers, seed=seed, progress=advance)
    summaries = _import_world(store, world)
    report = _check(store, world, summaries)
    report.identity = _resolve(store, world)
    # The automations act on a copy of the store, in a thread of their own while the scores
    # and the report's analyses are computed (two stores: the work of one does not wait for
    # the other's).
    copy = copy_store(store, out_dir)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-automations") as pool:
        automations = pool.submit(run_automations, copy, out_dir, world.truth_dir)
        report.scores = _score(store)
        built = _journey_report(store)
        with errors.status("Automations: September and October in simulated time"):
            report.automations = automations.result().to_dict()
    report.report, report.findings = _write_report(built, copy, out_dir)
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def _journey_report(store: Path) -> Report:
    """The journey report of the world, with the sections of segments and scores."""
    from parcours.journeys.report import build_report

    with connect(store, read_only=True) as p:
        built = build_report(p.store)
        standing = p.scores.report_sections()
    built.sections += standing.sections
    built.findings += standing.findings
    return built


def _write_report(built: Report, automated: Path, out_dir: Path) -> tuple[str, list[str]]:
    """The report, beside the world's exports, with the sections of the automations run on
    the copy `automated`; its headline findings."""
    from parcours.automations.report import automation_sections
    from parcours.journeys.report import write_report

    with connect(automated, read_only=True) as p:
        automations = automation_sections(p.store)
    built.sections += automations.sections
    built.findings += automations.findings
    path = write_report(built, out_dir / "report.html")
    return str(path), built.findings


def _score(store: Path) -> dict[str, Any]:
    """Every score, then every segment; and the health back-test's headline."""
    from parcours.segments.recompute import STEPS

    with connect(store) as p, steps_bar("Scoring customers", STEPS) as starting:
        run = p.scores.recompute(progress=starting)
        backtest = p.scores.health_backtest()
    return {**run.to_dict(), "backtest": backtest.to_dict()}


def _import_world(store: Path, world: DemoWorld) -> dict[str, ImportSummary]:
    summaries = {}
    with connect(store) as p:
        for export in world.exports:
            with progress_bar(f"Importing {export.path.name}", in_bytes=True) as update:
                summaries[export.source] = p.import_file(
                    export.path, source=export.source, mapping=export.mapping, progress=update
                )
    return summaries


def _check(store: Path, world: DemoWorld, summaries: dict[str, ImportSummary]) -> DemoReport:
    expected = json.loads((world.truth_dir / "expected.json").read_text())
    report = DemoReport(str(store), str(world.truth_dir.parent), world.customers, world.seed, 0.0)
    with connect(store, read_only=True) as p:
        figures = p.stats()
        stored_by_source = {r["source"]: r["events"] for r in figures["by_source"]}
        stored_by_channel = {r["channel"]: r["events"] for r in figures["by_channel"]}
    report.events = figures["totals"]["events"]
    report.identifiers = figures["identifiers"]
    for export in world.exports:
        summary = summaries[export.source]
        report.sources.append(
            SourceCheck(
                source=export.source,
                file=str(export.path),
                records=export.records,
                expected_events=expected["events_by_source"][export.source],
                stored_events=stored_by_source.get(export.source, 0),
                planted_bad=dict(sorted(export.planted_bad.items())),
                quarantined=dict(sorted(summary.quarantined.items())),
            )
        )
    report.by_channel = [
        {"channel": channel, "expected": count, "stored": stored_by_channel.get(channel, 0)}
        for channel, count in sorted(expected["events_by_channel"].items(), key=lambda kv: -kv[1])
    ]
    return report


def _resolve(store: Path, world: DemoWorld) -> dict[str, Any]:
    """Match person records, resolve identities, then score the customers against the world's
    truth: precision and recall over every identifier of every customer, and recall over the
    pairs the exports give evidence for (identifiers of one evidence group, see
    demo/evidence.py): what a system can attain without guessing."""
    truth = f"read_csv({lit(str(world.truth_dir / 'identifiers.csv'))}, all_varchar = true)"
    with connect(store) as p:
        matching = match_people(p.store)
        resolution = resolve_full(p.store)
        scores = pairwise_scores(
            p.store.engine, f"SELECT type, value, customer_id AS true_id FROM {truth}"
        )
        attainable = pairwise_scores(
            p.store.engine,
            f"SELECT type, value, customer_id || '/' || evidence_group AS true_id FROM {truth}",
        )
        ceiling = p.sql(_ceiling_query(truth)).to_pylist()[0]
        # A customer worth opening next: the one seen on the most channels.
        example = (
            p.sql(
                "SELECT m.value FROM identity_map m JOIN (SELECT customer_id, count(DISTINCT type) "
                "AS kinds FROM identity_map GROUP BY ALL) c USING (customer_id) "
                "WHERE m.type = 'email' ORDER BY c.kinds DESC, m.value LIMIT 1"
            )
            .column(0)
            .to_pylist()
        )
    return {
        **resolution.to_dict(),
        **scores.to_dict(),
        "attainable_recall": attainable.recall,
        **ceiling,
        "matching": matching.to_dict(),
        "example_email": (example or [None])[0],
    }


def _ceiling_query(truth: str) -> str:
    """How many identifiers no record links to anything (alone in their evidence group), and
    the recall over every identifier that the evidence allows: the share of true pairs within
    evidence groups."""
    return f"""
        WITH groups AS (
            SELECT customer_id, count(*) AS n FROM {truth} GROUP BY customer_id, evidence_group
        ),
        customers AS (SELECT count(*) AS n FROM {truth} GROUP BY customer_id)
        SELECT (SELECT count(*) FROM groups WHERE n = 1) AS unlinkable_identifiers,
               round((SELECT sum(n * (n - 1) / 2) FROM groups)
                     / (SELECT sum(n * (n - 1) / 2) FROM customers), 4) AS recall_ceiling
    """


def print_demo_report(report: DemoReport) -> None:
    """The demo's ending: what it built, whether it matches the truth, where to look next."""
    print_rows(
        [
            {
                "source": s.source,
                "records": s.records,
                "stored": s.stored_events,
                "expected": s.expected_events,
                "quarantined": ", ".join(f"{n} {code}" for code, n in s.quarantined.items()) or "–",
                "as planted": "yes" if s.ok else "NO",
            }
            for s in report.sources
        ],
        OutputFormat.table,
        title="Imported through the shipped mappings",
    )
    print_rows(
        report.by_channel,
        OutputFormat.table,
        title="Events by channel (stored vs the world's truth)",
    )
    verdict = (
        "[green]matches the world's truth[/green]"
        if report.matches_truth
        else "[red]does NOT match the world's truth[/red]"
    )
    identity = report.identity
    extra = identity["customers"] - report.customers
    # As the user ran it (`.venv/bin/parcours` from the Makefile), so the hints can be pasted.
    command = sys.argv[0] if sys.argv[0].endswith("parcours") else "parcours"
    matching = identity["matching"]
    console.print(
        f"\nIdentity: {identity['identifiers']:,} identifiers resolved into "
        f"[bold]{identity['customers']:,} customers[/bold] ({extra:+,} against the "
        f"{report.customers:,} real ones), with probabilistic matching of "
        f"{matching['records']:,} person records (CRM rows, named receipts, verified callers) "
        f"in {matching['seconds']:.1f}s. Pairwise precision {identity['precision']:.3f}; recall "
        f"{identity['attainable_recall']:.3f} of the pairs the exports give evidence for, "
        f"{identity['recall']:.3f} of all pairs ({identity['recall_ceiling']:.3f} is what that "
        f"evidence allows: {identity['unlinkable_identifiers']:,} identifiers, such as cookies "
        "of visitors who never signed in, are on no record with anything else)."
    )
    scores = report.scores
    skipped = "".join(f"; {step} skipped: {why}" for step, why in scores["skipped"].items())
    console.print(
        f"\nScores: tiers, RFM, lifetime value, health, personas, the onboarding milestone and "
        f"typical journeys for every customer in {scores['total_seconds']:.1f}s{skipped}.\n"
        f"{scores['backtest']['headline']}",
        highlight=False,
        markup=False,
    )
    _print_automations(report)
    console.print("\nWhat the report shows:")
    for finding in report.findings:
        console.print(f"  • {finding}", highlight=False)
    console.print(
        f"\n[bold]{report.events:,} events[/bold] from {report.customers:,} customers in "
        f"{report.seconds:.1f}s; the store {verdict}: every good record stored once, every "
        "planted bad record quarantined with its reason.\n"
        f"  Store:   {report.store}\n"
        f"  Exports: {report.out_dir}/exports   Truth: {report.out_dir}/truth\n"
        f"  Report:  {report.report}   (open it in a browser: it works offline)\n"
        f"  Next:    {command} stats --store {report.store}\n"
        f"           {command} quarantine list --store {report.store}\n"
        f"           {command} customers show --email {identity['example_email']} "
        f"--store {report.store}\n"
        f"           {command} journeys funnel 'Product Viewed' 'Order Completed' "
        f"--store {report.store}\n"
        f"           {command} scores backtest --store {report.store}\n"
        f"           {command} automations uplift welcome --store {report.automations['store']}"
    )


def _print_automations(report: DemoReport) -> None:
    """What the welcome and inactivity automations did, against the world's truth."""
    run = report.automations
    expected = json.loads(
        (Path(report.out_dir) / "truth" / "expected.json").read_text(encoding="utf-8")
    )["automations"]
    welcome, inactivity = run["uplift"]["welcome"], run["uplift"]["inactivity"]
    console.print(
        f"\nAutomations: welcome and inactivity, {run['start'][:10]} to {run['end'][:10]} in "
        f"simulated time ({run['ticks']} mornings) in {run['seconds']:.1f}s, on a copy of the "
        f"store ({run['store']}): {run['emails']:,} emails into an SMTP server on loopback. "
        f"Welcome: {welcome['entered']:,} sign-ups entered ({expected['welcome']['signups']:,} "
        f"in the truth), {welcome['holdout']['entries']:,} held out; "
        f"{run['responses']:,} orders its emails brought. Inactivity: "
        f"{run['anonymised']:,} customers anonymised, {inactivity['entered']:,} reminded "
        f"({expected['inactivity']['stays_inactive']:,} customers of the world stayed "
        "inactive; customers identity could not join whole are counted once per part).",
        highlight=False,
        markup=False,
    )
