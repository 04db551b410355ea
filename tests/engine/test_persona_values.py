"""Personas on a log of three planted behaviours: found, stable, and new customers assigned by
the saved model without a refit."""

from __future__ import annotations

from pathlib import Path

import pytest
from purchase_log import GROUPS, behaviours, import_rows
from sklearn.metrics import adjusted_rand_score

import parcours
from parcours.errors import BadRequest
from parcours.segments.personas import personas


def persona_of(p: parcours.Parcours) -> dict[str, int]:
    """user_id -> persona number, as stored."""
    rows = p.sql(
        "SELECT m.value AS user, CAST(s.value AS INT) AS persona FROM customer_scores s "
        "JOIN identity_map m USING (customer_id) WHERE s.score = 'persona' AND m.type = 'user_id'"
    ).to_pylist()
    return {r["user"]: r["persona"] for r in rows}


@pytest.fixture
def planted(p: parcours.Parcours, tmp_path: Path) -> tuple[parcours.Parcours, dict[str, str]]:
    rows, groups = behaviours()
    import_rows(p, tmp_path, rows)
    return p, groups


def test_planted_behaviours_are_found_and_described(
    planted: tuple[parcours.Parcours, dict[str, str]],
) -> None:
    """The three behaviours of the log are three personas (k by silhouette over 2-6), one per
    behaviour (adjusted Rand index 1 against the planted groups), each named and described by
    what sets it apart: the store buyers by the store, the app users by the app or iOS, the
    support callers by their contacts (among their four most distinctive features)."""
    p, groups = planted
    result = personas(p.store, ks=range(2, 7))
    assert result.k == 3 and max(result.silhouettes, key=result.silhouettes.get) == "3"
    found = persona_of(p)
    users = sorted(groups)
    assert adjusted_rand_score([groups[u] for u in users], [found[u] for u in users]) == 1.0
    by_group = {groups[u]: found[u] for u in users}
    cards = {c.number: c for c in result.personas}
    store, app, support = (cards[by_group[g]] for g in GROUPS)
    assert store.preferred_channels[0]["channel"] == "store" and store.conversion == 1.0
    assert app.preferred_channels[0]["channel"] == "app"
    assert {d["feature"] for d in app.distinctive} & {"channel:app", "device:ios"}
    contact = {"value:contacts", "intent:delivery", "intent:billing", "channel:call"}
    assert {d["feature"] for d in support.distinctive if d["z"] > 0} & contact
    assert all(c.share == pytest.approx(1 / 3, abs=1e-4) for c in result.personas)
    assert len({c.name for c in result.personas}) == 3


def test_personas_are_stable_across_runs(
    planted: tuple[parcours.Parcours, dict[str, str]],
) -> None:
    p, _ = planted
    first = personas(p.store, ks=range(2, 7))
    scores = persona_of(p)
    second = personas(p.store, ks=range(2, 7))
    assert second.personas == first.personas and second.version == first.version
    assert persona_of(p) == scores
    assert second.written is not None and second.written["changed"] == 0


def test_new_customers_are_assigned_by_the_saved_model(
    planted: tuple[parcours.Parcours, dict[str, str]], tmp_path: Path
) -> None:
    """Customers imported after the fit, behaving like the planted groups, are assigned to
    their group's persona by the saved model: no new model is fitted, the others keep theirs;
    and assigning existing customers through the same path gives what the fit gave them."""
    p, groups = planted
    personas(p.store, ks=range(2, 7))
    before = persona_of(p)
    models = p.sql("SELECT count(*) AS n FROM score_models WHERE score = 'persona'")
    rows, new_groups = behaviours(per_group=5, seed=99, prefix="new")
    import_rows(p, tmp_path, rows, source="new")
    touched = "SELECT customer_id FROM identity_map WHERE value LIKE 'new-%'"
    result = personas(p.store, customers=touched)
    assert result.customers == 15
    assert p.sql("SELECT count(*) AS n FROM score_models WHERE score = 'persona'") == models
    after = persona_of(p)
    persona_by_group = {groups[u]: before[u] for u in groups}
    assert {u: after[u] for u in new_groups} == {
        u: persona_by_group[g] for u, g in new_groups.items()
    }
    assert {u: after[u] for u in before} == before
    again = personas(p.store, customers="SELECT customer_id FROM customer_events")
    assert again.written is not None and again.written["changed"] == 0


def test_assigning_without_a_model_is_refused(p: parcours.Parcours) -> None:
    with pytest.raises(BadRequest, match="fit personas first"):
        personas(p.store, customers="SELECT 'x' AS customer_id")
