"""Funnels on hand-made event logs, through the real import and identity path.

Expected counts come from ClickHouse's `windowFunnel` (embedded through chdb) on the same
events where it has the same semantics (ordered funnels), and otherwise from logs built so the
answer is known by construction (each case says why).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path

import pytest
from event_log import import_events
from peers import peer

import parcours
from parcours.errors import BadRequest, ParcoursError
from parcours.journeys.funnel import Exclusion, Step, UnknownStepWarning, funnel
from parcours.journeys.scope import Scope
from parcours.sql import lit


def _log(p: parcours.Parcours, tmp_path: Path, events: list[tuple[str, float, str]]) -> None:
    """Import (customer, hours after START, event name) rows, all on the web."""
    import_events(p, tmp_path, [(user, hours, "web", name) for user, hours, name in events])


def _counts(result: object) -> list[int]:
    return [s["customers"] for s in result.steps]  # type: ignore[attr-defined]


def test_every_step_index_up_to_70_is_counted(p: parcours.Parcours, tmp_path: Path) -> None:
    """Customer k does the first k of 70 steps, an hour apart: step j is reached by the
    customers k >= j, that is 71 - j of them — at every index (PostHog reported zero past 32)."""
    steps = [f"S{j:02d}" for j in range(1, 71)]
    _log(
        p,
        tmp_path,
        [(f"u{k}", float(j), steps[j]) for k in range(1, 71) for j in range(k)],
    )
    result = funnel(p.store, steps, window="30d")
    assert _counts(result) == [71 - j for j in range(1, 71)]
    # Customers are named by the ids the resolve gave them: u64..u70 reached step 64, and u63
    # did step 63 and stopped.
    assert result.customers_at(64) == sorted(_customer(p, f"u{k}") for k in range(64, 71))
    assert result.customers_at(64, dropped=True) == [_customer(p, "u63")]


def test_ordered_funnels_equal_clickhouse_window_funnel(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    chdb = peer("chdb")
    rng = random.Random(11)
    names = ["A", "B", "C", "D", "X"]
    events = [
        (f"u{c}", rng.uniform(0, 24 * 60), rng.choice(names))
        for c in range(300)
        for _ in range(rng.randint(1, 25))
    ]
    _log(p, tmp_path, events)
    log = tmp_path / "log.parquet"
    # A COPY writes a file: through the engine, p.sql only reads.
    p.store.engine.execute(
        "COPY (SELECT customer_id, epoch_us(occurred_at)::UBIGINT AS at, name "
        f"FROM customer_events) TO {lit(str(log))}"
    )
    for window_hours in (1, 24, 24 * 7, 24 * 90):
        for steps in (["A", "B"], ["A", "B", "C", "D"], ["B", "A", "B", "A"], ["D", "X", "C"]):
            conditions = ", ".join(f"name = {lit(s)}" for s in steps)
            answer = chdb.query(
                f"SELECT level, count() FROM (SELECT customer_id, "
                f"windowFunnel({window_hours * 3_600_000_000})(at, {conditions}) AS level "
                f"FROM file({lit(str(log))}, Parquet) GROUP BY customer_id) GROUP BY level",
                "CSV",
            )
            levels = Counter(
                {int(k): int(n) for k, n in (line.split(",") for line in str(answer).split())}
            )
            expected = [
                sum(n for k, n in levels.items() if k >= j) for j in range(1, 1 + len(steps))
            ]
            result = funnel(p.store, steps, window=f"{window_hours}h")
            assert _counts(result) == expected, (window_hours, steps)


def test_strict_order_breaks_on_any_event_between(p: parcours.Parcours, tmp_path: Path) -> None:
    # u1: A B C in a row; u2: A x B C (x between A and B); u3: A B x C.
    _log(
        p,
        tmp_path,
        [
            ("u1", 1, "A"), ("u1", 2, "B"), ("u1", 3, "C"),
            ("u2", 1, "A"), ("u2", 2, "x"), ("u2", 3, "B"), ("u2", 4, "C"),
            ("u3", 1, "A"), ("u3", 2, "B"), ("u3", 3, "x"), ("u3", 4, "C"),
        ],
    )  # fmt: skip
    assert _counts(funnel(p.store, ["A", "B", "C"], order="strict")) == [3, 2, 1]
    assert _counts(funnel(p.store, ["A", "B", "C"])) == [3, 3, 3]


def test_any_order_counts_distinct_steps_within_one_window(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    # u1: C B A within 3 hours; u2: C then A two days later, B at once after A; u3: B only.
    _log(
        p,
        tmp_path,
        [
            ("u1", 1, "C"), ("u1", 2, "B"), ("u1", 3, "A"),
            ("u2", 1, "C"), ("u2", 49, "A"), ("u2", 50, "B"),
            ("u3", 1, "B"),
        ],
    )  # fmt: skip
    result = funnel(p.store, ["A", "B", "C"], window="1d", order="any")
    # Customers who did at least 1, 2 and 3 distinct steps within a day.
    assert _counts(result) == [3, 2, 1]


def test_optional_and_exclusion_steps(p: parcours.Parcours, tmp_path: Path) -> None:
    # u1: A B C; u2: A C (skips the optional B); u3: A R B C (R between A and B);
    # u4: A B R C (R between B and C).
    _log(
        p,
        tmp_path,
        [
            ("u1", 1, "A"), ("u1", 2, "B"), ("u1", 3, "C"),
            ("u2", 1, "A"), ("u2", 2, "C"),
            ("u3", 1, "A"), ("u3", 2, "R"), ("u3", 3, "B"), ("u3", 4, "C"),
            ("u4", 1, "A"), ("u4", 2, "B"), ("u4", 3, "R"), ("u4", 4, "C"),
        ],
    )  # fmt: skip
    optional = funnel(p.store, ["A", "B?", "C"])
    assert _counts(optional) == [4, 3, 4], "B is done by three; everyone goes on to C"
    excluded = funnel(p.store, ["A", "B", "C"], exclusions=[Exclusion(Step("R"), 1, 2)])
    assert _counts(excluded) == [4, 2, 2], "u3's R falls between A and B; u2 never does B"
    excluded = funnel(p.store, ["A", "B", "C"], exclusions=[Exclusion.parse("R@1-3")])
    assert _counts(excluded) == [4, 2, 1]
    assert excluded.customers_at(3) == sorted([_customer(p, "u1")])


def _customer(p: parcours.Parcours, user: str) -> str:
    from parcours.identity.customers import customer_of

    return customer_of(p.store, "user_id", user)


def test_breakdowns_attribute_each_customer_once_per_step(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    # u1 starts on the web and buys in the app; u2 stays on the web.
    rows = [("u1", 10, "web", "A"), ("u1", 11, "app", "B")]
    rows += [("u2", 10, "web", "A"), ("u2", 11, "web", "B")]
    import_events(p, tmp_path, rows)
    first = funnel(p.store, ["A", "B"], breakdown="channel", attribution="first").breakdown
    assert first == [{"value": "web", "step_1": 2, "step_2": 2}]
    last = funnel(p.store, ["A", "B"], breakdown="channel", attribution="last").breakdown
    assert sorted(last, key=lambda r: r["value"]) == [
        {"value": "app", "step_1": 1, "step_2": 1},
        {"value": "web", "step_1": 1, "step_2": 1},
    ]
    per_step = funnel(p.store, ["A", "B"], breakdown="channel", attribution="step").breakdown
    assert sorted(per_step, key=lambda r: r["value"]) == [
        {"value": "app", "step_1": 0, "step_2": 1},
        {"value": "web", "step_1": 2, "step_2": 1},
    ]
    in_app = funnel(p.store, ["A", "app:B"], scope=Scope(channels=("web", "app")))
    assert _counts(in_app) == [2, 1]


def test_bad_funnels_get_clear_errors(p: parcours.Parcours) -> None:
    with pytest.raises(BadRequest, match="at least two steps"):
        funnel(p.store, ["A"])
    with pytest.raises(BadRequest, match="Unknown funnel order"):
        funnel(p.store, ["A", "B"], order="sideways")
    with pytest.raises(BadRequest, match="Cannot read the exclusion"):
        Exclusion.parse("R1-2")
    with pytest.raises(BadRequest, match="not a valid expression"):
        funnel(p.store, ["A", "B"], Scope(where="amount >"))


def test_a_misspelt_step_is_warned_with_the_closest_names(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    """A name no event has counts nobody: the result says so, with the names the store has
    that are closest (here, the one it was meant to be), and so does Python's `warnings`."""
    _log(p, tmp_path, [("u1", 1, "Product Viewed"), ("u1", 2, "Order Completed")])
    with pytest.warns(UnknownStepWarning, match="'Product Viewd'"):
        result = funnel(p.store, ["Product Viewd", "Order Completed"])
    assert _counts(result) == [0, 0]
    assert result.warnings == [
        "No event is named 'Product Viewd', so no one does that step; "
        "did you mean 'Product Viewed'?"
    ]
    assert result.to_dict()["warnings"] == result.warnings
    known = funnel(p.store, ["Product Viewed", "Order Completed"])
    assert known.warnings == [] and _counts(known) == [1, 1]


def test_steps_given_as_one_text_are_refused(p: parcours.Parcours) -> None:
    """A string is a sequence of characters: walked as steps, "AB" would be the funnel A → B."""
    with pytest.raises(BadRequest, match="pass a list of steps"):
        p.journeys.funnel("Product Viewed")


def test_customers_of_a_funnel_after_its_store_closed_are_a_clear_error(tmp_path: Path) -> None:
    with parcours.connect(tmp_path / "s.duckdb") as p:
        _log(p, tmp_path, [("u1", 1, "A"), ("u1", 2, "B")])
        result = funnel(p.store, ["A", "B"])
        assert result.customers_at(2) == [_customer(p, "u1")]
    with pytest.raises(ParcoursError, match="store this funnel was counted on is closed"):
        result.customers_at(2)


def test_a_scope_that_cannot_narrow_is_refused_when_made() -> None:
    """Refused with the fix, as a ParcoursError, not later as an AttributeError or the
    engine's binder error."""
    with pytest.raises(BadRequest, match=r"pass a datetime or a date"):
        Scope(since="2026-05-01")  # type: ignore[arg-type]
    with pytest.raises(BadRequest, match="names nosuch, which events do not have"):
        Scope(where="nosuch = 1")
    with pytest.raises(BadRequest, match="did you mean amount"):
        Scope(where="amout > 100")
    with pytest.raises(BadRequest, match="single quotes"):
        Scope(where='name = "Order Completed"')
    assert Scope(since=dt.date(2026, 5, 1)).since == dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert Scope(where="customer_events.amount > 1 AND channel = 'web'").where


def test_a_filter_the_engine_refuses_is_found_by_check(
    p: parcours.Parcours, tmp_path: Path
) -> None:
    _log(p, tmp_path, [("u1", 1, "A"), ("u1", 2, "B")])
    with pytest.raises(BadRequest, match=r"cannot be used: .*yesterday"):
        Scope(where="occurred_at > 'yesterday'").check(p.store)
    fine = Scope(where="occurred_at > '2026-01-01'")
    assert fine.check(p.store) is fine
