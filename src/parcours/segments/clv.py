"""Lifetime value of non-contractual customers: the BG/NBD model of how often customers buy
and whether they are still alive, and the Gamma-Gamma model of how much they spend.

Both are fitted by maximum likelihood from one row per customer (see `segments.purchases`):
`frequency` x, the number of repeat purchases (purchase days after the first); `recency` t_x,
the age of the customer at their last purchase; `T`, their age at the end of the observation,
both counted from the first purchase in one time unit (days, weeks: the fitted α and the
horizons of the predictions are in that unit); and for spend the mean value of the repeat
purchases. Each class follows lifetimes' style: `fit()` returns the model, the fitted
parameters are attributes, the predictions are named for what they give. The optimiser works
on the logarithms of the parameters with analytic gradients, over the distinct customer rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from parcours.errors import ParcoursError

Array = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike


QUADRATURE_FROM = 1e3
"""From this a + b on, expected purchases are integrated rather than read from 2F1 (which
scipy cannot evaluate for parameters that large; the two agree to 1e-9 below it)."""
NODES, WEIGHTS = np.polynomial.legendre.leggauss(96)
BLOCK = 20_000
"""Customers integrated at once: 96 nodes each, some 15 MB an array."""


class ModelFitError(ParcoursError):
    """The data cannot identify a model (too few customers or repeat purchases)."""

    http_status = 422


def _floats(*columns: ArrayLike) -> list[Array]:
    arrays = [np.asarray(column, dtype=np.float64) for column in columns]
    if len({a.shape for a in arrays}) > 1:
        raise ValueError("the columns must be of the same length")
    return arrays


def _distinct(columns: list[Array]) -> tuple[list[Array], Array]:
    """The distinct rows of these columns and how many customers each stands for: the
    likelihood is a sum over customers, and many customers share a row."""
    order = np.lexsort(columns[::-1])
    ordered = [column[order] for column in columns]
    changes = np.zeros(len(order), dtype=bool)
    changes[0] = len(order) > 0
    for column in ordered:
        changes[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(changes)
    counts = np.diff(np.append(starts, len(order))).astype(np.float64)
    return [column[starts] for column in ordered], counts


def _maximise(negative: Callable[[Array], tuple[float, Array]], start: Array, model: str) -> Array:
    """Parameters (logs in, values out) that maximise a mean log-likelihood."""
    # Imported here: scoring with a kept model needs no optimiser (half a second to load).
    from scipy.optimize import minimize

    found = minimize(
        negative,
        np.log(start),
        jac=True,
        method="BFGS",
        options={"maxiter": 2000, "gtol": 1e-9},
    )
    if not np.all(np.isfinite(found.x)) or not np.isfinite(found.fun):
        raise ModelFitError(
            f"The {model} fit did not converge ({found.message})",
            "fit on more customers, or check the purchases summary for odd values",
        )
    return np.asarray(np.exp(found.x), dtype=np.float64)


@dataclass
class BetaGeo:
    """The BG/NBD model (Fader, Hardie & Lee 2005, "'Counting Your Customers' the Easy Way: An
    Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284).

    Assumptions: while alive, a customer buys as a Poisson process of rate λ; λ varies across
    customers as a gamma distribution of shape r and rate α; after any purchase a customer
    drops out (for good, unseen) with probability p; p varies across customers as a beta
    distribution of parameters a and b; λ and p are independent. Time runs from each
    customer's first purchase, which is not counted in `frequency`.

    >>> model = BetaGeo().fit(frequency, recency, T)   # doctest: +SKIP
    >>> model.probability_alive(frequency, recency, T)  # doctest: +SKIP
    """

    r: float = math.nan
    alpha: float = math.nan
    a: float = math.nan
    b: float = math.nan
    log_likelihood_: float = math.nan
    """The total log-likelihood of the fitted data (FHL 2005 eq. 6, summed over customers)."""
    customers_: int = 0

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeo:
        """Fit r, α, a, b by maximum likelihood; returns the model."""
        x, t_x, age = _floats(frequency, recency, T)
        _check_history(x, t_x, age)
        if len(x) < 2 or not np.any(x > 0) or not np.any(age > 0):
            raise ModelFitError(
                f"BG/NBD needs customers who bought again: {len(x)} customers, "
                f"{int(np.sum(x > 0))} with a repeat purchase",
                "fit on a longer period or more customers",
            )
        (x, t_x, age), weights = _distinct([x, t_x, age])
        # Time scaled so that the longest history is 10 units: the optimiser starts near the
        # answer whatever the unit; α is scaled back, the other parameters do not depend on it.
        scale = 10.0 / float(age.max())
        t_x, age = t_x * scale, age * scale
        total = float(weights.sum())

        def negative(logs: Array) -> tuple[float, Array]:
            value, gradient = _bgnbd_log_likelihood(np.exp(logs), x, t_x, age, weights)
            return -value / total, -gradient * np.exp(logs) / total

        r, alpha, a, b = _maximise(negative, np.ones(4), "BG/NBD")
        self.r, self.alpha, self.a, self.b = float(r), float(alpha / scale), float(a), float(b)
        self.log_likelihood_ = float(
            _bgnbd_log_likelihood(
                np.array([self.r, self.alpha, self.a, self.b]), x, t_x / scale, age / scale, weights
            )[0]
        )
        self.customers_ = int(total)
        return self

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> float:
        """The total log-likelihood of these customers under the model's parameters (to
        compare fits, or judge the model on other customers)."""
        x, t_x, age = _floats(frequency, recency, T)
        params = np.array([self.r, self.alpha, self.a, self.b])
        return _bgnbd_log_likelihood(params, x, t_x, age, np.ones_like(x))[0]

    def _alive_odds_log(self, x: Array, t_x: Array, age: Array) -> Array:
        """log of (a / (b + x - 1)) ((α + T) / (α + t_x))^(r + x), the odds of having dropped
        out after the last purchase; -inf for customers with no repeat purchase."""
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = (
                np.log(self.a)
                - np.log(self.b + x - 1)
                + (self.r + x) * (np.log(self.alpha + age) - np.log(self.alpha + t_x))
            )
        return np.where(x > 0, odds, -np.inf)

    def probability_alive(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
    ) -> Array:
        """P(alive | x, t_x, T) (FHL 2005 eq. 11; 1 for a customer with no repeat purchase)."""
        x, t_x, age = _floats(frequency, recency, T)
        return np.asarray(expit(-self._alive_odds_log(x, t_x, age)))

    def expected_purchases(
        self,
        t: float | ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
    ) -> Array:
        """Expected purchases in the next `t` time units given each customer's history
        (FHL 2005 eq. 10). The Gauss hypergeometric function is taken in its Euler-transformed
        form, whose parameters do not grow with x: safe for large frequencies. Where it cannot
        be evaluated (a + b very large: drop-out barely varies across customers), the same
        expectation is integrated over the drop-out probability instead."""
        x, t_x, age = _floats(frequency, recency, T)
        t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(all="ignore"):
            ratio = (alpha + age) / (alpha + age + t)
            # ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)
            #   = ratio^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)   (Euler's transformation)
            hyper = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, t / (alpha + age + t))
            alive_buys = (a + b + x - 1) / (a - 1) * (1 - ratio ** (a - 1) * hyper)
        hard = ~np.isfinite(alive_buys) | (a + b >= QUADRATURE_FROM)
        if np.any(hard):
            alive_buys = np.where(hard, 0.0, alive_buys)
            alive_buys[hard] = self._alive_buys_by_quadrature(t[hard], x[hard], age[hard])
        return np.asarray(alive_buys * expit(-self._alive_odds_log(x, t_x, age)))

    def _alive_buys_by_quadrature(self, t: Array, x: Array, age: Array) -> Array:
        """E[(1 - ((α+T)/(α+T+p t))^(r+x)) / p] for p ~ beta(a, b + x): the purchases in the
        next t of a customer alive now (FHL 2005 appendix), by Gauss-Legendre over p within
        14 standard deviations of its mean, in blocks of customers."""
        found = np.empty_like(x)
        for start in range(0, len(x), BLOCK):
            block = slice(start, start + BLOCK)
            a, b = self.a, self.b + x[block]
            mean, spread = a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
            low = np.maximum(mean - 14 * spread, 0.0)
            high = np.minimum(mean + 14 * spread, 1.0)
            p = low + (high - low) * (NODES[:, None] + 1) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                log_density = (a - 1) * np.log(p) + (b - 1) * np.log1p(-p)
                weight = WEIGHTS[:, None] * np.exp(log_density - log_density.max(axis=0))
                horizon, base = t[block], self.alpha + age[block]
                buys = -np.expm1(
                    (self.r + x[block]) * np.log1p(-p * horizon / (base + p * horizon))
                )
                buys = np.where(p > 0, buys / p, (self.r + x[block]) * horizon / base)
            found[block] = (weight * buys).sum(axis=0) / weight.sum(axis=0)
        return found

    def expected_purchases_new_customer(self, t: float | ArrayLike) -> Array:
        """Expected repeat purchases of a customer in their first `t` time units (FHL eq. 9)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        zeros = np.zeros_like(t)
        # A customer just arrived is alive, with no purchase after the first and T = 0.
        return self.expected_purchases(t, zeros, zeros, zeros)


def _bgnbd_log_likelihood(
    params: Array, x: Array, t_x: Array, age: Array, weights: Array
) -> tuple[float, Array]:
    """The weighted total log-likelihood (FHL 2005 eq. 6) and its gradient in (r, α, a, b)."""
    r, alpha, a, b = params
    log_alpha_age, log_alpha_tx = np.log(alpha + age), np.log(alpha + t_x)
    repeat = x > 0
    a3 = -(r + x) * log_alpha_age
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(repeat, np.log(a) - np.log(b + x - 1) - (r + x) * log_alpha_tx, -np.inf)
    tail = np.logaddexp(a3, a4)
    w4 = np.exp(a4 - tail)  # the share of the "dropped out after the last purchase" term
    w3 = 1.0 - w4
    each = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b) + tail
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_bx = np.where(repeat, 1.0 / (b + x - 1), 0.0)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * log_alpha_age - w4 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + age) + w4 / (alpha + t_x))
    d_a = psi_ab - psi_abx + w4 / a
    d_b = digamma(b + x) - digamma(b) + psi_ab - psi_abx - w4 * inverse_bx
    return _weighted_sums(weights, each, d_r, d_alpha, d_a, d_b)


def _weighted_sums(weights: Array, value: Array, *gradient: Array) -> tuple[float, Array]:
    """Σ weights·value and Σ weights·gradient, by elementwise products: a BLAS dot product
    here gains nothing and, with BLAS threads on a busy machine, can cost a thousand times
    more."""
    return float(np.sum(weights * value)), np.array([np.sum(weights * d) for d in gradient])


def _check_history(x: Array, t_x: Array, age: Array) -> None:
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age + 1e-9):
        raise ValueError("each customer needs frequency >= 0 and 0 <= recency <= T")


class SpendModel:
    """What every model of spend per transaction gives: the expected average spend of each
    customer, and from it and a BG/NBD model their discounted lifetime value."""

    def expected_average_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> Array:
        raise NotImplementedError

    def customer_lifetime_value(
        self,
        purchases: BetaGeo,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary: ArrayLike,
        *,
        horizon: float,
        period: float,
        discount_rate: float,
    ) -> Array:
        """The discounted value of each customer's purchases over the next `horizon` time
        units: the horizon is cut into steps of `period` (the last one shorter if need be); the
        purchases the BG/NBD model expects in each step are valued at the expected average
        spend and discounted to today from the step's end at `discount_rate` per period, i.e.
        divided by (1 + discount_rate)^(end / period). With period 30 days and a monthly rate
        this is lifetimes' `customer_lifetime_value`."""
        spend = self.expected_average_spend(frequency, monetary)
        return discounted_value(
            spend,
            purchases,
            frequency,
            recency,
            T,
            horizon=horizon,
            period=period,
            discount_rate=discount_rate,
        )


@dataclass
class GammaGamma(SpendModel):
    """The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, "The Gamma-Gamma
    Model of Monetary Value"; after Colombo & Jiang 1999).

    Assumptions: a customer's transaction values vary around their own mean, each a gamma
    draw of shape p and rate ν; ν varies across customers as a gamma of shape q and rate γ;
    spend is independent of how often and how long a customer buys (check it: the fit reports
    the correlation of frequency and mean spend). Fitted on customers with at least one repeat
    purchase, from their number of repeat purchases and the mean value of those.
    """

    p: float = math.nan
    q: float = math.nan
    v: float = math.nan
    """γ in the paper (lifetimes calls it v)."""
    log_likelihood_: float = math.nan
    customers_: int = 0
    spend_frequency_correlation_: float = math.nan

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    def fit(self, frequency: ArrayLike, monetary: ArrayLike) -> GammaGamma:
        """Fit p, q, γ by maximum likelihood over the customers with x > 0 and a positive mean
        spend; returns the model."""
        x, spend = _floats(frequency, monetary)
        keep = (x > 0) & (spend > 0)
        x, spend = x[keep], spend[keep]
        if len(x) < 3:
            raise ModelFitError(
                f"Gamma-Gamma needs customers with repeat purchases of some value: {len(x)} found",
                "fit on a longer period, or check that purchases carry an amount",
            )
        self.spend_frequency_correlation_ = (
            float(np.corrcoef(x, spend)[0, 1]) if np.ptp(x) > 0 and np.ptp(spend) > 0 else 0.0
        )
        (x, spend), weights = _distinct([x, spend])
        # Money scaled to a mean of 1 for the optimiser; γ is scaled back.
        scale = 1.0 / float(np.average(spend, weights=weights))
        total = float(weights.sum())

        def negative(logs: Array) -> tuple[float, Array]:
            value, gradient = _gamma_gamma_log_likelihood(np.exp(logs), x, spend * scale, weights)
            return -value / total, -gradient * np.exp(logs) / total

        p, q, v = _maximise(negative, np.ones(3), "Gamma-Gamma")
        self.p, self.q, self.v = float(p), float(q), float(v / scale)
        self.log_likelihood_ = _gamma_gamma_log_likelihood(
            np.array([self.p, self.q, self.v]), x, spend, weights
        )[0]
        self.customers_ = int(total)
        return self

    def log_likelihood(self, frequency: ArrayLike, monetary: ArrayLike) -> float:
        """The total log-likelihood of the mean spends of the customers with x > 0 and a
        positive mean spend, under the model's parameters."""
        x, spend = _floats(frequency, monetary)
        keep = (x > 0) & (spend > 0)
        params = np.array([self.p, self.q, self.v])
        return _gamma_gamma_log_likelihood(params, x[keep], spend[keep], np.ones(keep.sum()))[0]

    def expected_average_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> Array:
        """E(M | x, m̄): the expected value of a customer's future transactions (Fader & Hardie
        2013 eq. 5), a weighted mean of the population's mean p γ / (q - 1) and their own;
        the population's mean for a customer with no repeat purchase."""
        x, spend = _floats(frequency, monetary)
        weight = self.p * x / (self.p * x + self.q - 1)
        return np.asarray((1 - weight) * self.v * self.p / (self.q - 1) + weight * spend)


def discounted_value(
    spend: Array,
    purchases: BetaGeo,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    horizon: float,
    period: float,
    discount_rate: float,
) -> Array:
    """Each customer's expected purchases step by step over the horizon, valued at `spend`
    and discounted from each step's end (see `GammaGamma.customer_lifetime_value`)."""
    ends = np.arange(1, math.ceil(horizon / period - 1e-9) + 1) * period
    ends[-1] = horizon
    value = np.zeros_like(spend)
    before = np.zeros_like(spend)
    for end in ends:
        upto = purchases.expected_purchases(end, frequency, recency, T)
        value += spend * (upto - before) / (1 + discount_rate) ** (end / period)
        before = upto
    return value


def _gamma_gamma_log_likelihood(
    params: Array, x: Array, spend: Array, weights: Array
) -> tuple[float, Array]:
    """The weighted total log-likelihood of mean spends (Fader & Hardie 2013) and its gradient
    in (p, q, γ)."""
    p, q, v = params
    px = p * x
    log_total = np.log(x * spend + v)
    each = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(spend)
        + px * np.log(x)
        - (px + q) * log_total
    )
    psi = digamma(px + q)
    d_p = x * (psi - digamma(px) + np.log(spend) + np.log(x) - log_total)
    d_q = psi - digamma(q) + np.log(v) - log_total
    d_v = q / v - (px + q) / (x * spend + v)
    return _weighted_sums(weights, each, d_p, d_q, d_v)


@dataclass
class EmpiricalSpend(SpendModel):
    """Spend per transaction when the Gamma-Gamma model cannot describe it: each customer's
    own mean repeat spend, and for a customer with no repeat purchase the mean of those.

    Used when the Gamma-Gamma fit has q ≤ 1 (its population of mean spends then has no finite
    mean: typically a mix of a few large purchases and many small ones, as a retailer of
    television sets that also sells cables has). It shrinks nothing toward the population,
    so a customer's single odd repeat purchase weighs fully: read the CLV of such customers
    with care. The reason it was used is kept with the model."""

    mean: float = math.nan
    because: str = ""

    @property
    def params(self) -> dict[str, Any]:
        return {"mean": self.mean, "because": self.because}

    @classmethod
    def fit(cls, frequency: ArrayLike, monetary: ArrayLike, because: str) -> EmpiricalSpend:
        x, spend = _floats(frequency, monetary)
        repeat = (x > 0) & (spend > 0)
        return cls(float(spend[repeat].mean()) if repeat.any() else math.nan, because)

    def expected_average_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> Array:
        x, spend = _floats(frequency, monetary)
        return np.asarray(np.where((x > 0) & (spend > 0), spend, self.mean))


Spend = GammaGamma | EmpiricalSpend


def spend_model(frequency: ArrayLike, monetary: ArrayLike, fitted: GammaGamma) -> Spend:
    """The Gamma-Gamma fit when it has a finite population mean (q > 1), else the customers'
    own mean spends (`EmpiricalSpend`), saying why."""
    if fitted.q > 1:
        return fitted
    because = (
        f"Gamma-Gamma fitted q = {fitted.q:.3g} ≤ 1: its mean spend is infinite (spend and "
        f"frequency correlate at {fitted.spend_frequency_correlation_:+.2f})"
    )
    return EmpiricalSpend.fit(frequency, monetary, because)


def model_parameters(purchases: BetaGeo, spend: Spend, fitted: GammaGamma) -> dict[str, Any]:
    """The models' parameters as JSON-able data (what `save_model` keeps): BG/NBD, the
    Gamma-Gamma fit, and the empirical spend when it replaced the fit."""
    kept: dict[str, Any] = {"bg_nbd": purchases.params, "gamma_gamma": fitted.params}
    if isinstance(spend, EmpiricalSpend):
        kept["empirical_spend"] = spend.params
    return kept


def models_from(parameters: dict[str, Any]) -> tuple[BetaGeo, Spend]:
    """The models back from `model_parameters`' data, ready to predict."""
    if "empirical_spend" in parameters:
        return BetaGeo(**parameters["bg_nbd"]), EmpiricalSpend(**parameters["empirical_spend"])
    return BetaGeo(**parameters["bg_nbd"]), GammaGamma(**parameters["gamma_gamma"])
