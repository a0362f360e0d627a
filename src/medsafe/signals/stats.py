"""Disproportionality statistics for drug-event pairs, vectorised over NumPy arrays
(pure: no I/O).

Every function takes, per pair, the observed count N (reports with both the drug and the
event), the drug's and the event's report counts and the total, or the expected count
E, and returns arrays. The formulas are those of the anchors, as summarised in
../shared/reference/signal-detection.md §1:

- PRR (Evans 2001) with the 95% interval of its logarithm, SE = sqrt(1/a - 1/(a+b) +
  1/c - 1/(c+d)) (PhViD `R/PRR.R`), and Pearson's chi-square with Yates' continuity
  correction as R's `chisq.test(correct = TRUE)` computes it (the correction is capped
  at |ad - bc|/N, so it never overshoots);
- ROR = ad/(bc) with the 95% interval exp(ln ROR ± 1.96 sqrt(1/a + 1/b + 1/c + 1/d)),
  no continuity correction (PhViD `R/ROR.R`);
- IC with the shrinkage of Norén, Hopstadius & Bate 2013 (Stat Methods Med Res 22:57):
  IC = log2((N + 0.5) / (E + 0.5)), and IC025 / IC975 the exact 2.5% / 97.5% quantiles of
  log2 of a Gamma(shape N + 0.5, rate E + 0.5) variable;
- EBGM (DuMouchel 1999): with the two-component gamma prior, the posterior of the
  relative reporting rate is a mixture of Gamma(alpha_i + N, beta_i + E), weighted by
  Q_N = P f1(N) / (P f1(N) + (1 - P) f2(N)) with f_i the negative binomial marginals;
  EBGM = exp(E[log lambda | N]) and EB05 / EB95 the mixture's 5% / 95% quantiles (openEBGM
  `R/f_posteriorCalcs.R`). openEBGM rounds these to 2 decimals and finds the quantiles by
  bisection to within 0.005; medsafe reports them unrounded, within 1e-6 relative of the
  exact quantile.

Zero cells follow the anchors: a ratio with a zero denominator is +inf, and an interval
that cannot be formed is NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

Array = NDArray[np.float64]
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
QUANTILE_TOLERANCE = 1e-7
NEWTON_FINAL_STEP = 1e-4  # about sqrt(QUANTILE_TOLERANCE)


@dataclass(frozen=True, slots=True)
class Prior:
    """The two-component gamma prior (shape, rate) of DuMouchel's GPS model."""

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float


@dataclass(frozen=True, slots=True)
class TwoByTwo:
    """Per pair: a = N, b = drug's other reports, c = event's other reports, d = rest."""

    a: Array
    b: Array
    c: Array
    d: Array

    @classmethod
    def of(cls, n: ArrayLike, n_drug: ArrayLike, n_event: ArrayLike,
           n_total: ArrayLike) -> TwoByTwo:
        a = np.asarray(n, dtype=np.float64)
        b = np.asarray(n_drug, dtype=np.float64) - a
        c = np.asarray(n_event, dtype=np.float64) - a
        d = np.asarray(n_total, dtype=np.float64) - a - b - c
        return cls(a, b, c, d)


def expected(n_drug: ArrayLike, n_event: ArrayLike, n_total: ArrayLike) -> Array:
    """E = n_drug * n_event / n_total, counts being distinct reports (openEBGM)."""
    return (np.asarray(n_drug, dtype=np.float64) * np.asarray(n_event, dtype=np.float64)
            / np.asarray(n_total, dtype=np.float64))


def prr(t: TwoByTwo) -> tuple[Array, Array, Array, Array]:
    """PRR, its 95% interval, and Yates' chi-square."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (t.a / (t.a + t.b)) / (t.c / (t.c + t.d))
        se = np.sqrt(1 / t.a - 1 / (t.a + t.b) + 1 / t.c - 1 / (t.c + t.d))
        lo, hi = _interval(ratio, se)
    return ratio, lo, hi, yates_chi2(t)


def yates_chi2(t: TwoByTwo) -> Array:
    n = t.a + t.b + t.c + t.d
    difference = np.abs(t.a * t.d - t.b * t.c)
    corrected = difference - np.minimum(n / 2, difference)
    margins = (t.a + t.b) * (t.c + t.d) * (t.a + t.c) * (t.b + t.d)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(n * corrected**2 / margins, dtype=np.float64)


def ror(t: TwoByTwo) -> tuple[Array, Array, Array]:
    """ROR and its 95% interval."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (t.a * t.d) / (t.b * t.c)
        se = np.sqrt(1 / t.a + 1 / t.b + 1 / t.c + 1 / t.d)
        lo, hi = _interval(ratio, se)
    return ratio, lo, hi


def _interval(ratio: Array, se: Array) -> tuple[Array, Array]:
    finite = np.isfinite(se) & np.isfinite(ratio) & (ratio > 0)
    log = np.where(finite, np.log(np.where(finite, ratio, 1.0)), np.nan)
    lo = np.where(finite, np.exp(log - Z95 * se), np.nan)
    hi = np.where(finite, np.exp(log + Z95 * se), np.nan)
    return lo, hi


def ic(n: ArrayLike, e: ArrayLike) -> tuple[Array, Array, Array]:
    """IC with Norén 2013 shrinkage, and its exact 95% limits."""
    count = np.asarray(n, dtype=np.float64)
    rate = np.asarray(e, dtype=np.float64) + 0.5
    value = np.log2((count + 0.5) / rate)
    lower = per_count(_inverse_gamma(0.025), count, 0.5) / rate
    upper = per_count(_inverse_gamma(0.975), count, 0.5) / rate
    return value, np.log2(lower), np.log2(upper)


def per_count(function: Callable[[Array], NDArray[Any]], count: Array,
              constant: float) -> Array:
    """function(count + constant) for each pair, computed once per distinct count.

    The gamma functions here take N + a constant; a table of millions of pairs holds a
    few thousand distinct N, and these functions cost far more than a table lookup. Where
    the largest N exceeds the number of pairs (squashed points), the table would cost
    more than it saves, and each value is computed directly."""
    if (count.size < 1000 or count.min() < 0 or count.max() > count.size
            or not np.array_equal(count, np.floor(count))):
        return np.asarray(function(count + constant), dtype=np.float64)
    whole = count.astype(np.int64)
    present = np.flatnonzero(np.bincount(whole))
    table = np.zeros(int(whole.max()) + 1)
    table[present] = function(present.astype(np.float64) + constant)
    return table[whole]


def posterior_weight(n: ArrayLike, e: ArrayLike, prior: Prior) -> Array:
    """Q_N: the posterior probability of the first prior component."""
    count = np.asarray(n, dtype=np.float64)
    expect = np.asarray(e, dtype=np.float64)
    log1 = log_negative_binomial(count, expect, prior.alpha1, prior.beta1)
    log2 = log_negative_binomial(count, expect, prior.alpha2, prior.beta2)
    one = np.log(prior.p) + log1
    two = np.log1p(-prior.p) + log2
    return np.asarray(np.exp(one - np.logaddexp(one, two)), dtype=np.float64)


def ebgm(n: ArrayLike, e: ArrayLike, prior: Prior) -> tuple[Array, Array, Array]:
    """EBGM, EB05 and EB95 under `prior`."""
    count = np.asarray(n, dtype=np.float64)
    expect = np.asarray(e, dtype=np.float64)
    q = posterior_weight(count, expect, prior)
    shape1, rate1 = prior.alpha1 + count, prior.beta1 + expect
    shape2, rate2 = prior.alpha2 + count, prior.beta2 + expect
    log_mean = (q * (per_count(special.digamma, count, prior.alpha1) - np.log(rate1))
                + (1 - q) * (per_count(special.digamma, count, prior.alpha2)
                             - np.log(rate2)))
    log_gammas = (per_count(special.gammaln, count, prior.alpha1),
                  per_count(special.gammaln, count, prior.alpha2))
    quantiles = []
    for p in (0.05, 0.95):
        brackets = (per_count(_inverse_gamma(p), count, prior.alpha1) / rate1,
                    per_count(_inverse_gamma(p), count, prior.alpha2) / rate2)
        quantiles.append(_mixture_quantile(p, q, shape1, rate1, shape2, rate2, brackets,
                                           log_gammas))
    return np.exp(log_mean), quantiles[0], quantiles[1]


def mixture_quantile(p: float, q: Array, shape1: Array, rate1: Array, shape2: Array,
                     rate2: Array) -> Array:
    """The p-quantile of q·Gamma(shape1, rate1) + (1-q)·Gamma(shape2, rate2), within
    about 1e-7 relative.

    The mixture's quantile lies between the two components' own quantiles, which bracket
    it. Newton's method on log x (the CDF's derivative there is x times the density)
    converges in a few steps; a step that leaves the bracket is replaced by bisection,
    and the bracket shrinks with every evaluation, so it always converges."""
    given = np.broadcast_arrays(q, shape1, rate1, shape2, rate2)
    form = given[0].shape
    q, shape1, rate1, shape2, rate2 = (np.asarray(a, dtype=np.float64).ravel()
                                       for a in given)
    brackets = (gamma_quantile(p, shape1, rate1), gamma_quantile(p, shape2, rate2))
    log_gammas = (special.gammaln(shape1), special.gammaln(shape2))
    return _mixture_quantile(p, q, shape1, rate1, shape2, rate2, brackets,
                             log_gammas).reshape(form)


def _mixture_quantile(p: float, q: Array, shape1: Array, rate1: Array, shape2: Array,
                      rate2: Array, brackets: tuple[Array, Array],
                      log_gammas: tuple[Array, Array]) -> Array:
    """mixture_quantile, given each component's own p-quantile and log Gamma(shape)."""
    first, second = brackets
    low = np.log(np.minimum(first, second))
    high = np.log(np.maximum(first, second))
    # Start at the heavier component's own quantile. There that component's CDF is p by
    # construction, so the first step (over every pair, without indexing; most finish
    # there) computes only the other component's CDF: half the incomplete gamma work.
    at_first = q >= 0.5
    x = np.where(at_first, np.log(first), np.log(second))
    other = special.gammainc(np.where(at_first, shape2, shape1),
                             np.exp(x) * np.where(at_first, rate2, rate1))
    cdf = np.where(at_first, q * p + (1 - q) * other, q * other + (1 - q) * p)
    arrays = (q, shape1, rate1, shape2, rate2, log_gammas[0], log_gammas[1])
    following, low, high, done = _step(p, x, low, high, cdf, *arrays)
    x = following
    # Then only over the pairs still moving.
    active = np.flatnonzero(~done)
    for _ in range(100):
        if active.size == 0:
            break
        step, low_a, high_a, done = _newton(p, x[active], low[active], high[active],
                                            *(a[active] for a in arrays))
        x[active], low[active], high[active] = step, low_a, high_a
        active = active[~done]
    return np.asarray(np.exp(x), dtype=np.float64)


def _newton(p: float, x: Array, low: Array, high: Array, q: Array, shape1: Array,
            rate1: Array, shape2: Array, rate2: Array, log_gamma1: Array,
            log_gamma2: Array) -> tuple[Array, Array, Array, NDArray[np.bool_]]:
    """One safeguarded Newton step on log x: the next x, the narrowed bracket, and which
    pairs are done."""
    value = np.exp(x)
    cdf = (q * special.gammainc(shape1, value * rate1)
           + (1 - q) * special.gammainc(shape2, value * rate2))
    return _step(p, x, low, high, cdf, q, shape1, rate1, shape2, rate2, log_gamma1,
                 log_gamma2)


def _step(p: float, x: Array, low: Array, high: Array, cdf: Array, q: Array, shape1: Array,
          rate1: Array, shape2: Array, rate2: Array, log_gamma1: Array,
          log_gamma2: Array) -> tuple[Array, Array, Array, NDArray[np.bool_]]:
    """_newton's step, given the mixture's CDF at x."""
    slope = (q * _log_density(x, shape1, rate1, log_gamma1)
             + (1 - q) * _log_density(x, shape2, rate2, log_gamma2))
    below = cdf < p
    low = np.where(below, x, low)
    high = np.where(below, high, x)
    # Far from both components' mass the slope underflows towards zero and the step to
    # infinity; such a step is not taken (bisection instead), so the overflow is expected.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        step = x - (cdf - p) / slope
    inside = np.isfinite(step) & (step > low) & (step < high)
    following = np.where(inside, step, (low + high) / 2)
    # Newton's error after a step is about the square of the step (in log x, where the
    # CDF's curvature is of order one), so a Newton step below sqrt(tolerance) lands
    # within the tolerance: most pairs finish after one evaluation.
    done = ((inside & (np.abs(following - x) <= NEWTON_FINAL_STEP))
            | (high - low <= QUANTILE_TOLERANCE))
    return following, low, high, done


def _log_density(log_x: Array, shape: Array, rate: Array, log_gamma: Array) -> Array:
    """x times the Gamma(shape, rate) density at x = exp(log_x): the CDF's derivative in
    log x."""
    return np.asarray(np.exp(shape * (np.log(rate) + log_x) - rate * np.exp(log_x)
                             - log_gamma), dtype=np.float64)


# scipy.special rather than scipy.stats: the same functions, without scipy.stats' seconds
# of import time in every command line run.

def _inverse_gamma(p: float) -> Callable[[Array], Array]:
    """The p-quantile of Gamma(shape, 1) as a function of the shape."""
    def quantile(shape: Array) -> Array:
        return np.asarray(special.gammaincinv(shape, p), dtype=np.float64)
    return quantile


def gamma_quantile(p: float, shape: Array, rate: Array) -> Array:
    """The p-quantile of Gamma(shape, rate)."""
    return np.asarray(special.gammaincinv(shape, p) / rate, dtype=np.float64)


def log_negative_binomial(n: Array, e: Array, alpha: float, beta: float) -> Array:
    """log NB(n; size alpha, probability beta / (beta + e)), the GPS marginal."""
    return np.asarray(per_count(special.gammaln, n, alpha) - special.gammaln(alpha)
                      - per_count(special.gammaln, n, 1.0)
                      + alpha * (np.log(beta) - np.log(beta + e))
                      + n * (np.log(e) - np.log(beta + e)), dtype=np.float64)
