"""Personas: customers clustered on their behaviour (segments/persona_features.py: channel
mix, categories, devices, contact intents, time of day, value), described in words.

Method (scikit-learn): the features are standardised (`StandardScaler`: z-scores); k-means
(`KMeans`, Lloyd, seeded with `random_state`; 4 restarts) is fitted for each k in `ks` on a
seeded sample of up to `SELECT_SAMPLE` customers, and the k with the highest mean silhouette
(Rousseeuw 1987) on that sample is kept; the final model is fitted with that k (10 restarts)
on a seeded sample of up to `FIT_SAMPLE` customers, and every customer is assigned to the
nearest centroid in z-space. Personas are numbered by size (1: the largest). Same store, same
seed: same personas. The scaler and the centroids are saved as JSON (`save_model("persona",
...)`), so a customer scored later (`customers=`) is assigned by the saved model, no refit.

Each persona is described by its most distinctive features — the centroid's largest z-scores
(how many standard deviations the persona's mean is from all customers' mean) —, its share,
value (mean spend), conversion (the share of its customers who bought) and preferred channels
(the channels with the largest mean share of its customers' events); its name is made from
its two most distinctive traits above the mean.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from parcours.errors import BadRequest
from parcours.journeys.contacts import PURCHASE
from parcours.segments import persona_features as pf
from parcours.segments.scored import EVENTS, latest_model, save_model, write_scores
from parcours.store.store import Store

SELECT_SAMPLE = 5_000
FIT_SAMPLE = 20_000
SELECT_INITS, FIT_INITS = 4, 10
"""k-means restarts while choosing k, and for the final fit."""
WORDS = {
    "value:orders": "frequent buyers",
    "value:spend": "big spenders",
    "value:contacts": "support seekers",
    "value:events": "very active",
    "hour:night": "night owls",
    "hour:morning": "morning people",
    "hour:afternoon": "afternoon visitors",
    "hour:evening": "evening visitors",
}


@dataclass(frozen=True)
class Persona:
    number: int
    name: str
    customers: int
    share: float
    mean_spend: float
    conversion: float
    preferred_channels: list[dict[str, Any]]
    distinctive: list[dict[str, Any]]
    """feature, z (centroid z-score), persona_mean, overall_mean, in_words."""
    description: str


@dataclass(frozen=True)
class Personas:
    version: str
    k: int
    seed: int
    silhouettes: dict[str, float]
    """Mean silhouette on the sample for each k tried (the criterion k was chosen by)."""
    customers: int
    personas: list[Persona]
    written: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _trait(feature: str) -> str:
    kind, _, key = feature.partition(":")
    if feature in WORDS:
        return WORDS[feature]
    return {
        "channel": f"{key}-first",
        "category": f"{key} fans",
        "device": f"{key} users",
        "intent": f"{key.replace('_', ' ')} contacts",
    }.get(kind, feature)


def _name(names: list[str], z: np.ndarray) -> str:
    order = [i for i in np.argsort(-z) if z[i] > 0.25][:2]
    if not order:
        return "quiet customers"
    text = " · ".join(_trait(names[i]) for i in order)
    return text[:1].upper() + text[1:]


def _fit(matrix: np.ndarray, ks: range, seed: int) -> tuple[Any, Any, dict[str, float]]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(matrix)
    z = scaler.transform(matrix)
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(z))
    chosen = z[np.sort(pick[:SELECT_SAMPLE])]
    silhouettes: dict[str, float] = {}
    for k in ks:
        if k >= len(chosen):
            break
        labels = KMeans(k, n_init=SELECT_INITS, random_state=seed).fit_predict(chosen)
        if len(set(labels)) > 1:
            silhouettes[str(k)] = round(float(silhouette_score(chosen, labels)), 4)
    if not silhouettes:
        raise BadRequest(
            f"Too few distinct customers ({len(z)}) to find personas",
            "import more customers' events, or ask for fewer personas (ks)",
        )
    best = max(silhouettes, key=lambda k: (silhouettes[k], -int(k)))
    model = KMeans(int(best), n_init=FIT_INITS, random_state=seed).fit(
        z[np.sort(pick[:FIT_SAMPLE])]
    )
    return scaler, model, silhouettes


def _assign(z: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (squared Euclidean in z-space) and the distance to it."""
    d = (z**2).sum(1)[:, None] - 2 * z @ centroids.T + (centroids**2).sum(1)[None, :]
    nearest = d.argmin(1)
    return nearest, np.sqrt(np.maximum(d[np.arange(len(z)), nearest], 0))


def personas(
    store: Store,
    *,
    ks: range | list[int] = range(3, 9),
    seed: int = 7,
    purchase: str = PURCHASE,
    customers: str | None = None,
    events: str = EVENTS,
    write: bool = True,
) -> Personas:
    """Fit personas on every customer (k chosen by silhouette over `ks`) and assign each; with
    `customers` (SQL selecting customer_id), assign only those with the saved model (no
    refit; the cards then describe those customers). Written as the `persona` score (value:
    the persona's number; label: its name) unless `write` is false."""
    engine = store.engine
    scope = "" if customers is None else f" WHERE customer_id IN ({customers})"
    if customers is None:
        features = pf.discover(engine, scope)
        table = pf.read(engine, features, purchase, scope)
        if len(table.matrix) < 3:
            raise BadRequest(
                f"Too few customers ({len(table.matrix)}) to find personas",
                "import events and resolve customers first",
            )
        scaler, model, silhouettes = _fit(table.matrix, range(*_bounds(ks)), seed)
        mean, scale = scaler.mean_, scaler.scale_
        centroids = model.cluster_centers_
        z = (table.matrix - mean) / scale
        nearest, _ = _assign(z, centroids)
        order = sorted(range(len(centroids)), key=lambda c: (-(nearest == c).sum(), c))
        centroids = centroids[order]
    else:
        saved = latest_model(engine, "persona")
        if saved is None:
            raise BadRequest(
                "No persona model to assign these customers with",
                "fit personas first (parcours scores personas), then assign touched customers",
            )
        params = saved["parameters"]
        purchase = str(params.get("purchase", purchase))  # the model's, not the default
        features = [pf.Feature(f["kind"], f["key"]) for f in params["features"]]
        table = pf.read(engine, features, purchase, scope, events)
        mean, scale = np.array(params["mean"]), np.array(params["scale"])
        centroids, silhouettes = np.array(params["centroids"]), params["silhouettes"]
        seed = params["seed"]
    z = (table.matrix - mean) / scale
    nearest, distance = _assign(z, centroids) if len(z) else (np.zeros(0, int), np.zeros(0))
    names = [f.name for f in features]
    cards = _describe(table, z, nearest, centroids, names, mean, scale)
    parameters = {
        "features": [{"kind": f.kind, "key": f.key} for f in features],
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "centroids": centroids.tolist(),
        "names": [card.name for card in cards] if customers is None else params["names"],
        "seed": seed,
        "silhouettes": silhouettes,
        "purchase": purchase,
    }
    version = (
        "persona:"
        + hashlib.sha256(
            orjson.dumps({k: parameters[k] for k in ("features", "centroids", "names")})
        ).hexdigest()[:10]
    )
    if customers is not None:
        cards = [
            Persona(**{**asdict(card), "name": parameters["names"][card.number - 1]})
            for card in cards
        ]
    written = None
    if write:
        if customers is None:
            save_model(engine, "persona", version, parameters, {"silhouettes": silhouettes})
        labels = pa.table(
            {
                "customer_id": table.customers,
                "value": pa.array(nearest + 1, pa.int32()),
                "label": pa.array([parameters["names"][i] for i in nearest], pa.string()),
                "details": pa.array(
                    [orjson.dumps({"distance": round(float(d), 4)}).decode() for d in distance],
                    pa.string(),
                ),
            }
        )
        with engine.registered("_persona_rows", labels):
            done = write_scores(
                engine,
                "persona",
                "SELECT * FROM _persona_rows",
                version=version,
                customers_sql=customers,
            )
        written = asdict(done)
    return Personas(version, len(centroids), seed, silhouettes, len(z), cards, written)


def _bounds(ks: range | list[int]) -> tuple[int, int]:
    values = sorted(ks)
    if not values:
        raise BadRequest(
            "No number of personas to try (an empty range: is the least above the most?)",
            "give the least and the most, e.g. --k-min 3 --k-max 8",
        )
    if values[0] < 2:
        raise BadRequest(f"Cannot try {list(values)} personas", "give ks of 2 or more, e.g. 3-8")
    return values[0], values[-1] + 1


def _describe(
    table: pf.Table,
    z: np.ndarray,
    nearest: np.ndarray,
    centroids: np.ndarray,
    names: list[str],
    mean: np.ndarray,
    scale: np.ndarray,
) -> list[Persona]:
    total = len(z)
    overall = table.matrix.mean(0) if total else mean
    channels = [i for i, n in enumerate(names) if n.startswith("channel:")]
    cards = []
    for c, centroid in enumerate(centroids):
        members = nearest == c
        count = int(members.sum())
        own = table.matrix[members].mean(0) if count else mean + centroid * scale
        zs = (own - mean) / scale
        top = sorted(range(len(names)), key=lambda i: -abs(zs[i]))[:4]
        distinctive = [
            {
                "feature": names[i],
                "z": round(float(zs[i]), 2),
                "persona_mean": round(float(own[i]), 4),
                "overall_mean": round(float(overall[i]), 4),
                "in_words": f"{'more' if zs[i] > 0 else 'less'} {_trait(names[i])} "
                f"({zs[i]:+.1f} sd)",
            }
            for i in top
        ]
        preferred = sorted(channels, key=lambda i: -own[i])[:3]
        name = _name(names, zs)
        cards.append(
            Persona(
                number=c + 1,
                name=name,
                customers=count,
                share=round(count / total, 4) if total else 0.0,
                mean_spend=round(float(table.spent[members].mean()), 2) if count else 0.0,
                conversion=round(float(table.bought[members].mean()), 4) if count else 0.0,
                preferred_channels=[
                    {"channel": names[i].partition(":")[2], "share": round(float(own[i]), 4)}
                    for i in preferred
                ],
                distinctive=distinctive,
                description="; ".join(str(d["in_words"]) for d in distinctive),
            )
        )
    seen: dict[str, int] = {}
    unique = []
    for card in cards:
        seen[card.name] = seen.get(card.name, 0) + 1
        name = card.name if seen[card.name] == 1 else f"{card.name} ({seen[card.name]})"
        unique.append(Persona(**{**asdict(card), "name": name}))
    return unique
