"""What is legal in an automation but probably wrong, found before it is published.

Errors refuse the publish; warnings are answered with it and shown. Each finding names its
place (the line, from YAML) and the fix.

- **overlap** (error when a branch can never be taken, warning when two only overlap): two
  branches of a split compare the same field (a trait, a score, an event count, a journey
  fact, a consent...) with values that meet. Splits take the first branch that holds, so the
  customers in the overlap all go to the earlier one.
- **unreachable** (error): a step no path from the first step reaches.
- **no_way_out** (error): steps from which no path reaches an end (an `exit` step or the last
  step): an instance there would wait forever; also a `wait_for` both of whose outcomes lead
  back into such a loop.
- **loop_without_wait** (error): a `next` (or a branch) that jumps back into a loop with no
  wait in it: the instance would run round it at the same instant, for ever.
- **consent** (warning, with a store): a send whose purpose no consent event in the store names
  — no customer has consented to it yet, so it would be held for everyone.
- **never_seen** (warning, with a store): a trigger, goal, exit or wait_for event no customer
  ever had: a typo, or an event not collected yet (a trigger's name close to a known one is
  refused at publish as a typo).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from parcours.automations.checks import OWN_EVENTS, Known, event_filters
from parcours.automations.definition import AutomationDefinition, Step
from parcours.segments.checks import closest_names
from parcours.segments.definition import Comparison, Condition, window_seconds
from parcours.store.store import Store

WAITS = ("wait", "wait_until", "wait_for")
ENDS = ("exit",)
END = "(end)"


@dataclass(frozen=True)
class Finding:
    """One thing the linter found: its rule, how grave, where (line and path), what, the fix."""

    rule: str
    severity: Literal["error", "warning"]
    where: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.where}: {self.message} (fix: {self.fix})"


def lint(definition: AutomationDefinition, store: Store | None = None) -> list[Finding]:
    """Every finding on `definition`, errors first; with `store`, also those that need the
    store's events (consent purposes, events never seen)."""
    found = [
        *_unreachable(definition),
        *_loops(definition),
        *_overlaps(definition),
    ]
    if store is not None:
        found += _against_store(definition, Known(store, definition.name))
    return sorted(found, key=lambda f: f.severity != "error")


# --- the graph of steps ---------------------------------------------------------------------


def edges(definition: AutomationDefinition, step: Step) -> list[str]:
    """Where `step` may go on to: its targets, else the next in the list (`END` past the last
    step); an `exit` step goes nowhere."""
    if step.exit is not None:
        return [END]
    targets = step.targets()
    if step.split is None and step.random is None:
        after = definition.after(step.id)
        if step.wait_for is not None:
            after_wf = [step.wait_for.on_event or after, step.wait_for.on_timeout or after]
            return [t or END for t in after_wf]
        return [after or END]
    return targets


def _graph(definition: AutomationDefinition) -> dict[str, list[str]]:
    return {s.id: edges(definition, s) for s in definition.steps}


def _reached(graph: dict[str, list[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in graph.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _unreachable(definition: AutomationDefinition) -> Iterator[Finding]:
    graph = _graph(definition)
    reached = _reached(graph, definition.steps[0].id)
    for index, step in enumerate(definition.steps):
        if step.id not in reached:
            yield Finding(
                "unreachable",
                "error",
                definition.place(f"steps[{index}]"),
                f"step {step.id!r} is reached by no path from the first step "
                f"({definition.steps[0].id!r})",
                "name it in a next, a branch or a wait_for outcome, or remove it",
            )


def _loops(definition: AutomationDefinition) -> Iterator[Finding]:
    graph = _graph(definition)
    index = {s.id: i for i, s in enumerate(definition.steps)}
    reached = _reached(graph, definition.steps[0].id)
    # Steps from which an end can be reached (walking the edges backwards from END).
    backwards: dict[str, set[str]] = {}
    for source, targets in graph.items():
        for target in targets:
            backwards.setdefault(target, set()).add(source)
    can_end = _reached({k: sorted(v) for k, v in backwards.items()}, END)
    trapped = {s.id for s in definition.steps if s.id in reached and s.id not in can_end}
    for cycle in _cycles(graph, reached):
        if not set(cycle) <= trapped:
            continue
        waits_for = [s for s in cycle if definition.step(s).wait_for is not None]
        what = (
            f"both outcomes of wait_for {waits_for[0]!r} lead back into the loop "
            if waits_for
            else "the loop "
        )
        yield Finding(
            "no_way_out",
            "error",
            definition.place(f"steps[{index[cycle[0]]}]"),
            f"{what}{' → '.join([*cycle, cycle[0]])}, from which no path reaches an exit step "
            "or the end: an instance there would never leave",
            "give the loop a way out: a split branch or a wait_for outcome to an exit step "
            "(or to a step after the loop)",
        )
    for cycle in _cycles(graph, reached):
        if any(definition.step(s).action in WAITS for s in cycle):
            continue
        # The jump that closes the loop: an edge to a step at or before its source.
        source, target = next(
            ((s, t) for s in cycle for t in graph[s] if t in cycle and index[t] <= index[s]),
            (cycle[-1], cycle[0]),
        )
        yield Finding(
            "loop_without_wait",
            "error",
            definition.place(f"steps[{index[source]}]"),
            f"step {source!r} goes back to {target!r}, closing the loop "
            f"{' → '.join([*cycle, cycle[0]])} with no wait in it: an instance would run round "
            "it at the same instant for ever",
            "put a wait (wait, wait_until or wait_for) in the loop, or go forward instead",
        )


def _cycles(graph: dict[str, list[str]], reached: set[str]) -> Iterator[list[str]]:
    """The strongly connected components that hold a cycle (Tarjan), each in list order."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, []):
            if target not in graph:
                continue
            if target not in order:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], order[target])
        if low[node] == order[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, []):
                found.append(component)

    for node in graph:
        if node in reached and node not in order:
            visit(node)
    position = list(graph)
    for component in found:
        yield sorted(component, key=position.index)


# --- overlapping branches --------------------------------------------------------------------


@dataclass(frozen=True)
class Values:
    """The values one condition lets through for one field: an interval, a set of allowed
    values (`only`), values refused (`never`), or the field missing."""

    lo: Any = -math.inf
    lo_in: bool = True
    hi: Any = math.inf
    hi_in: bool = True
    only: frozenset[Any] | None = None
    never: frozenset[Any] = frozenset()
    missing: bool = False

    def passes(self, value: Any) -> bool:
        """Whether `value` passes this condition."""
        return self._inside(value) and (self.only is None or value in self.only)

    def _inside(self, value: Any) -> bool:
        try:
            above = value > self.lo or (self.lo_in and value == self.lo)
            below = value < self.hi or (self.hi_in and value == self.hi)
        except TypeError:
            return True
        return above and below and value not in self.never

    def meets(self, other: Values) -> bool:
        """Whether some value passes both."""
        if self.missing or other.missing:
            return self.missing and other.missing
        if self.only is not None or other.only is not None:
            candidates = (self.only if self.only is not None else other.only) or frozenset()
            return any(self.passes(v) and other.passes(v) for v in candidates)
        try:
            lo, lo_in = max((self.lo, self.lo_in), (other.lo, other.lo_in), key=_low_key)
            hi, hi_in = min((self.hi, self.hi_in), (other.hi, other.hi_in), key=_high_key)
            return bool(lo < hi or (lo == hi and lo_in and hi_in))
        except TypeError:
            return True

    def within(self, other: Values) -> bool:
        """Whether every value this passes, `other` passes too."""
        if self.missing or other.missing:
            return self.missing and other.missing
        if self.only is not None:
            return all(other.passes(v) for v in self.only if self._inside(v))
        if other.only is not None or not other.never <= self.never:
            return False
        try:
            low_ok = _low_key((self.lo, self.lo_in)) >= _low_key((other.lo, other.lo_in))
            high_ok = _high_key((self.hi, self.hi_in)) <= _high_key((other.hi, other.hi_in))
            return bool(low_ok and high_ok)
        except TypeError:
            return False


def _low_key(bound: tuple[Any, bool]) -> tuple[Any, int]:
    return (bound[0], 0 if bound[1] else 1)


def _high_key(bound: tuple[Any, bool]) -> tuple[Any, int]:
    return (bound[0], 1 if bound[1] else 0)


def values_of(comparison: Comparison, *, age: bool = False) -> Values:
    """The values a comparison lets through (`age`: ages written 90d, compared in seconds)."""
    lo, lo_in, hi, hi_in = -math.inf, True, math.inf, True
    only: frozenset[Any] | None = None
    never: frozenset[Any] = frozenset()

    def number(value: Any) -> Any:
        return window_seconds(value) if age else value

    for name, value in comparison.comparators():
        if name == "at_least":
            lo, lo_in = number(value), True
        elif name == "above":
            lo, lo_in = number(value), False
        elif name == "at_most":
            hi, hi_in = number(value), True
        elif name == "below":
            hi, hi_in = number(value), False
        elif name == "between":
            (lo, hi), lo_in, hi_in = (number(value[0]), number(value[1])), True, True
        elif name == "equals":
            only = frozenset([number(value)])
        elif name == "in":
            only = frozenset(number(v) for v in value)
        elif name == "not_equals":
            never = frozenset([number(value)])
    return Values(lo, lo_in, hi, hi_in, only, never)


def fields_of(condition: Condition) -> dict[Any, Values] | None:
    """The fields a branch's condition constrains, each with its values, when the condition
    is a leaf, a `not` of a presence test, or an `all` of those; None for anything else (an
    `any`, a nested `not`), which the linter does not compare."""
    parts = condition.all if condition.kind == "all" else [condition]
    found: dict[Any, Values] = {}
    for part in parts or []:
        one = _field(part)
        if one is None or one[0] in found:
            return None
        found[one[0]] = one[1]
    return found


def _field(node: Condition) -> tuple[Any, Values] | None:
    kind = node.kind
    if kind == "not":
        inner = node.not_
        assert inner is not None
        if inner.kind == "trait" and inner.trait is not None and not inner.trait.comparators():
            return ("trait", inner.trait.name), Values(missing=True)
        flag = _flag(inner)
        if flag is None or flag[1].only is None:
            return None
        return flag[0], Values(only=frozenset(not v for v in flag[1].only))
    if kind == "trait" and node.trait is not None:
        comparators = node.trait.comparators()
        return ("trait", node.trait.name), values_of(node.trait) if comparators else Values()
    if kind == "score" and node.score is not None:
        return ("score", node.score.name), values_of(node.score)
    if kind == "journey" and node.journey is not None:
        fact, comparison = node.journey.facts()[0]
        return ("journey", fact, node.journey.within), values_of(comparison)
    if kind == "events" and node.events is not None:
        e = node.events
        what = (e.name, e.channel, e.type, tuple(sorted(e.properties.items())), e.within)
        if e.sum is not None:
            return ("sum", e.sum, *what), values_of(e)
        for aggregate in ("first", "last"):
            if getattr(e, aggregate) is not None:
                return (aggregate, *what), values_of(getattr(e, aggregate), age=True)
        counted = e.count if e.count is not None else Comparison(at_least=1)
        return ("count", *what), values_of(counted)
    return _flag(node)


def _flag(node: Condition) -> tuple[Any, Values] | None:
    if node.consent is not None:
        c = node.consent
        return ("consent", c.channel, c.purpose), Values(only=frozenset([c.granted]))
    if node.has is not None:
        return ("has", node.has.identifier), Values(only=frozenset([True]))
    if node.segment is not None:
        return ("segment", node.segment), Values(only=frozenset([True]))
    return None


def _overlaps(definition: AutomationDefinition) -> Iterator[Finding]:
    for index, step in enumerate(definition.steps):
        if step.split is None:
            continue
        branches = [fields_of(b.when) for b in step.split.branches]
        for j, later in enumerate(branches):
            for i, earlier in enumerate(branches[:j]):
                if earlier is None or later is None:
                    continue
                shared = set(earlier) & set(later)
                if not shared or any(not earlier[f].meets(later[f]) for f in shared):
                    continue
                where = definition.place(f"steps[{index}].split.branches[{j}].when")
                field_names = ", ".join(sorted(_field_name(f) for f in shared))
                if set(earlier) <= set(later) and all(later[f].within(earlier[f]) for f in earlier):
                    yield Finding(
                        "overlap",
                        "error",
                        where,
                        f"in split {step.id!r}, branch {j} can never be taken: every customer it "
                        f"selects ({field_names}) branch {i} selects first",
                        f"make the conditions on {field_names} disjoint, or put branch {j} first",
                    )
                else:
                    yield Finding(
                        "overlap",
                        "warning",
                        where,
                        f"in split {step.id!r}, branches {i} and {j} overlap on {field_names}: "
                        f"customers in both go to branch {i}",
                        f"make the values of {field_names} disjoint (e.g. below and at_least the "
                        "same bound)",
                    )


def _field_name(field: tuple[Any, ...]) -> str:
    kind = field[0]
    if kind in ("trait", "score", "has", "segment"):
        return f"{kind} {field[1]}"
    if kind == "consent":
        return f"consent {field[1]}/{field[2]}"
    if kind == "journey":
        return f"journey {field[1]}"
    return f"events {field[1] if kind != 'sum' else field[2]!s} ({kind})"


# --- against the store ----------------------------------------------------------------------


def _against_store(definition: AutomationDefinition, known: Known) -> Iterator[Finding]:
    for index, step in enumerate(definition.steps):
        send = step.send
        if send is not None and send.purpose not in known.consent_purposes:
            yield Finding(
                "consent",
                "warning",
                definition.place(f"steps[{index}].send.purpose"),
                f"no consent event in the store names the purpose {send.purpose!r} "
                f"({closest_names(send.purpose, known.consent_purposes)}): every send of step "
                f"{step.id!r} would be held for want of consent",
                "collect Consent Given events with this purpose, or use a purpose customers "
                "consent to",
            )
    for role, path, event in event_filters(definition):
        if event.name is None or event.name in known.seen_event_names:
            continue
        if event.name in OWN_EVENTS:  # parcours writes it: none yet is no typo
            continue
        what = {
            "trigger": "no one enters until it arrives",
            "goal": "the goal would never be reached",
            "exit": "this exit would never be taken",
            "wait_for": "this wait would always time out",
        }[role]
        yield Finding(
            "never_seen",
            "warning",
            definition.place(f"{path}.name"),
            f"no customer ever had the event {event.name!r}: {what} "
            f"({closest_names(event.name, known.seen_event_names)})",
            "check the name against the events collected (parcours stats), or collect it",
        )
