"""The learned health model: churn probability from the signals, calibrated, explained per
customer, kept as JSON.

A logistic regression (scikit-learn) on standardised signals — counts, spend and days taken as
log(1 + x), so that a tenth visit weighs less than a second, and clipped at ±4 standard
deviations — calibrated by Platt scaling
(Platt 1999: a sigmoid fit on cross-validated decision values, `CalibratedClassifierCV(method=
"sigmoid", ensemble=False)`, 5 folds) so that a score of 80 means a 20 % churn risk. Assumes
churn is monotone in each signal once transformed, and that the signals' link with churn at
train time holds at score time (the out-of-time back-test checks the second).

A customer's explanation: for each signal, how many health points the customer's value costs or
earns against the training mean of that signal, the others as they are —
100 × (P(churn | signal at its mean) − P(churn)) — the top ones in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from parcours.errors import BadRequest
from parcours.segments.features import Features

Floats = npt.NDArray[np.float64]

MODEL_SIGNALS = (
    "visits_30d",
    "visits_prior_60d",
    "visit_trend",
    "days_since_activity",
    "tenure_days",
    "purchases_90d",
    "spend_90d",
    "purchases_total",
    "days_since_purchase",
    "contacts_90d",
    "repeat_contacts_90d",
    "unresolved_cases_90d",
    "negative_posts_90d",
    "messages_90d",
    "opens_90d",
    "clicks_90d",
    "replies_90d",
    "engagement_rate_90d",
    "satisfaction",
)
LINEAR = ("visit_trend", "engagement_rate_90d", "satisfaction")
"""Signals taken as they are; every other is a count, an amount or days: log(1 + x)."""
NEVER_DAYS = 365.0
"""`days_since_purchase` of a customer who never bought."""
FOLDS = 5
CLIP = 4.0
"""Standardised inputs are clipped to ±CLIP: a signal that barely varied in training (tenure,
when every customer of the training date started together) must not swing a score later."""
REGULARISATION = 0.3
"""C of the logistic regression (inverse L2 strength): a little shrinkage for small bases."""
SOLVER = "newton-cholesky"
"""Newton's method on the exact Hessian: a handful of steps for a few signals and many
customers (scikit-learn's advice when customers far outnumber signals), where L-BFGS takes
hundreds."""
MOST = 50_000
"""Customers a fit learns from at most: a uniform random sample (seeded) of larger bases. Some
twenty coefficients are known to a few hundredths from 50,000 customers; the sample keeps the
churn rate, so Platt's calibration stays unbiased, and a fit takes seconds, not a minute."""


def design(features: Features, names: tuple[str, ...] = MODEL_SIGNALS) -> Floats:
    """The model's inputs (one column per name), transformed; NaN where a value is missing
    (except `days_since_purchase`: never bought is `NEVER_DAYS`)."""
    columns = []
    for name in names:
        values = features.values[name].copy()
        if name == "days_since_purchase":
            values = np.where(np.isnan(values), NEVER_DAYS, values)
        if name not in LINEAR:
            values = np.log1p(np.maximum(values, 0))
        columns.append(values)
    return np.column_stack(columns) if columns else np.zeros((len(features), 0))


def expit(x: Floats) -> Floats:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


@dataclass
class HealthModel:
    """Churn probability from signals. `fit` learns the attributes ending in `_`."""

    regularisation: float = REGULARISATION
    signals_: tuple[str, ...] = ()
    fill_: Floats | None = None
    mean_: Floats | None = None
    scale_: Floats | None = None
    coef_: Floats | None = None
    intercept_: float = 0.0
    platt_: tuple[float, float] = (-1.0, 0.0)
    """Platt's (a, b): P(churn) = 1 / (1 + exp(a·f + b)), f the regression's decision value."""

    def fit(self, features: Features, churned: npt.NDArray[np.bool_]) -> HealthModel:
        """Fit on `features` and the observed churn of each customer (at most `MOST` of them,
        drawn at random); returns self."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = np.asarray(churned, dtype=bool)
        fewest = int(min(y.sum(), (~y).sum()))
        if fewest < 2 * FOLDS:
            raise BadRequest(
                f"Too few customers to learn health from: {int(y.sum())} churned and "
                f"{int((~y).sum())} stayed in the training period (at least {2 * FOLDS} each)",
                "train on an earlier date or a longer horizon, or import more history",
            )
        raw = design(features)
        if len(y) > MOST:
            sample = np.sort(np.random.default_rng(0).choice(len(y), MOST, replace=False))
            raw, y = raw[sample], y[sample]
        present = ~np.all(np.isnan(raw), axis=0)
        signals = tuple(n for n, keep in zip(MODEL_SIGNALS, present, strict=True) if keep)
        raw = raw[:, present]
        fill = np.nanmean(raw, axis=0)
        x = np.where(np.isnan(raw), fill, raw)
        pipeline = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.regularisation, solver=SOLVER, max_iter=200),
        )
        calibrated = CalibratedClassifierCV(
            pipeline, method="sigmoid", cv=FOLDS, ensemble=False
        ).fit(x, y)
        fitted = calibrated.calibrated_classifiers_[0]
        scaler, regression = fitted.estimator[0], fitted.estimator[1]
        platt = fitted.calibrators[0]
        self.signals_, self.fill_ = signals, fill
        self.mean_ = np.asarray(scaler.mean_, dtype=np.float64)
        self.scale_ = np.asarray(scaler.scale_, dtype=np.float64)
        self.coef_ = np.asarray(regression.coef_[0], dtype=np.float64)
        self.intercept_ = float(regression.intercept_[0])
        self.platt_ = (float(platt.a_), float(platt.b_))
        return self

    def _standardised(self, features: Features) -> Floats:
        if self.coef_ is None or self.fill_ is None or self.mean_ is None or self.scale_ is None:
            raise BadRequest(
                "The health model is not fitted", "fit it first (parcours scores health)"
            )
        raw = design(features, self.signals_)
        x = np.where(np.isnan(raw), self.fill_, raw)
        return np.clip((x - self.mean_) / self.scale_, -CLIP, CLIP)

    def _calibrated(self, decision: Floats) -> Floats:
        a, b = self.platt_
        return expit(-(a * decision + b))

    def churn_probability(self, features: Features) -> Floats:
        """P(churn within the horizon) for each customer, calibrated."""
        z = self._standardised(features)
        assert self.coef_ is not None
        return self._calibrated(z @ self.coef_ + self.intercept_)

    def contributions(self, features: Features) -> Floats:
        """Health points each signal earns (+) or costs (−) each customer: 100 × (P(churn)
        with the signal at its training mean − P(churn)), one column per `signals_`."""
        return self.explained(features)[1]

    def explained(self, features: Features) -> tuple[Floats, Floats]:
        """`churn_probability` and `contributions` from one pass over the signals."""
        z = self._standardised(features)
        assert self.coef_ is not None
        terms = z * self.coef_
        decision = terms.sum(axis=1) + self.intercept_
        p = self._calibrated(decision)
        terms = np.subtract(decision[:, None], terms, out=terms)
        without = self._calibrated(terms)
        return p, np.asarray(100.0 * (without - p[:, None]), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        """Every fitted parameter, as JSON (never a pickle)."""
        assert self.coef_ is not None and self.fill_ is not None
        assert self.mean_ is not None and self.scale_ is not None
        return {
            "kind": "logistic regression on standardised signals, Platt-calibrated",
            "regularisation": self.regularisation,
            "signals": list(self.signals_),
            "fill": self.fill_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "platt": list(self.platt_),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HealthModel:
        model = cls(regularisation=float(data["regularisation"]))
        model.signals_ = tuple(data["signals"])
        model.fill_ = np.asarray(data["fill"], dtype=np.float64)
        model.mean_ = np.asarray(data["mean"], dtype=np.float64)
        model.scale_ = np.asarray(data["scale"], dtype=np.float64)
        model.coef_ = np.asarray(data["coef"], dtype=np.float64)
        model.intercept_ = float(data["intercept"])
        a, b = data["platt"]
        model.platt_ = (float(a), float(b))
        return model


@dataclass(frozen=True)
class Metrics:
    """How well one score ranks and predicts churn on the test period."""

    auc: float
    """Area under the ROC curve: the chance a churner is scored riskier than a stayer."""
    average_precision: float
    """Area under the precision–recall curve (scikit-learn's average precision)."""
    brier: float
    """Mean squared error of the churn probability (lower is better)."""
    top_decile_lift: float
    """Churn rate among the riskiest 10 % over the churn rate of all."""
    roc: list[tuple[float, float]]
    """(false positive rate, true positive rate) points."""
    precision_recall: list[tuple[float, float]]
    """(recall, precision) points."""
    reliability: list[dict[str, float]]
    """Per bin of predicted risk (10 equal-width bins, empty ones left out): mean predicted,
    observed churn rate, customers."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "average_precision": self.average_precision,
            "brier": self.brier,
            "top_decile_lift": self.top_decile_lift,
            "roc": [list(p) for p in self.roc],
            "precision_recall": [list(p) for p in self.precision_recall],
            "reliability": self.reliability,
        }


def evaluate(churned: npt.NDArray[np.bool_], risk: Floats, points: int = 50) -> Metrics:
    """Metrics of churn probabilities `risk` against what happened (both classes needed)."""
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    y = np.asarray(churned, dtype=bool)
    fpr, tpr, _ = roc_curve(y, risk)
    precision, recall, _ = precision_recall_curve(y, risk)
    top = max(1, int(np.ceil(len(y) / 10)))
    riskiest = np.argsort(-risk, kind="stable")[:top]
    bins = np.minimum((risk * 10).astype(int), 9)
    reliability = [
        {
            "predicted": round(float(risk[bins == b].mean()), 4),
            "observed": round(float(y[bins == b].mean()), 4),
            "customers": int((bins == b).sum()),
        }
        for b in range(10)
        if (bins == b).any()
    ]
    return Metrics(
        auc=round(float(roc_auc_score(y, risk)), 4),
        average_precision=round(float(average_precision_score(y, risk)), 4),
        brier=round(float(brier_score_loss(y, risk)), 4),
        top_decile_lift=round(float(y[riskiest].mean() / y.mean()), 2),
        roc=_thin(fpr, tpr, points),
        precision_recall=_thin(recall[::-1], precision[::-1], points),
        reliability=reliability,
    )


def _thin(x: Floats, y: Floats, points: int) -> list[tuple[float, float]]:
    """At most `points` points of a curve, its ends kept."""
    keep = np.unique(np.linspace(0, len(x) - 1, min(points, len(x))).astype(int))
    return [(round(float(x[k]), 4), round(float(y[k]), 4)) for k in keep]
