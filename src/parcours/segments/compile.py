"""Segment definitions as SQL: one column per leaf condition per customer, and the boolean.

Pure builders, no I/O. `features_query(leaves...)` answers one row per customer in scope with
a column `l<k>` per leaf (a count, a sum, a time, a trait's value, a score...), reading each
source once for all the leaves that need it: one grouped scan of `customer_events` for every
event aggregate of every segment, one of `identity_map` for the identifiers held, one per
trait (by its survivorship rule, as `identity.profile` chooses), per score, per journey window.
`Compiled.member_sql` is the segment's boolean over those columns; `held_sql` each leaf's.
A leaf naming another segment reads `segment_members` when the boolean is evaluated, so the
segments it depends on are written first (`segments.membership`).

Every name and value from a definition is quoted by `parcours.sql.ident/lit`; numbers are
written from Python floats. A customer with no value for a leaf (no such event, no trait)
holds no comparator, except that a count or a sum of nothing is 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from parcours.identity.profile import CONSENT_GIVEN, CONSENT_WITHDRAWN
from parcours.identity.rules import IdentityRules
from parcours.journeys.contacts import EffortWeights, cases_query, contacts_query
from parcours.journeys.scope import Scope
from parcours.journeys.visits import visits_query
from parcours.segments.compare import compare, describe_events, text, words
from parcours.segments.definition import (
    Comparison,
    Condition,
    SegmentDefinition,
    window_seconds,
)
from parcours.sql import ident, json_path, lit


@dataclass(frozen=True)
class Leaf:
    """One leaf condition of one segment: where it is, what it says, its value's SQL."""

    column: str
    """Its value's column in the features: l0, l1, ..."""
    path: str
    """Where it is in the definition: where.all[0].events."""
    text: str
    """What it asks, in words: `count of events named Order Completed in 30d at least 2`."""
    group: str
    """The source it is read from (leaves of one group share one scan)."""
    value_sql: str
    """Its value: an aggregate in its group's query, or (segments) an expression per row."""
    held_sql: str
    """Whether it holds, over the features row (never NULL)."""


@dataclass
class Compiled:
    """A definition compiled: its leaves and its boolean over the features."""

    name: str
    leaves: list[Leaf] = field(default_factory=list)
    member_sql: str = "false"


@dataclass
class Builder:
    """Numbers leaves across every definition compiled with it, so they share the scans."""

    rules: IdentityRules
    as_of: dt.datetime | None = None
    leaves: list[Leaf] = field(default_factory=list)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    inlined: dict[str, str] = field(default_factory=dict)
    """The booleans of the segments compiled with `inline`, by name."""
    events: str = "customer_events"
    """Where every leaf reads the customers' events (aggregates, traits and consents, journey
    facts): the table, or (an incremental refresh) a copy of the scope's events, read once
    for all of them."""
    moment: dt.datetime = field(init=False)
    """The instant windows end at: `as_of`, else now (read once, for every leaf)."""

    def __post_init__(self) -> None:
        self.moment = (self.as_of or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)

    @property
    def at(self) -> str:
        return f"{lit(self.moment.isoformat())}::TIMESTAMPTZ"

    def compile(self, definition: SegmentDefinition, *, inline: bool = False) -> Compiled:
        """`definition` over this builder's features. `inline`: later definitions of this
        builder that name this one evaluate its boolean themselves (a batch compiled in
        dependency order computes every segment in one pass); otherwise a segment named is
        read from `segment_members`."""
        compiled = Compiled(definition.name)
        compiled.member_sql = self._node(definition.where, "where", compiled)
        if inline:
            self.inlined[definition.name] = compiled.member_sql
        return compiled

    def _node(self, node: Condition, path: str, compiled: Compiled) -> str:
        kind = node.kind
        if kind in ("all", "any"):
            children = node.all if kind == "all" else node.any
            joined = (" AND " if kind == "all" else " OR ").join(
                self._node(child, f"{path}.{kind}[{i}]", compiled)
                for i, child in enumerate(children or [])
            )
            return f"({joined})"
        if kind == "not":
            assert node.not_ is not None
            return f"(NOT {self._node(node.not_, f'{path}.not', compiled)})"
        leaf: Leaf = getattr(self, f"_{kind}")(getattr(node, kind), f"{path}.{kind}")
        compiled.leaves.append(leaf)
        self.leaves.append(leaf)
        return leaf.held_sql

    def _column(self) -> str:
        return f"l{len(self.leaves)}"

    def _since(self, within: str | None, column: str = "occurred_at") -> list[str]:
        found = []
        if within is not None:
            found.append(f"{column} >= {self.at} - INTERVAL {int(window_seconds(within))} SECOND")
        if self.as_of is not None:
            found.append(f"{column} <= {self.at}")
        return found

    # --- the leaves ------------------------------------------------------------------------

    def _events(self, leaf: Any, path: str) -> Leaf:
        column = self._column()
        where = self._since(leaf.within)
        for key, wanted in (("name", leaf.name), ("channel", leaf.channel), ("type", leaf.type)):
            if wanted is not None:
                where.append(f"{key} = {lit(wanted)}")
        for key, value in leaf.properties.items():
            where.append(
                f"json_extract_string(properties, {lit(json_path(key))}) = {lit(text(value))}"
            )
        matching = " AND ".join(where) or "true"
        what = describe_events(leaf)
        self._group("events", leaf.within)
        if leaf.sum is not None:
            summed = (
                f"TRY_CAST(json_extract_string(properties, "
                f"{lit(json_path(leaf.sum.removeprefix('properties.')))}) AS DOUBLE)"
                if leaf.sum.startswith("properties.")
                else f"CAST({ident(leaf.sum)} AS DOUBLE)"
            )
            value = f"coalesce(sum({summed}) FILTER (WHERE {matching}), 0)"
            held = compare(f"coalesce({column}, 0)", leaf, "number", path)
            return Leaf(
                column, path, f"sum of {leaf.sum} of {what}{words(leaf)}", "events", value, held
            )
        if leaf.first is not None or leaf.last is not None:
            which, comparison = ("first", leaf.first) if leaf.first else ("last", leaf.last)
            value = f"{'min' if which == 'first' else 'max'}(occurred_at) FILTER (WHERE {matching})"
            age = f"(epoch({self.at}) - epoch({column}))"
            held = compare(age, comparison, "age", f"{path}.{which}")
            return Leaf(
                column,
                path,
                f"time since the {which} of {what}{words(comparison)}",
                "events",
                value,
                held,
            )
        count = leaf.count or Comparison(at_least=1)
        value = f"count(*) FILTER (WHERE {matching})"
        held = compare(f"coalesce({column}, 0)", count, "number", f"{path}.count")
        return Leaf(column, path, f"count of {what}{words(count)}", "events", value, held)

    def _trait(self, leaf: Any, path: str) -> Leaf:
        column = self._column()
        rule = self.rules.survivorship.get(leaf.name, self.rules.default_survivorship)

        value = "value"
        if rule == "most_frequent":  # a count per value: a query of its own
            group = f"trait:{len(self.groups)}"
            self.groups[group] = {"kind": "trait", "name": leaf.name, "rule": rule}
        else:  # every other trait in one pass over the identify events
            group = "traits"
            self.groups.setdefault(group, {"kind": "traits"})
            first = "trust" if rule == "most_trusted" else "0"
            v = f"json_extract_string(properties, {lit(json_path(leaf.name))})"
            value = (
                f"arg_min({v}, {{'a': {first}, 'b': -epoch_us(occurred_at), 'c': source, "
                f"'d': event_id}}) FILTER (WHERE coalesce({v}, '') <> '')"
            )
        held = (
            compare(column, leaf, "auto", path)
            if leaf.comparators()
            else f"coalesce({column} IS NOT NULL, false)"
        )
        text_ = f"trait {leaf.name}{words(leaf) or ' has a value'}"
        return Leaf(column, path, text_, group, value, held)

    def _has(self, leaf: Any, path: str) -> Leaf:
        column = self._column()
        self._group("identifiers", None)
        value = f"count(*) FILTER (WHERE type = {lit(leaf.identifier)})"
        return Leaf(
            column,
            path,
            f"identifiers of type {leaf.identifier} held (at least 1)",
            "identifiers",
            value,
            f"coalesce({column}, 0) >= 1",
        )

    def _consent(self, leaf: Any, path: str) -> Leaf:
        column = self._column()
        self._group("consents", None)
        of = (
            f"json_extract_string(properties, '$.channel') = {lit(leaf.channel)} AND "
            f"json_extract_string(properties, '$.purpose') = {lit(leaf.purpose)}"
        )
        value = f"arg_max(name = {lit(CONSENT_GIVEN)}, occurred_at) FILTER (WHERE {of})"
        held = f"coalesce({column}, false)" if leaf.granted else f"NOT coalesce({column}, false)"
        state = "given" if leaf.granted else "not given"
        return Leaf(
            column,
            path,
            f"consent to {leaf.purpose} on {leaf.channel} {state}",
            "consents",
            value,
            held,
        )

    def _journey(self, leaf: Any, path: str) -> Leaf:
        column = self._column()
        fact, comparison = leaf.facts()[0]
        kind = "visits" if fact == "visits" else "contacts"
        group = f"{kind}:{leaf.within or 'all'}"
        self.groups.setdefault(group, {"kind": kind, "within": leaf.within, "columns": {}})
        aggregate = {
            "visits": "count(*) FILTER (WHERE new_visit)",
            "contacts": "sum(contacts)",
            "cases": "count(*)",
            "repeated_contacts": "sum(repeats)",
            "open_cases": "count(*) FILTER (WHERE NOT resolved)",
        }[fact]
        held = compare(f"coalesce({column}, 0)", comparison, "number", f"{path}.{fact}")
        span = f" in {leaf.within}" if leaf.within else ""
        return Leaf(
            column,
            path,
            f"{fact.replace('_', ' ')}{span}{words(comparison)}",
            group,
            aggregate,
            held,
        )

    def _score(self, leaf: Any, path: str) -> Leaf:
        column = self._column()
        texts = [
            v
            for _, v in leaf.comparators()
            for v in (v if isinstance(v, list | tuple) else [v])
            if isinstance(v, str)
        ]
        field_ = "label" if texts else "value"
        group = f"score:{leaf.name}"
        self.groups[group] = {"kind": "score", "name": leaf.name}
        held = compare(column, leaf, "text" if texts else "number", path)
        return Leaf(column, path, f"score {leaf.name} ({field_}){words(leaf)}", group, field_, held)

    def _segment(self, name: str, path: str) -> Leaf:
        column = self._column()
        member = self.inlined.get(name) or (
            f"(customer_id IN (SELECT customer_id FROM segment_members "
            f"WHERE segment = {lit(name)}))"
        )
        return Leaf(column, path, f"in segment {name}", "segment", member, member)

    def _group(self, name: str, within: str | None) -> None:
        group = self.groups.setdefault(name, {"kind": name, "windows": []})
        group["windows"].append(within)

    # --- the query -------------------------------------------------------------------------

    def features_query(self, customers: str | None = None) -> str:
        """One row per customer (of `customers`, SQL selecting customer_id, or all) with
        every leaf's value column."""
        scope = f" AND customer_id IN ({customers})" if customers else ""
        universe = f"SELECT DISTINCT customer_id FROM identity_map WHERE true{scope}"
        joins, columns = [], ["u.customer_id"]
        for i, (name, group) in enumerate(self.groups.items()):
            leaves = [leaf for leaf in self.leaves if leaf.group == name]
            if not leaves:
                continue
            alias = f"g{i}"
            joins.append(
                f"LEFT JOIN ({self._group_query(name, group, leaves, customers)}) "
                f"{alias} USING (customer_id)"
            )
            columns += [f"{alias}.{leaf.column}" for leaf in leaves]
        return f"SELECT {', '.join(columns)} FROM ({universe}) u {' '.join(joins)}"

    def _group_query(
        self, name: str, group: dict[str, Any], leaves: list[Leaf], customers: str | None
    ) -> str:
        scope = f" AND customer_id IN ({customers})" if customers else ""
        values = ", ".join(f"{leaf.value_sql} AS {leaf.column}" for leaf in leaves)
        kind = group["kind"]
        if kind == "events":
            # Every leaf windowed: the rows before the widest window are not read at all.
            windows = group["windows"]
            since = (
                self._since(max(windows, key=window_seconds))
                if windows and None not in windows
                else []
            )
            where = " AND ".join(["true", *since]) + scope
            return f"SELECT customer_id, {values} FROM {self.events} WHERE {where} GROUP BY 1"
        if kind == "identifiers":
            return f"SELECT customer_id, {values} FROM identity_map WHERE true{scope} GROUP BY 1"
        if kind == "consents":
            names = f"{lit(CONSENT_GIVEN)}, {lit(CONSENT_WITHDRAWN)}"
            where = f"name IN ({names}){scope}" + "".join(f" AND {c}" for c in self._since(None))
            return f"SELECT customer_id, {values} FROM {self.events} WHERE {where} GROUP BY 1"
        if kind == "trait":
            return self._trait_query(group, leaves, scope)
        if kind == "traits":
            at = "".join(f" AND {c}" for c in self._since(None))
            return (
                f"SELECT customer_id, {values} FROM (SELECT *, {self._trust()} AS trust "
                f"FROM {self.events} WHERE type = 'identify'{scope}{at}) GROUP BY 1"
            )
        if kind == "score":
            return (
                f"SELECT customer_id, {values} FROM customer_scores "
                f"WHERE score = {lit(group['name'])}{scope}"
            )
        window = group["within"]
        start = None
        if window is not None:
            start = self.moment - dt.timedelta(seconds=window_seconds(window))
        journeys_scope = Scope(
            since=start, until=self.as_of, customers=customers, table=self.events
        )
        if kind == "visits":
            source = visits_query(journeys_scope)
        else:
            source = cases_query(contacts_query(journeys_scope), EffortWeights())
        return f"SELECT customer_id, {values} FROM ({source}) GROUP BY 1"

    def _trust(self) -> str:
        """An identify record's source's place in `trusted_sources` (others after)."""
        trusted = self.rules.trusted_sources
        cases = " ".join(f"WHEN {lit(s)} THEN {i}" for i, s in enumerate(trusted))
        return f"CASE source {cases} ELSE {len(trusted)} END" if trusted else "0"

    def _trait_query(self, group: dict[str, Any], leaves: list[Leaf], scope: str) -> str:
        """The trait's surviving value per customer, as `identity.profile.survivors` picks
        it: the rule's order (frequency, trusted source, or none), then the latest record,
        then source and event id."""
        rule = group["rule"]
        if rule == "most_frequent":
            first = "-count(*) OVER (PARTITION BY customer_id, v)"
        elif rule == "most_trusted":
            first = self._trust()
        else:
            first = "0"
        path = lit(json_path(group["name"]))
        values = ", ".join(f"v AS {leaf.column}" for leaf in leaves)
        at = "".join(f" AND {c}" for c in self._since(None))
        return f"""
            SELECT customer_id, {values} FROM (
                SELECT customer_id, arg_min(v, {{'a': r, 'b': -epoch_us(occurred_at),
                       'c': source, 'd': event_id}}) AS v
                FROM (SELECT customer_id, v, occurred_at, source, event_id, {first} AS r
                      FROM (SELECT customer_id, occurred_at, source, event_id,
                                   json_extract_string(properties, {path}) AS v
                            FROM {self.events} WHERE type = 'identify'{scope}{at})
                      WHERE v IS NOT NULL AND v <> '')
                GROUP BY customer_id)
        """

    def evaluate_query(self, features: str, compiled: Compiled) -> str:
        """Per customer of `features`: each leaf's value and whether it held, and `member`."""
        columns = []
        for leaf in compiled.leaves:
            value = leaf.value_sql if leaf.group == "segment" else leaf.column
            columns.append(f"{value} AS {leaf.column}, {leaf.held_sql} AS h_{leaf.column}")
        listed = "".join(f", {c}" for c in columns)
        return f"SELECT customer_id{listed}, {compiled.member_sql} AS member FROM {features}"
