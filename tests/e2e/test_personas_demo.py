"""Personas on the demo world, against the journey types the generator planted.

Each true customer of the demo follows a planted journey type (truth/customers.csv: web
researcher, store loyal, app native, support heavy, one-time buyer, inactive). Personas are
fitted on behaviour alone and compared with those types on the customers identity resolution
got exactly right (as tests/e2e/test_typical_journeys.py does), by the adjusted Rand index.

Measured when written (k chosen by silhouette over 3-8, seed 7): 0.248 on this world (400
customers, seed 7, 214 resolved exactly) and 0.316 on 5,000 customers (2,605 resolved
exactly); a random grouping scores 0. It cannot be near 1: the types overlap by design (see
test_typical_journeys.py), and personas cluster the mix of behaviour, not the journey's
order. FLOOR leaves room for the demo to grow (new channels, churners) without losing the
signal.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from demo_world import exactly_resolved, truth_rows
from sklearn.metrics import adjusted_rand_score

import parcours

FLOOR = 0.15
"""The adjusted Rand index personas must reach against the planted journey types."""


def test_personas_recover_the_planted_journey_types(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _ = demo
    planted = {r["customer_id"]: r["journey_type"] for r in truth_rows(out, "customers.csv")}
    store = tmp_path / "demo.duckdb"  # a copy: the shared demo store stays as the demo left it
    shutil.copy(out / "parcours.duckdb", store)
    with parcours.connect(store) as p:
        result = p.scores.personas()
        exact = exactly_resolved(p, out)
        rows = p.sql("SELECT customer_id, value FROM customer_scores WHERE score = 'persona'")
    persona = dict(zip(*rows.to_pydict().values(), strict=True))
    customers = sorted(c for c in persona if c in exact)
    assert len(customers) > 150
    index = adjusted_rand_score(
        [planted[exact[c]] for c in customers], [persona[c] for c in customers]
    )
    print(f"personas vs planted journey types: ARI {index:.3f} on {len(customers)} customers")
    assert index > FLOOR
    assert 3 <= result.k <= 8 and sum(c.customers for c in result.personas) == len(persona)
