"""Typical journeys ("parcours types"): the customers' whole journeys grouped into a handful.

A journey is a customer's visits in time order, as `visits` counts them (so what the company
sends, email and SMS, and records such as CRM rows are not steps unless the scope names their
channels: sends and opens follow the campaign calendar, not the customer's path). Each visit is
one **step**, named by its channel, or `contact` when it carries an intent (a call, a chat, a
post to the service desk: which service channel is the detail, needing help is the shape;
channel switching has its own analysis). A run of more than `longest_run` (5) equal steps
counts as 5: past that, more of the same changes the length, not the shape (a cap of 3 made
three visits and ten the same journey). Customers with no step in the scope have no journey to
group and are left out.

The grouping works on the distinct journeys (variants) with their customers:

* the distance between two journeys is the mean of how they go and what they are made of,
  each from 0 (the same) to 1. How they go: the normalised Levenshtein distance between
  their steps (edits over the longer one's length), each step weighted by how rare it is:
  `1 + floor(log2(count of the commonest step / count of this step))`, at most 4 — adding a
  store purchase or a contact to a run of web visits changes a journey more than one more web
  visit. (rapidfuzz computes it on strings where a step of weight w is w equal characters.)
  Optimal matching in sequence analysis (Abbott & Tsay 2000; TraMineR's `seqdist`) weights
  its edits the same way. What they are made of: the total variation distance between their
  step mixes (each step's share of the journey, counted by its weight), which edits blur
  between journeys of different lengths — five web visits and a contact are far in edits
  from two web visits and a contact, but alike in what they are made of. On five demo worlds
  (400 to 1,500 customers) they recover the planted journey types with an adjusted Rand index
  of 0.45 on average, where edits alone gave 0.44 (runs capped at 5) and 0.42 (capped at 3);
* the `top` (300) most frequent variants are clustered by k-medoids (PAM: Kaufman &
  Rousseeuw 1990), each variant weighted by its customers: BUILD, then swaps while the total
  distance falls, from BUILD and from `restarts` random starts drawn with `seed`; the cheapest
  wins, so the same data and seed give the same clusters. k is given, or chosen by the
  weighted silhouette (every customer a point) in 2..8: the fewest clusters within 0.02 of the
  best — it plateaus, and a split that hardly tightens the clusters is not worth a name;
* every other variant joins the nearest medoid.

Each typical journey is named by its characteristic sub-paths: the contiguous runs of 2 to 4
steps (the journey framed by `(start)` and `(end)`) taken by at least 30 % of its customers
and most over-represented against the other customers (lift, with one pseudo-customer added
to the rest so that a sub-path nobody else takes has a finite lift). With it: its medoid (the
most typical journey), customers and share (shares add up to 1), conversion rate (customers
with the conversion event), mean effort per customer (the effort of their cases, see
`contacts`; 0 without contacts), the channel mix of its steps, and who follows it: tenure
(days from the first step to the last), value (the amount of their conversions) and a value
tier — until segments exist, the buyers' value tertiles over the whole result: `low`, `mid`,
`high`, and `none` for customers without a conversion.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from parcours.errors import BadRequest
from parcours.journeys.contacts import PURCHASE, EffortWeights, cases_query, contacts_query
from parcours.journeys.scope import Scope
from parcours.journeys.visits import GAP, visits_query
from parcours.sql import lit
from parcours.store.store import Store

LONGEST_RUN = 5
TOP_VARIANTS = 300
MAX_CLUSTERS = 8
RESTARTS = 4
MAX_WEIGHT = 4
MIN_SUPPORT = 0.3
SILHOUETTE_TOLERANCE = 0.02
CONTACT, START, END, ARROW = "contact", "(start)", "(end)", " → "
Matrix = npt.NDArray[np.float64]


def journey_visits_query(scope: Scope, *, gap: str | float = GAP) -> str:
    """One row per visit of a journey: customer_id, visit_number, step, channel, started_at,
    ended_at. The step is the channel, or `contact` for a visit with an intent."""
    return f"""
        SELECT customer_id, visit_number,
               CASE WHEN bool_or(intent IS NOT NULL) THEN {lit(CONTACT)}
                    ELSE arg_min(channel, occurred_at) END AS step,
               arg_min(channel, occurred_at) AS channel,
               min(occurred_at) AS started_at, max(occurred_at) AS ended_at
        FROM ({visits_query(scope, gap=gap)}) GROUP BY customer_id, visit_number
    """


def steps_query(journey_visits: str, longest_run: int = LONGEST_RUN) -> str:
    """One row per customer: `steps` (runs of one step cut to `longest_run`), `channels` (of
    every visit), first_at, last_at."""
    return f"""
        WITH runs AS (
            SELECT *, sum((previous IS DISTINCT FROM step)::INTEGER) OVER (
                       PARTITION BY customer_id ORDER BY visit_number
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
            FROM (SELECT *, lag(step) OVER (PARTITION BY customer_id ORDER BY visit_number)
                                AS previous
                  FROM ({journey_visits}))
        ),
        kept AS (
            SELECT *, row_number() OVER (PARTITION BY customer_id, run ORDER BY visit_number)
                          AS in_run
            FROM runs
        )
        SELECT customer_id,
               list(step ORDER BY visit_number) FILTER (WHERE in_run <= {int(longest_run)})
                   AS steps,
               list(channel ORDER BY visit_number) AS channels,
               min(started_at) AS first_at, max(ended_at) AS last_at
        FROM kept GROUP BY customer_id
    """


def journey_variants_query(steps: str) -> str:
    """The distinct journeys with their customers, the most frequent first (then the
    shortest, then in order of their steps: one order every time)."""
    return f"""
        SELECT steps AS variant, count(*) AS customers FROM ({steps})
        GROUP BY steps ORDER BY customers DESC, len(steps), steps
    """


def assigned_query(journeys: str, clusters: str) -> str:
    """Each customer's journey (a `steps_query` row) with its cluster: `clusters` maps
    variant → cluster."""
    return f"""
        SELECT j.*, m.cluster FROM ({journeys}) j JOIN {clusters} m ON j.steps = m.variant
    """


def profile_query(assigned: str, scope: Scope, conversion: str, cases: str) -> str:
    """Per cluster: customers, conversion rate, mean effort, tenure, value and value tiers
    (the buyers' tertiles over every cluster; `none` without a conversion)."""
    conversions = replace(scope, extra=(*scope.extra, f"name = {lit(conversion)}")).events(
        "customer_id, amount"
    )
    return f"""
        WITH bought AS (
            SELECT customer_id, sum(coalesce(amount, 0))::DOUBLE AS value
            FROM ({conversions}) GROUP BY customer_id
        ),
        effort AS (SELECT customer_id, sum(effort) AS effort FROM ({cases}) GROUP BY customer_id),
        per AS (
            SELECT a.cluster, b.customer_id IS NOT NULL AS converted,
                   coalesce(b.value, 0) AS value, coalesce(e.effort, 0) AS effort,
                   (epoch(a.last_at) - epoch(a.first_at)) / 86400 AS tenure_days
            FROM ({assigned}) a LEFT JOIN bought b USING (customer_id)
                 LEFT JOIN effort e USING (customer_id)
        ),
        cuts AS (
            SELECT quantile_cont(value, 1 / 3) AS low, quantile_cont(value, 2 / 3) AS mid
            FROM per WHERE converted
        ),
        tiered AS (
            SELECT per.*, CASE WHEN NOT converted THEN 'none' WHEN value <= low THEN 'low'
                               WHEN value <= mid THEN 'mid' ELSE 'high' END AS tier
            FROM per, cuts
        )
        SELECT cluster, count(*) AS customers,
               round(avg(converted::INTEGER), 4) AS conversion_rate,
               round(avg(effort), 3) AS mean_effort,
               round(avg(tenure_days), 1) AS mean_tenure_days,
               round(median(tenure_days), 1) AS median_tenure_days,
               round(avg(value), 2) AS mean_value,
               count(*) FILTER (WHERE tier = 'none') AS tier_none,
               count(*) FILTER (WHERE tier = 'low') AS tier_low,
               count(*) FILTER (WHERE tier = 'mid') AS tier_mid,
               count(*) FILTER (WHERE tier = 'high') AS tier_high,
               any_value(cuts.low) AS cut_low, any_value(cuts.mid) AS cut_mid
        FROM tiered, cuts GROUP BY cluster ORDER BY cluster
    """


def channel_mix_query(assigned: str) -> str:
    """Per cluster and channel, the visits of its journeys (every visit, runs uncut)."""
    return f"""
        SELECT cluster, channel, count(*) AS visits
        FROM (SELECT cluster, unnest(channels) AS channel FROM ({assigned}))
        GROUP BY ALL ORDER BY cluster, visits DESC, channel
    """


def step_weights(variants: list[tuple[str, ...]], customers: list[int]) -> dict[str, int]:
    """Each step's weight in the distance: 1 for the commonest, one more for each halving of
    its count, at most `MAX_WEIGHT`."""
    counts: Counter[str] = Counter()
    for steps, n in zip(variants, customers, strict=True):
        for step in steps:
            counts[step] += n
    if not counts:
        return {}
    most = max(counts.values())
    return {
        step: min(MAX_WEIGHT, 1 + int(math.log2(most / count))) for step, count in counts.items()
    }


def encode(variants: list[tuple[str, ...]], weights: dict[str, int]) -> list[str]:
    """Each journey as a string: a step of weight w is w copies of its own character."""
    letters = {step: chr(0x100 + i) for i, step in enumerate(sorted(weights))}
    return ["".join(letters[s] * weights[s] for s in steps) for steps in variants]


def distances(a: list[str], b: list[str]) -> Matrix:
    """Normalised Levenshtein distances between encoded journeys (0 same, 1 nothing shared)."""
    # Imported here, as pyarrow.compute below: other analyses need not wait for them.
    from rapidfuzz.distance import Levenshtein
    from rapidfuzz.process import cdist

    matrix: Matrix = cdist(
        a, b, scorer=Levenshtein.normalized_distance, dtype=np.float64, workers=-1
    )
    return matrix


def step_mix(variants: list[tuple[str, ...]], weights: dict[str, int]) -> Matrix:
    """Each journey's share of each step, a step counted by its weight as in the edit
    distance (rows add up to 1; columns in the order of the sorted steps)."""
    column = {step: i for i, step in enumerate(sorted(weights))}
    mix: Matrix = np.zeros((len(variants), len(weights)))
    for row, journey in enumerate(variants):
        total = sum(weights[step] for step in journey)
        for step in journey:
            mix[row, column[step]] += weights[step] / total
    return mix


def mix_distances(a: Matrix, b: Matrix) -> Matrix:
    """Total variation distances between step mixes: half the sum of the share differences
    (0 the same mix, 1 no step in common)."""
    matrix: Matrix = np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2) / 2
    return matrix


class JourneyDistance:
    """The distance between journeys (see the module's docstring), for one set of variants:
    the mean of the weighted edit distance and the distance between step mixes."""

    def __init__(self, variants: list[tuple[str, ...]], customers: list[int]) -> None:
        weights = step_weights(variants, customers)
        self.encoded = encode(variants, weights)
        self.mix = step_mix(variants, weights)

    def between(self, a: Sequence[int], b: Sequence[int]) -> Matrix:
        """Distances from the variants at indices `a` to those at `b`."""
        edits = distances([self.encoded[i] for i in a], [self.encoded[j] for j in b])
        matrix: Matrix = (edits + mix_distances(self.mix[list(a)], self.mix[list(b)])) / 2
        return matrix


def k_medoids(
    d: Matrix, w: npt.NDArray[np.float64], k: int, *, seed: int = 0, restarts: int = RESTARTS
) -> list[int]:
    """Weighted PAM: the k points minimising sum(w_i · distance to the nearest medoid), from
    BUILD and from `restarts` random starts (drawn with `seed`); the cheapest wins."""
    n = len(d)
    rng = np.random.default_rng(seed)
    starts = [_build(d, w, k)]
    starts += [sorted(rng.choice(n, size=k, replace=False).tolist()) for _ in range(restarts)]
    best: tuple[float, list[int]] | None = None
    for start in starts:
        medoids = _swap(d, w, start)
        cost = float((d[medoids].min(axis=0) * w).sum())
        if best is None or cost < best[0] - 1e-12:
            best = (cost, medoids)
    assert best is not None
    return best[1]


def _build(d: Matrix, w: npt.NDArray[np.float64], k: int) -> list[int]:
    medoids = [int(np.argmin(d @ w))]
    nearest = d[medoids[0]].copy()
    while len(medoids) < k:
        gain = (np.maximum(nearest[None, :] - d, 0) * w[None, :]).sum(axis=1)
        gain[medoids] = -1.0
        medoids.append(int(np.argmax(gain)))
        nearest = np.minimum(nearest, d[medoids[-1]])
    return medoids


def _swap(d: Matrix, w: npt.NDArray[np.float64], medoids: list[int]) -> list[int]:
    medoids = list(medoids)
    cost = float((d[medoids].min(axis=0) * w).sum())
    improved = True
    while improved:
        improved = False
        for i in range(len(medoids)):
            others = medoids[:i] + medoids[i + 1 :]
            kept = d[others].min(axis=0)
            costs = (np.minimum(kept[None, :], d) * w[None, :]).sum(axis=1)
            costs[medoids] = np.inf
            j = int(np.argmin(costs))
            if costs[j] < cost - 1e-9:
                medoids[i], cost, improved = j, float(costs[j]), True
    return medoids


def silhouette(d: Matrix, w: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    """The mean silhouette of the customers (each variant counted `w` times), as scikit-learn
    computes it on the customers one by one: a customer alone in a cluster scores 0."""
    clusters = np.unique(labels)
    if len(clusters) < 2:
        return 0.0
    members = [labels == c for c in clusters]
    sums = np.stack([d[:, m] @ w[m] for m in members], axis=1)
    sizes = np.array([w[m].sum() for m in members])
    own = np.searchsorted(clusters, labels)
    rows = np.arange(len(d))
    others = sizes[own] - 1  # the customer's own distance, 0, is not averaged in
    a = sums[rows, own] / np.maximum(others, 1)
    means = sums / sizes[None, :]
    means[rows, own] = np.inf
    b = means.min(axis=1)
    s = np.where(others > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float((s * w).sum() / w.sum())


@dataclass
class Clustering:
    """Variants → cluster (0-based, as the medoids are listed) and how k was chosen."""

    labels: list[int]
    medoids: list[int]
    """Indices into the variants."""
    silhouette: float | None
    clustered: int
    """How many of the most frequent variants were clustered (the rest joined the nearest)."""


def cluster_variants(
    variants: list[tuple[str, ...]],
    customers: list[int],
    *,
    clusters: int | None = None,
    top: int = TOP_VARIANTS,
    seed: int = 0,
) -> Clustering:
    """Cluster the journeys, most frequent first, each with its customers; see the module's
    docstring."""
    distance = JourneyDistance(variants, customers)
    n = min(top, len(variants))
    if n < 2:
        return Clustering([0] * len(variants), [0] if variants else [], None, n)
    d = distance.between(range(n), range(n))
    w = np.asarray(customers[:n], dtype=np.float64)
    tried: dict[int, tuple[float, list[int]]] = {}
    for k in [min(clusters, n)] if clusters else range(2, min(MAX_CLUSTERS, n) + 1):
        medoids = k_medoids(d, w, k, seed=seed)
        tried[k] = (silhouette(d, w, np.argmin(d[medoids], axis=0)), medoids)
    best = max(score for score, _ in tried.values())
    k = min(c for c in tried if tried[c][0] >= best - SILHOUETTE_TOLERANCE)
    score, medoids = tried[k]
    labels = np.argmin(distance.between(range(len(variants)), medoids), axis=1)
    return Clustering([int(c) for c in labels], medoids, round(score, 4), n)


def subpath_counts(
    variants: list[tuple[str, ...]], customers: list[int], labels: list[int]
) -> dict[int, Counter[tuple[str, ...]]]:
    """Per cluster, how many of its customers take each sub-path of 2 to 4 steps (journeys
    framed by (start) and (end), so a journey of one step has sub-paths too)."""
    counts: dict[int, Counter[tuple[str, ...]]] = {}
    for steps, n, label in zip(variants, customers, labels, strict=True):
        framed = (START, *steps, END)
        grams = {
            framed[i : i + length] for length in (2, 3, 4) for i in range(len(framed) - length + 1)
        }
        counts.setdefault(label, Counter()).update(dict.fromkeys(grams, n))
    return counts


def characteristic_subpaths(
    inside: Counter[tuple[str, ...]],
    everywhere: Counter[tuple[str, ...]],
    size: int,
    total: int,
    *,
    limit: int = 3,
) -> list[dict[str, Any]]:
    """The sub-paths most over-represented among a cluster's `size` customers (`inside`)
    against the other customers (`everywhere` less `inside`, of `total` in all), taken by at
    least `MIN_SUPPORT` of the cluster; none inside a better one, nor holding one."""
    rest = total - size
    found = []
    for gram, count in inside.items():
        support, others = count / size, everywhere[gram] - count
        lift = support / ((others + 1) / (rest + 1))
        if support >= MIN_SUPPORT and lift > 1:
            found.append((gram, support, others / rest if rest else 0.0, lift))
    found.sort(key=lambda g: (-round(g[3], 6), -len(g[0]), -g[1], g[0]))
    chosen: list[dict[str, Any]] = []
    for gram, support, elsewhere, lift in found:
        if len(chosen) == limit:
            break
        if any(_contains(c["steps"], gram) or _contains(gram, c["steps"]) for c in chosen):
            continue
        chosen.append(
            {
                "path": ARROW.join(gram),
                "steps": list(gram),
                "support": round(support, 4),
                "elsewhere": round(elsewhere, 4),
                "lift": round(lift, 3),
            }
        )
    return chosen


def _contains(longer: Sequence[str], part: Sequence[str]) -> bool:
    n = len(part)
    return any(tuple(longer[i : i + n]) == tuple(part) for i in range(len(longer) - n + 1))


@dataclass
class TypicalJourneys:
    """`journeys typical` as data; `to_dict()` is the stable JSON."""

    conversion: str
    clusters: int
    chosen_by: str
    """"given", or "silhouette" (the best in 2..8)."""
    silhouette: float | None
    seed: int
    customers: int
    """Customers with a journey in the scope: the shares are of these."""
    variants: int
    clustered_variants: int
    coverage: float
    """Share of the customers whose journey was among the clustered variants."""
    step_weights: dict[str, int] = field(default_factory=dict)
    value_tertiles: list[float | None] = field(default_factory=list)
    """The buyers' value cut-offs between the low, mid and high tiers."""
    typical: list[dict[str, Any]] = field(default_factory=list)
    _assigned: pa.Table | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def customers_in(self, cluster: int) -> list[str]:
        """The customers following typical journey `cluster` (1-based, as listed)."""
        import pyarrow.compute as pc

        if self._assigned is None:
            return []
        chosen = self._assigned.filter(pc.equal(self._assigned["cluster"], cluster))
        ids: list[str] = chosen["customer_id"].to_pylist()
        return sorted(ids)

    def assignments(self) -> dict[str, int]:
        """Every customer with the number of the typical journey they follow."""
        if self._assigned is None:
            return {}
        return dict(
            zip(
                self._assigned["customer_id"].to_pylist(),
                self._assigned["cluster"].to_pylist(),
                strict=True,
            )
        )


def typical_journeys(
    store: Store,
    scope: Scope | None = None,
    *,
    clusters: int | None = None,
    conversion: str = PURCHASE,
    top: int = TOP_VARIANTS,
    seed: int = 0,
    longest_run: int = LONGEST_RUN,
    gap: str = GAP,
    weights: EffortWeights | None = None,
) -> TypicalJourneys:
    """Group the scoped customers' journeys into typical ones; see the module's docstring."""
    if clusters is not None and not 2 <= clusters <= 20:
        raise BadRequest(f"{clusters} typical journeys", "ask for 2 to 20, or let it choose")
    if not 2 <= top <= 5000:
        raise BadRequest(f"Clustering the top {top} journeys", "choose a top from 2 to 5000")
    if longest_run < 1:
        raise BadRequest(f"A longest run of {longest_run}", "keep at least one step of a run")
    scope = scope or Scope()
    engine = store.engine
    visits = journey_visits_query(scope, gap=gap)
    # Sessionising is the costly part: done once, its answer is read three times.
    journeys = engine.query(steps_query(visits, longest_run))
    journeys_name = f"_journeys_{uuid.uuid4().hex}"
    with engine.registered(journeys_name, journeys):
        return _typical(store, scope, journeys_name, conversion, clusters, top, seed, weights)


def _typical(
    store: Store,
    scope: Scope,
    journeys: str,
    conversion: str,
    clusters: int | None,
    top: int,
    seed: int,
    weights: EffortWeights | None,
) -> TypicalJourneys:
    engine = store.engine
    rows = engine.query(journey_variants_query(f"SELECT * FROM {journeys}"))
    variants = [tuple(v) for v in rows["variant"].to_pylist()]
    counts: list[int] = rows["customers"].to_pylist()
    found = cluster_variants(variants, counts, clusters=clusters, top=top, seed=seed)
    medoids, labels = _numbered(found, counts)
    mapping = pa.table(
        {
            "variant": pa.array([list(v) for v in variants], pa.list_(pa.string())),
            "cluster": pa.array(labels, pa.int64()),
        }
    )
    cases = cases_query(contacts_query(scope), weights or EffortWeights())
    name = f"_typical_{uuid.uuid4().hex}"
    with engine.registered(name, mapping):
        assigned = assigned_query(f"SELECT * FROM {journeys}", name)
        profiles = engine.query(profile_query(assigned, scope, conversion, cases)).to_pylist()
        mix = engine.query(channel_mix_query(assigned)).to_pylist()
        customers = engine.query(f"SELECT customer_id, cluster FROM ({assigned})")
    grams = subpath_counts(variants, counts, labels)
    everywhere = sum(grams.values(), Counter[tuple[str, ...]]())
    total, variants_in = sum(counts), Counter(labels)
    typical = []
    for profile in profiles:
        c = profile["cluster"]
        subpaths = characteristic_subpaths(grams[c], everywhere, profile["customers"], total)
        channels = {m["channel"]: m["visits"] for m in mix if m["cluster"] == c}
        typical.append(
            _typical_journey(
                profile, variants[medoids[c - 1]], variants_in[c], subpaths, channels, total
            )
        )
    return TypicalJourneys(
        conversion,
        len(found.medoids),
        "given" if clusters else "silhouette",
        found.silhouette,
        seed,
        total,
        len(variants),
        found.clustered,
        round(sum(counts[: found.clustered]) / total, 4) if total else 0.0,
        step_weights(variants, counts),
        [profiles[0]["cut_low"], profiles[0]["cut_mid"]] if profiles else [],
        typical,
        customers,
    )


def _numbered(found: Clustering, counts: list[int]) -> tuple[list[int], list[int]]:
    """The medoids and each variant's cluster, numbered from 1 by customers, the most
    followed first."""
    size = Counter[int]()
    for label, n in zip(found.labels, counts, strict=True):
        size[label] += n
    order = sorted(range(len(found.medoids)), key=lambda c: (-size[c], found.medoids[c]))
    number = {c: i + 1 for i, c in enumerate(order)}
    return [found.medoids[c] for c in order], [number[c] for c in found.labels]


def _typical_journey(
    profile: dict[str, Any],
    medoid: tuple[str, ...],
    variants: int,
    subpaths: list[dict[str, Any]],
    channels: dict[str, int],
    total: int,
) -> dict[str, Any]:
    """One typical journey as the JSON shows it."""
    visits, n = sum(channels.values()), profile["customers"]
    return {
        "cluster": profile["cluster"],
        "name": subpaths[0]["path"] if subpaths else ARROW.join(medoid),
        "medoid": list(medoid),
        "characteristic": subpaths,
        "customers": n,
        "share": round(n / total, 6),
        "variants": variants,
        "conversion_rate": profile["conversion_rate"],
        "mean_effort": profile["mean_effort"],
        "channel_mix": {k: round(v / visits, 4) for k, v in channels.items()},
        "profile": {
            "mean_tenure_days": profile["mean_tenure_days"],
            "median_tenure_days": profile["median_tenure_days"],
            "mean_value": profile["mean_value"],
            "tiers": {
                t: round(profile[f"tier_{t}"] / n, 4) for t in ("none", "low", "mid", "high")
            },
        },
    }
