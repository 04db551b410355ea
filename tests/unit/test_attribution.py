"""Attribution models against references: a published toy case, brute-force Shapley, and the
absorbing chain solved a second, independent way (value iteration)."""

from __future__ import annotations

import itertools
import math
import random

import pyarrow as pa
import pytest

from parcours.journeys.attribution import attribute


def _paths(rows: list[tuple[list[str], int, int]]) -> pa.Table:
    return pa.table(
        {
            "touchpoints": [r[0] for r in rows],
            "conversions": [r[1] for r in rows],
            "nulls": [r[2] for r in rows],
        }
    )


def _credit(result: object, model: str) -> dict[str, float]:
    return {r["touchpoint"]: r[model] for r in result.by_touchpoint}  # type: ignore[attr-defined]


def test_the_two_channel_toy_case() -> None:
    """Puzyrov (2019), checked by hand and by ChannelAttribution in
    ../shared/reference/anchors-python-peers.md §2.3: `google ads` 2 conversions and 1 null,
    `mailing` 1 conversion, `google ads > mailing` 1 conversion. P(conversion) = 0.8; removal
    effects 0.75 and 0.5; exact Markov credit 2.4 / 1.6; Zhao's Shapley 2.5 / 1.5."""
    toy = _paths([(["google ads"], 2, 1), (["mailing"], 1, 0), (["google ads", "mailing"], 1, 0)])
    result = attribute(toy)
    assert result.conversion_probability == pytest.approx(0.8)
    assert _credit(result, "removal_effect") == pytest.approx({"google ads": 0.75, "mailing": 0.5})
    assert _credit(result, "markov") == pytest.approx({"google ads": 2.4, "mailing": 1.6})
    assert _credit(result, "shapley") == pytest.approx({"google ads": 2.5, "mailing": 1.5})
    assert _credit(result, "first_touch") == {"google ads": 3.0, "mailing": 1.0}
    assert _credit(result, "last_touch") == {"google ads": 2.0, "mailing": 2.0}
    assert _credit(result, "markov_budget") == pytest.approx({"google ads": 60.0, "mailing": 40.0})


def _random_paths(seed: int, channels: str = "abcde") -> list[tuple[list[str], int, int]]:
    rng = random.Random(seed)
    return [
        (
            [rng.choice(channels) for _ in range(rng.randint(1, 5))],
            rng.randint(0, 3),
            rng.randint(0, 3),
        )
        for _ in range(30)
    ]


def _brute_force_shapley(rows: list[tuple[list[str], int, int]]) -> dict[str, float]:
    """Shapley values by every ordering of the players, with Zhao et al.'s characteristic
    function: v(S) = conversions of journeys whose channels are all in S."""
    players = sorted({c for path, _, _ in rows for c in path})

    def v(coalition: frozenset[str]) -> float:
        return float(sum(conv for path, conv, _ in rows if set(path) <= coalition))

    value = dict.fromkeys(players, 0.0)
    for order in itertools.permutations(players):
        joined: frozenset[str] = frozenset()
        for player in order:
            value[player] += v(joined | {player}) - v(joined)
            joined |= {player}
    return {p: total / math.factorial(len(players)) for p, total in value.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shapley_equals_brute_force(seed: int) -> None:
    rows = _random_paths(seed)
    ours = _credit(attribute(_paths(rows)), "shapley")
    assert ours == pytest.approx(_brute_force_shapley(rows))


def _value_iteration(rows: list[tuple[list[str], int, int]], removed: str | None) -> float:
    """P(conversion from start) by iterating x = Q x + r to a fixed point: the same chain as
    the linear solve, computed another way."""
    counts: dict[str, dict[str, float]] = {}
    for path, conv, null in rows:
        chain = ["(start)", *path]
        for a, b in itertools.pairwise(chain):
            counts.setdefault(a, {}).setdefault(b, 0.0)
            counts[a][b] += conv + null
        counts.setdefault(chain[-1], {}).setdefault("(conversion)", 0.0)
        counts[chain[-1]]["(conversion)"] += conv
        counts[chain[-1]].setdefault("(null)", 0.0)
        counts[chain[-1]]["(null)"] += null
    x = dict.fromkeys(counts, 0.0)
    for _ in range(5_000):
        for state, out in counts.items():
            total = sum(out.values())
            x[state] = (
                0.0
                if state == removed
                else sum(
                    n / total * (1.0 if to == "(conversion)" else x.get(to, 0.0))
                    for to, n in out.items()
                    if to != "(null)"
                )
            )
    return x["(start)"]


@pytest.mark.parametrize("seed", [4, 5])
def test_markov_removal_effects_equal_value_iteration(seed: int) -> None:
    rows = _random_paths(seed)
    result = attribute(_paths(rows))
    base = _value_iteration(rows, None)
    assert result.conversion_probability == pytest.approx(base, abs=1e-6)
    for channel, effect in _credit(result, "removal_effect").items():
        assert effect == pytest.approx((base - _value_iteration(rows, channel)) / base, abs=1e-6)
    total = sum(conv for _, conv, _ in rows)
    assert sum(_credit(result, "markov").values()) == pytest.approx(total)
