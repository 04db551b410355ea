"""Segment membership, materialised with its history, and written as events.

`save` keeps a new version of a definition (only when it changed) and computes its members,
in one transaction: a definition the store refuses (`segments.checks`) leaves nothing behind.
`recompute` computes every segment for every customer; `refresh(store, customers)` only for
the customers a query selects — what an import and the live loader call for the customers
their new events touched. Both read the leaves' values in one pass over each source
(`segments.compile`), then evaluate the segments in dependency order, so that a segment naming
another reads its members as just written.

Each entry and exit is a `segment_changes` row (segment, customer, entered/left, version,
time) and an event: type `track`, name `Segment Entered` / `Segment Exited`, channel `other`,
source `parcours`, properties {segment, version}, so that timelines, journeys and automations
see it. Its id is derived from the change (segment, customer, change, version, time), written
in the same transaction as the change: one event per change, exactly once. The event carries
the customer's anchor (its most trusted identifier, from which `identity.resolve` derives the
customer's id) and is placed in `customer_events` as it is written, where a resolve would put
it: its one identifier belongs to that customer. So it needs no resolve (`identity.graph`
leaves source `parcours` out of the events a resolve has not seen), and a later full resolve
places it the same way. A customer who no longer exists (merged into another, erased) leaves
its segments with a change row but no event: there is no one to attach it to.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from parcours.engine import Engine
from parcours.identity.graph import PLACED_SOURCE, occurrences_query, owners_query
from parcours.identity.own_events import write_own_events
from parcours.identity.rules import identity_rules
from parcours.segments.checks import check, current_definitions, dependency_order, unknown_segment
from parcours.segments.compile import Builder
from parcours.segments.definition import DefinitionError, SegmentDefinition, parse_definition
from parcours.sql import lit
from parcours.store.store import Store

SOURCE = PLACED_SOURCE
ENTERED, EXITED = "Segment Entered", "Segment Exited"
FEATURES, SCOPE, SCOPE_EVENTS, RUN, NOW = (
    "_segment_features",
    "_segment_scope",
    "_segment_scope_events",
    "_segment_run",
    "_segment_now",
)


@dataclass(frozen=True)
class Recompute:
    """What a recompute or a refresh did; `to_dict()` is the stable JSON."""

    segments: int
    customers: int
    """Customers evaluated (all of them, or those in scope)."""
    entered: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Saved:
    """What `save` did: the version now current, whether it is new, and its members."""

    name: str
    version: int
    changed: bool
    members: int
    entered: int
    left: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def definitions(engine: Engine) -> dict[str, tuple[SegmentDefinition, int]]:
    """Every current segment: {name: (definition, version)}."""
    return {
        name: (parse_definition(orjson.loads(row["definition"]), origin=name), row["version"])
        for name, row in current_definitions(engine).items()
    }


def save(store: Store, definition: SegmentDefinition) -> Saved:
    """Check `definition` against the store, keep it as a new version if it changed, and
    compute its members (and those of the segments that name it), in one transaction."""
    engine = store.engine
    saved = definitions(engine)
    dependencies = {name: d.segments_named() for name, (d, _) in saved.items()}
    check(engine, definition, dependencies)
    Builder(identity_rules(store.settings)).compile(definition)  # comparators typed right
    current = saved.get(definition.name)
    changed = current is None or current[0].to_json_dict() != definition.to_json_dict()
    last = engine.scalar("SELECT max(version) FROM segments WHERE name = ?", [definition.name])
    version = current[1] if current is not None and not changed else (last or 0) + 1
    saved[definition.name] = (definition, version)
    dependencies[definition.name] = definition.segments_named()
    affected = _dependents(definition.name, dependencies)
    with engine.transaction():
        if changed:
            engine.execute(
                "INSERT INTO segments VALUES (?, ?, ?, ?, now(), NULL)",
                [
                    definition.name,
                    version,
                    orjson.dumps(definition.to_json_dict()).decode(),
                    definition.description,
                ],
            )
        done = _apply(store, {n: saved[n] for n in affected}, None)
    members = engine.scalar(
        "SELECT count(*) FROM segment_members WHERE segment = ?", [definition.name]
    )
    return Saved(
        definition.name,
        version,
        changed,
        members,
        done.entered.get(definition.name, 0),
        done.left.get(definition.name, 0),
    )


def recompute(store: Store, names: list[str] | None = None) -> Recompute:
    """Compute the members of every segment (or of `names` and those naming them) for every
    customer, writing entries and exits."""
    saved = definitions(store.engine)
    if names is not None:
        dependencies = {name: d.segments_named() for name, (d, _) in saved.items()}
        wanted: set[str] = set()
        for name in names:
            if name not in saved:
                raise unknown_segment(name, list(saved))
            wanted |= set(_dependents(name, dependencies))
        saved = {n: saved[n] for n in wanted}
    with store.engine.transaction():
        return _apply(store, saved, None)


def refresh(store: Store, customers: str, *, events: str | None = None) -> Recompute:
    """Bring every segment up to date for the customers `customers` (SQL selecting
    `customer_id`) selects: what imports and the live loader call after a resolve. `events`
    names a table holding their events already (every column), if the caller made one."""
    engine = store.engine
    if not any_saved(engine):
        return Recompute(0, 0)
    saved = definitions(engine)
    if not saved:
        return Recompute(0, 0)
    with engine.transaction():
        return _apply(store, saved, customers, events)


def any_saved(engine: Engine) -> bool:
    """Whether any segment is saved (and not retired): a refresh has nothing to do without."""
    return bool(engine.scalar("SELECT count(*) FROM segments WHERE retired_at IS NULL"))


def touched_customers(store: Store, events_where: str) -> str:
    """SQL selecting the customers whose segments a refresh must update after new events
    (`events_where`: a condition over `events` selecting them, after their resolve): the
    customers of the identifiers on those events — every customer they joined, merged
    or not — and members of segments who no longer exist (merged away by that resolve)."""
    rules = identity_rules(store.settings)
    new = f"(SELECT * FROM events WHERE ({events_where}) AND source <> {lit(SOURCE)})"
    identifiers = f"({occurrences_query(rules, new)})"
    return (
        f"{owners_query(identifiers)} UNION SELECT customer_id FROM segment_members "
        "WHERE customer_id NOT IN (SELECT customer_id FROM identity_map)"
    )


def retire(store: Store, name: str) -> int:
    """Retire a segment: its members leave (with their changes and events), its versions
    and history are kept. Refused while another segment names it. Returns how many left."""
    engine = store.engine
    saved = definitions(engine)
    if name not in saved:
        raise unknown_segment(name, list(saved))
    naming = sorted(n for n, (d, _) in saved.items() if name in d.segments_named() and n != name)
    if naming:
        raise DefinitionError(
            f"Segment {name!r} is named by {', '.join(naming)}",
            f"change or delete {', '.join(naming)} first",
            where=f"segment {name}",
        )
    at = dt.datetime.now(dt.UTC)
    with engine.transaction():
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {RUN} AS {_run_rows('NULL', 'NULL')}")
        left = engine.write(
            f"INSERT INTO {RUN} SELECT segment, customer_id, 'left', ? FROM segment_members "
            "WHERE segment = ?",
            [saved[name][1], name],
        )
        engine.execute("DELETE FROM segment_members WHERE segment = ?", [name])
        engine.execute(
            "UPDATE segments SET retired_at = ? WHERE name = ? AND retired_at IS NULL", [at, name]
        )
        _record(store, at)
    return left


def _dependents(name: str, dependencies: dict[str, set[str]]) -> list[str]:
    """`name` and every segment naming it (through others), in dependency order."""
    found = {name}
    grew = True
    while grew:
        grew = False
        for other, named in dependencies.items():
            if other not in found and named & found:
                found.add(other)
                grew = True
    return [n for n in dependency_order(dependencies) if n in found]


def _run_rows(segment: str, version: str) -> str:
    return (
        f"SELECT {segment}::VARCHAR AS segment, NULL::VARCHAR AS customer_id, "
        f"NULL::VARCHAR AS change, {version}::INTEGER AS version WHERE false"
    )


def _apply(
    store: Store,
    saved: dict[str, tuple[SegmentDefinition, int]],
    customers: str | None,
    events: str | None = None,
) -> Recompute:
    """Evaluate `saved` for the customers in scope (all when `customers` is None) and write
    the entries and exits. Runs inside the caller's transaction.

    The definitions are compiled in dependency order over one features table, each naming
    another of the batch evaluating its boolean (`Builder.compile(inline=True)`): every
    segment's members come out of one statement, and the differences with the members
    before are written for all segments at once."""
    started = dt.datetime.now(dt.UTC)
    engine = store.engine
    if not saved:
        return Recompute(0, 0)
    builder = Builder(identity_rules(store.settings))
    order = dependency_order({n: d.segments_named() for n, (d, _) in saved.items()})
    compiled = [builder.compile(saved[name][0], inline=True) for name in order]
    scope = None
    if customers is not None:
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {SCOPE} AS SELECT DISTINCT customer_id "
            f"FROM ({customers}) WHERE customer_id IS NOT NULL"
        )
        scope = f"SELECT customer_id FROM {SCOPE}"
        if events is None:  # the scope's events read once, not once per source
            events = SCOPE_EVENTS
            store.engine.copy_rows(events, "customer_events", f"customer_id IN ({scope})")
        builder.events = events
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {FEATURES} AS {builder.features_query(scope)}")
    versions = ", ".join(f"({lit(name)}, {saved[name][1]})" for name in order)
    now = " UNION ALL ".join(
        f"SELECT {lit(c.name)} AS segment, customer_id FROM {FEATURES} WHERE {c.member_sql}"
        for c in compiled
    )
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {NOW} AS SELECT segment, customer_id, version "
        f"FROM ({now}) JOIN (VALUES {versions}) v(segment, version) USING (segment)"
    )
    in_scope = f" AND customer_id IN ({scope})" if scope else ""
    was = (
        "SELECT m.segment, m.customer_id, v.version FROM segment_members m "
        f"JOIN (VALUES {versions}) v(segment, version) USING (segment) WHERE true{in_scope}"
    )
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {RUN} AS "
        f"SELECT segment, customer_id, 'entered' AS change, version FROM {NOW} "
        f"WHERE (segment, customer_id) NOT IN (SELECT segment, customer_id FROM ({was})) "
        f"UNION ALL SELECT segment, customer_id, 'left', version FROM ({was}) "
        f"WHERE (segment, customer_id) NOT IN (SELECT segment, customer_id FROM {NOW})"
    )
    counts = engine.query(f"SELECT segment, change, count(*) AS n FROM {RUN} GROUP BY ALL")
    moved = {(r["segment"], r["change"]): r["n"] for r in counts.to_pylist()}
    if moved:
        engine.execute(
            "DELETE FROM segment_members WHERE (segment, customer_id) IN "
            f"(SELECT segment, customer_id FROM {RUN} WHERE change = 'left')"
        )
        engine.execute(
            f"INSERT INTO segment_members SELECT segment, customer_id, version, now() "
            f"FROM {RUN} WHERE change = 'entered'"
        )
    _record(store, started)
    customers_seen = engine.scalar(f"SELECT count(*) FROM {FEATURES}")
    for table in (FEATURES, SCOPE, SCOPE_EVENTS, NOW):
        engine.execute(f"DROP TABLE IF EXISTS {table}")
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return Recompute(
        len(saved),
        customers_seen,
        {name: moved.get((name, "entered"), 0) for name in order},
        {name: moved.get((name, "left"), 0) for name in order},
        round(seconds, 3),
    )


def _record(store: Store, at: dt.datetime) -> None:
    """The run's changes (`_segment_run`) into `segment_changes`, and an event each."""
    engine = store.engine
    if not engine.scalar(f"SELECT count(*) FROM {RUN}"):
        engine.execute(f"DROP TABLE {RUN}")
        return
    when = f"{lit(at.isoformat())}::TIMESTAMPTZ"
    engine.execute(
        f"INSERT INTO segment_changes SELECT segment, customer_id, change, version, {when} "
        f"FROM {RUN}"
    )
    write_own_events(
        store,
        f"""SELECT customer_id,
                   'segment-' || md5(segment || '|' || customer_id || '|' || change || '|'
                                     || version || '|' || epoch_us({when})) AS event_id,
                   'track' AS type,
                   CASE change WHEN 'entered' THEN {lit(ENTERED)} ELSE {lit(EXITED)} END
                       AS name,
                   'other' AS channel, {when} AS occurred_at, {when} AS received_at,
                   json_object('segment', segment, 'version', version) AS properties
            FROM {RUN}""",
        import_id="segments",
    )
    engine.execute(f"DROP TABLE {RUN}")
