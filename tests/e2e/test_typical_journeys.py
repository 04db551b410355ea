"""Typical journeys on the demo world, against the journey types the generator planted.

The generator gives every true customer a journey type (truth/customers.csv: web researcher,
store loyal, app native, support heavy, one-time buyer, inactive) and makes each behave its
way (src/parcours/demo/visits.py, service.py). The typical journeys parcours finds must recover
them, as far as behaviour shows them: the comparison is made on the customers identity
resolution got exactly right (every identifier of the true customer in one resolved customer,
nothing else in it), as in test_journeys_demo.py — a cookie that never signed in is a
customer of its own with a half-journey, and no grouping could place it by its owner's type.

The bar is a trivial baseline, computed here on the same customers: rules that read the store
without any clustering — a contact makes a support customer, else a store purchase a store
customer, else an app visit an app customer, else the web (the issue's four rules), and the
same with web customers split by how many days they came to the web (cut at 2 to 6 days; the
best cut is kept, so the baseline is the strongest of these rules). The clustering must beat
the best of them by BEAT_BY in adjusted Rand index. Measured when written, clustering against
the best rule: 0.451 against 0.382 on this world (400 customers, seed 7, 214 resolved
exactly); 0.447 against 0.416 (400, seed 11); 0.432 against 0.358 (600, seed 5); 0.465 against
0.396 (1,000, seed 21); 0.453 against 0.391 (1,500, seed 3); 0.446 against 0.392 (3,000,
seed 13). The four rules alone score 0.23-0.29. It cannot be near 1: the types overlap by
design — a store-loyal customer who has not bought yet browses the web like a researcher, a
one-time buyer who did not buy and an inactive customer both come once or twice and leave —
and a decision tree *trained* on the
truth (visits per channel, events, dates; 5-fold) reaches only 0.49-0.52 on the same
customers.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from demo_world import exactly_resolved, truth_rows
from sklearn.metrics import adjusted_rand_score, silhouette_score

import parcours
from parcours.journeys.scope import Scope
from parcours.journeys.typical import (
    JourneyDistance,
    distances,
    encode,
    k_medoids,
    mix_distances,
    silhouette,
    step_mix,
    typical_journeys,
)

BEAT_BY = 0.05
"""How far the clustering's adjusted Rand index must be above the best trivial rule's."""


@pytest.fixture(scope="module")
def world(demo: tuple[Path, dict[str, Any]]) -> Any:
    out, _ = demo
    planted = {r["customer_id"]: r["journey_type"] for r in truth_rows(out, "customers.csv")}
    with parcours.connect(out / "parcours.duckdb", read_only=True) as p:
        exact = exactly_resolved(p, out)
        yield p, {resolved: planted[true] for resolved, true in exact.items()}


@pytest.fixture(scope="module")
def typical(world: Any) -> Any:
    p, _ = world
    return typical_journeys(p.store, seed=7)


def trivial_rules(p: parcours.Parcours) -> dict[str, dict[str, str]]:
    """Each rule's label for every customer (see the module's docstring): the four rules, and
    the same with web customers split at 2 to 6 days of web visits."""
    splits = ", ".join(
        f"CASE WHEN kind = 'web' AND web_days >= {days} THEN 'web, {days} days or more' "
        f"ELSE kind END AS split_at_{days}"
        for days in range(2, 7)
    )
    rows = p.sql(
        f"""
        SELECT customer_id, kind AS four_rules, {splits} FROM (
            SELECT customer_id,
                   CASE WHEN bool_or(intent IS NOT NULL) THEN 'contact'
                        WHEN bool_or(channel = 'store') THEN 'store'
                        WHEN bool_or(channel = 'app') THEN 'app' ELSE 'web' END AS kind,
                   count(DISTINCT CAST(occurred_at AS DATE)) FILTER (WHERE channel = 'web')
                       AS web_days
            FROM customer_events GROUP BY customer_id)
        """
    ).to_pylist()
    return {
        rule: {r["customer_id"]: r[rule] for r in rows} for rule in rows[0] if rule != "customer_id"
    }


def test_typical_journeys_recover_the_planted_types_better_than_trivial_rules(
    world: Any, typical: Any
) -> None:
    p, planted = world
    clusters = typical.assignments()
    compared = sorted(c for c in planted if c in clusters)
    assert len(compared) >= 150, "too few exactly resolved customers with a journey"
    truth = [planted[c] for c in compared]
    ari = adjusted_rand_score(truth, [clusters[c] for c in compared])
    baselines = {
        rule: adjusted_rand_score(truth, [labels[c] for c in compared])
        for rule, labels in trivial_rules(p).items()
    }
    best = max(baselines, key=lambda rule: baselines[rule])
    assert ari >= baselines[best] + BEAT_BY, (
        f"adjusted Rand index {ari:.3f}, not {BEAT_BY} above {best}'s {baselines[best]:.3f}"
    )


@pytest.mark.parametrize(
    ("step", "planted_type"),
    [("contact", "support_heavy"), ("app", "app_native"), ("store", "store_loyal")],
)
def test_the_typical_journey_of_a_step_is_mostly_its_planted_type(
    world: Any, typical: Any, step: str, planted_type: str
) -> None:
    """The typical journey whose medoid holds a contact is mostly the support-heavy
    customers' (an app visit: app natives'; a store purchase: store-loyal customers'): their
    type is the most common, and at least half. Few store buyers resolve exactly (their
    receipts are anonymous): on the 400-customer world, seed 7, the store journey compares 4
    customers (2 store-loyal, 1 one-time, 1 inactive since the demo plants churn, loyalty and
    SMS), the app journey 39 (33 app natives), the contact journey 31 (25 support-heavy)."""
    _, planted = world
    clusters = typical.assignments()
    holding = {t["cluster"] for t in typical.typical if step in t["medoid"]}
    assert holding, f"no typical journey with {step} in its medoid"
    types: dict[int, Counter[str]] = {c: Counter() for c in holding}
    for customer, kind in planted.items():
        if clusters.get(customer) in holding:
            types[clusters[customer]][kind] += 1
    biggest = max(types.values(), key=lambda t: t.total())
    assert biggest.most_common(1)[0][0] == planted_type
    assert biggest[planted_type] >= biggest.total() / 2


def test_the_same_seed_gives_the_same_typical_journeys(world: Any, typical: Any) -> None:
    p, _ = world
    again = typical_journeys(p.store, seed=7)
    assert again.to_dict() == typical.to_dict()
    assert again.assignments() == typical.assignments()


def test_shares_add_up_and_every_customer_follows_one_typical_journey(typical: Any) -> None:
    result = typical.to_dict()
    assert 2 <= result["clusters"] <= 8 and result["chosen_by"] == "silhouette"
    assert len(result["typical"]) == result["clusters"]
    assert sum(t["share"] for t in result["typical"]) == pytest.approx(1, abs=1e-5)
    assert sum(t["customers"] for t in result["typical"]) == result["customers"]
    assert len(typical.assignments()) == result["customers"]
    for t in result["typical"]:
        assert sorted(typical.customers_in(t["cluster"])) == sorted(
            c for c, n in typical.assignments().items() if n == t["cluster"]
        )
        assert sum(t["profile"]["tiers"].values()) == pytest.approx(1, abs=1e-3)
        assert sum(t["channel_mix"].values()) == pytest.approx(1, abs=1e-3)
        assert 0 <= t["conversion_rate"] <= 1 and t["mean_effort"] >= 0
        assert t["name"] and t["characteristic"], "every typical journey is named"
        assert all(s["support"] >= 0.3 and s["lift"] > 1 for s in t["characteristic"])
    # Store purchases are conversions: a typical journey of store purchases converts.
    store = next(t for t in result["typical"] if t["medoid"] == ["store"])
    assert store["conversion_rate"] > 0.9


def test_a_scope_narrows_the_journeys(world: Any, typical: Any) -> None:
    p, _ = world
    web = typical_journeys(p.store, Scope(channels=("web",)), seed=7)
    assert 0 < web.customers <= typical.customers
    assert set(web.step_weights) == {"web"}
    assert all(set(t["channel_mix"]) == {"web"} for t in web.typical)
    some = sorted(typical.assignments())[:60]
    segment = typical_journeys(p.store, Scope(customers=Scope.of_customers(some)), clusters=3)
    assert segment.customers == 60 and set(segment.assignments()) == set(some)
    assert segment.clusters == 3 and segment.chosen_by == "given"


def test_the_distance_weighs_rare_steps_more() -> None:
    weights = {"web": 1, "contact": 4}
    a, b, c = encode([("web", "web"), ("web", "web", "contact"), ("web", "web", "web")], weights)
    d = distances([a], [b, c])
    assert d[0].tolist() == pytest.approx([4 / 6, 1 / 3])


def test_the_distance_averages_edits_and_the_mix_of_steps() -> None:
    """By hand, with web weighing 1 and contact 4: five web visits and a contact ("wwwwwCCCC")
    against two and a contact ("wwCCCC") are 3 deletions over 9 apart in edits; their mixes
    are web 5/9, contact 4/9 and web 2/6, contact 4/6, so 5/9 - 1/3 = 2/9 apart (total
    variation); the distance is the mean, 5/18."""
    long, short = ("web",) * 5 + ("contact",), ("web", "web", "contact")
    weights = {"web": 1, "contact": 4}
    mix = step_mix([long, short], weights)
    assert mix.ravel().tolist() == pytest.approx([4 / 9, 5 / 9, 2 / 3, 1 / 3])  # contact, web
    assert mix_distances(mix[:1], mix[1:])[0, 0] == pytest.approx(2 / 9)
    # With the weights these two journeys give (web 7 times, contact twice: contact weighs
    # 1 + floor(log2(7 / 2)) = 2): "wwwwwCC" against "wwCC" is 3/7 in edits, and the mixes
    # (web 5/7 and 2/4) are 3/14 apart: the mean is 9/28.
    distance = JourneyDistance([long, short], [1, 1])
    assert distance.between([0], [1])[0, 0] == pytest.approx(9 / 28)


def test_the_weighted_silhouette_equals_scikit_learns_on_the_customers() -> None:
    rng = np.random.default_rng(1)
    points = rng.normal(size=(12, 2)) + np.repeat([[0, 0], [4, 0], [0, 4]], 4, axis=0)
    w = rng.integers(1, 5, size=12).astype(float)
    labels = np.repeat([0, 1, 2], 4)
    labels[5] = 0
    d = np.linalg.norm(points[:, None] - points[None, :], axis=2)
    each = np.repeat(np.arange(12), w.astype(int))  # every customer a point
    expected = silhouette_score(d[np.ix_(each, each)], labels[each], metric="precomputed")
    assert silhouette(d, w, labels) == pytest.approx(expected)


def test_k_medoids_finds_the_brute_force_optimum_on_a_small_case() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(14, 2))
    d = np.linalg.norm(points[:, None] - points[None, :], axis=2)
    w = rng.integers(1, 6, size=14).astype(float)

    def cost(medoids: Any) -> float:
        return float((d[list(medoids)].min(axis=0) * w).sum())

    best = min(cost(m) for m in itertools.combinations(range(14), 3))
    assert cost(k_medoids(d, w, 3, seed=0)) == pytest.approx(best)
