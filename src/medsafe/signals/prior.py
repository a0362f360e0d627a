"""Fitting the GPS prior (DuMouchel 1999) by maximum likelihood (pure).

The marginal count of a cell is a mixture of two negative binomials,
P·NB(alpha1, beta1/(beta1 + E)) + (1 - P)·NB(alpha2, beta2/(beta2 + E)), and only cells
with N >= N* are used, each component truncated separately at N* (openEBGM
`R/f_likelihoodEqs.R`, `negLL`; PhViD 1.0.8's correction), N* = 1 by default.

How the fit avoids the peers' failures (../shared/reference/signal-detection.md §7):
- parameters are optimised on a bounded scale (log alpha, log beta, logit P with
  alpha, beta in [1e-4, 1e3] and P in [1e-6, 1 - 1e-6]), so a run that drifts towards
  alpha1 -> 0 stops at a bound, and the result says so, instead of failing;
- several starting points (openEBGM's vignette starts and DuMouchel's), each with L-BFGS-B
  and, if that does not converge, Nelder-Mead from where it stopped;
- the best fit is accepted when at least `min_agree` other starts reach a log-likelihood
  within `ll_tolerance` of it. Parameters may still differ between such starts when the
  likelihood is flat (CAERS is flat in alpha1): the result reports the parameter spread;
- a fit in which no start converges, or too few agree, raises `FitFailed`, never
  returns silently.

Tables with more than `squash_above` cells (default 20,000, openEBGM's `max_pts`) are
fitted on squashed points (`medsafe.signals.squash`, openEBGM's `autoSquash`); the
log-likelihood reported is always that of the full data, truncated at N*, at the fitted
parameters, and the result says how many points the fit used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from medsafe.errors import MedsafeError
from medsafe.signals.squash import squash
from medsafe.signals.stats import Prior, per_count

Array = NDArray[np.float64]
BOUNDS_SHAPE_RATE = (1e-4, 1e3)
BOUNDS_P = (1e-6, 1 - 1e-6)
POLISH_STEPS = 50
EARLY_STOP_AFTER = 3
STARTS: tuple[Prior, ...] = (
    # openEBGM's vignette starts, then DuMouchel's prior as PhViD uses it.
    Prior(0.2, 0.1, 2, 4, 1 / 3), Prior(0.1, 0.1, 10, 10, 0.2), Prior(0.3, 0.5, 6, 6, 0.5),
    Prior(0.5, 0.3, 12, 12, 0.8), Prior(0.2, 0.2, 5, 5, 0.4), Prior(0.2, 0.06, 1.4, 1.8, 0.1),
)

# When the standard starts disagree on a small (unsquashed) table, a grid of further
# starts decides: a second component of weight 1 %, 5 % or 20 % and mean 2, 5 or 20 times
# the first, each with shapes 1 or 50 (a flat or a peaked gamma). Cheap on a small table,
# and a few-cell comparison (the lots of one medicine) often has its maximum where only a
# start with a small high-ratio component finds it.
EXTRA_STARTS: tuple[Prior, ...] = tuple(
    Prior(shape, shape / ratio, shape, shape, weight)
    for weight in (0.01, 0.05, 0.2) for ratio in (2.0, 5.0, 20.0) for shape in (1.0, 50.0))


class FitFailed(MedsafeError):
    """The prior could not be fitted: no start converged, or too few agreed."""


@dataclass(frozen=True, slots=True)
class Start:
    start: Prior
    prior: Prior
    loglik: float
    converged: bool
    method: str


@dataclass(frozen=True, slots=True)
class FittedPrior:
    prior: Prior
    loglik: float  # full data, truncated at n_star
    converged: bool
    n_star: int
    agreeing: int  # other starts within ll_tolerance of the best
    at_bound: tuple[str, ...]  # parameters that ended on a bound
    notes: tuple[str, ...]
    squashed: int | None  # the points the fit used, when the cells were squashed
    starts: tuple[Start, ...] = field(repr=False)


def log_likelihood(prior: Prior, n: ArrayLike, e: ArrayLike, *, n_star: int = 1,
                   weights: ArrayLike | None = None) -> float:
    """The truncated log-likelihood of the cells with N >= n_star."""
    count = np.asarray(n, dtype=np.float64)
    expect = np.asarray(e, dtype=np.float64)
    weight = np.ones_like(count) if weights is None else np.asarray(weights, np.float64)
    keep = count >= n_star
    return float(-_negative(_theta(prior), count[keep], expect[keep], weight[keep], n_star))


def fit_prior(n: ArrayLike, e: ArrayLike, *, n_star: int = 1,
              starts: Sequence[Prior] = STARTS, min_agree: int = 1,
              ll_tolerance: float = 1e-3, squash_above: int = 20_000,
              polish_below: int = 250_000) -> FittedPrior:
    """Fit the prior to the cells (N, E) of every pair with at least one report."""
    all_n = np.asarray(n, dtype=np.float64)
    all_e = np.asarray(e, dtype=np.float64)
    keep = all_n >= n_star
    all_n, all_e = all_n[keep], all_e[keep]
    if all_n.size < 5:
        raise FitFailed(f"only {all_n.size} cells with N >= {n_star}: too few to fit a "
                        "prior of five parameters")
    squashed = squash(all_n, all_e) if all_n.size > squash_above else None
    if squashed is not None:
        count, expect, weight = squashed.n, squashed.e, squashed.weight
    else:
        count, expect, weight = all_n, all_e, np.ones_like(all_n)
    runs_list: list[Start] = []
    for start in starts:
        runs_list.append(_run(start, count, expect, weight, n_star))
        if len(runs_list) >= EARLY_STOP_AFTER and _settled(runs_list, ll_tolerance):
            break  # three starts already agree on the maximum: the rest would too
    extra = 0
    if squashed is None and not _trusted(runs_list, ll_tolerance, min_agree):
        for start in EXTRA_STARTS:
            runs_list.append(_run(start, count, expect, weight, n_star))
            extra += 1
            if _trusted(runs_list, ll_tolerance, min_agree):
                break
    runs = tuple(runs_list)
    converged = [r for r in runs if r.converged]
    if not converged:
        raise FitFailed("no starting point converged: " + "; ".join(
            f"{r.method} from {r.start}" for r in runs))
    best = max(converged, key=lambda r: r.loglik)
    agreeing = sum(1 for r in converged if r is not best
                   and abs(r.loglik - best.loglik) <= ll_tolerance)
    if agreeing < min_agree:
        raise FitFailed(f"only {agreeing} other start(s) reached the best log-likelihood "
                        f"{best.loglik:.4f} within {ll_tolerance}; the fit is not trusted")
    notes = [f"{len(converged)} of {len(runs)} starts converged"
             + (f" (the other {len(starts) - len(runs)} were not needed)"
                if len(runs) < len(starts) else "")
             + (f" ({extra} of them from the extra grid, run because the first "
                f"{len(starts)} disagreed)" if extra else "")
             + f"; {agreeing} agree with the best within {ll_tolerance} in log-likelihood"]
    if squashed is not None:
        notes.append(f"fitted on {squashed.points:,} squashed points standing for "
                     f"{all_n.size:,} cells")
    spread = _spread([best.prior, *(r.prior for r in converged if r is not best
                                    and abs(r.loglik - best.loglik) <= ll_tolerance)])
    if spread:
        notes.append("flat likelihood: agreeing starts differ in " + spread)
    prior, loglik = best.prior, best.loglik
    if squashed is not None:
        prior, loglik, polished = _polish(best.prior, all_n, all_e, n_star, polish_below)
        notes.append(polished)
    return FittedPrior(prior=prior, loglik=loglik, converged=True, n_star=n_star,
                       agreeing=agreeing, at_bound=_at_bound(prior),
                       notes=tuple(notes), squashed=None if squashed is None
                       else squashed.points, starts=runs)


def _polish(prior: Prior, n: Array, e: Array, n_star: int, limit: int
            ) -> tuple[Prior, float, str]:
    """From the squashed fit's optimum, maximise the full data's likelihood (squashing
    moves the optimum a little); above `limit` cells only the full log-likelihood at the
    squashed optimum is computed."""
    weight = np.ones_like(n)
    squashed_ll = float(-_negative(_theta(prior), n, e, weight, n_star))
    if n.size > limit:
        return prior, squashed_ll, (f"not refined on the full data (more than {limit:,} "
                                    "cells); log-likelihood at the squashed optimum")
    # L-BFGS-B only, from the squashed optimum and for a bounded number of steps: a
    # Nelder-Mead fallback over millions of cells would take minutes.
    result = _lbfgs(_theta(prior), n, e, weight, n_star, POLISH_STEPS)
    if np.isfinite(result.fun) and -result.fun >= squashed_ll:
        return prior_from_theta(result.x), float(-result.fun), (
            f"refined on the full data: log-likelihood {squashed_ll:.4f} at the squashed "
            f"optimum, {-result.fun:.4f} after {result.nit} steps"
            + ("" if result.success else " (stopped at the step limit)"))
    return prior, squashed_ll, "refining on the full data did not improve it"


def _bounds() -> list[tuple[float, float]]:
    return [_log_bounds(BOUNDS_SHAPE_RATE)] * 4 + [_logit_bounds(BOUNDS_P)]


def _trusted(runs: Sequence[Start], tolerance: float, min_agree: int) -> bool:
    """Whether at least `min_agree` other converged starts reached the best one."""
    converged = [r for r in runs if r.converged]
    if not converged:
        return False
    best = max(r.loglik for r in converged)
    return sum(1 for r in converged if best - r.loglik <= tolerance) - 1 >= min_agree


def _settled(runs: Sequence[Start], tolerance: float) -> bool:
    converged = [r for r in runs if r.converged]
    if len(converged) < EARLY_STOP_AFTER:
        return False
    best = max(r.loglik for r in converged)
    return sum(1 for r in converged if best - r.loglik <= tolerance) >= EARLY_STOP_AFTER


def _stationary(result: optimize.OptimizeResult) -> bool:
    """Whether L-BFGS-B stopped at a point where no free direction improves: its
    projected gradient (components pushing against a bound removed) is tiny relative to
    the likelihood. L-BFGS-B reports ABNORMAL_TERMINATION_IN_LNSRCH when its line search
    cannot gain anything within floating-point precision, which is common at the optimum
    when a parameter sits on a bound (alpha1 -> 0 on FAERS)."""
    gradient = getattr(result, "jac", None)
    if gradient is None or not np.isfinite(result.fun):
        return False
    low, high = np.array(_bounds()).T
    pushing_out = (((result.x <= low + 1e-9) & (gradient > 0))
                   | ((result.x >= high - 1e-9) & (gradient < 0)))
    projected = np.where(pushing_out, 0.0, gradient)
    return bool(np.max(np.abs(projected)) <= 1e-6 * max(1.0, abs(float(result.fun))))


def _lbfgs(theta: Array, n: Array, e: Array, w: Array, n_star: int, steps: int,
           ftol: float = 1e-13, gtol: float = 1e-9) -> optimize.OptimizeResult:
    """Bounded L-BFGS-B; with the analytic gradient for N* = 1 (about six times fewer
    likelihood evaluations)."""
    if n_star == 1:
        result = optimize.minimize(negative_and_gradient, theta, args=(n, e, w, n_star),
                                   jac=True, method="L-BFGS-B", bounds=_bounds(),
                                   options={"maxiter": steps, "ftol": ftol, "gtol": gtol})
    else:
        result = optimize.minimize(_negative, theta, args=(n, e, w, n_star),
                                   method="L-BFGS-B", bounds=_bounds(),
                                   options={"maxiter": steps, "ftol": ftol, "gtol": gtol})
    return result


def _run(start: Prior, n: Array, e: Array, w: Array, n_star: int) -> Start:
    bounds = _bounds()
    result = _lbfgs(_theta(start), n, e, w, n_star, 2000)
    method = "L-BFGS-B"
    success = bool(result.success)
    if not success and _stationary(result):
        success = True
        method = "L-BFGS-B (stopped at precision, projected gradient ~0)"
    if not success:
        result = optimize.minimize(_negative, result.x, args=(n, e, w, n_star),
                                   method="Nelder-Mead", bounds=bounds,
                                   options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-10})
        method = "L-BFGS-B, then Nelder-Mead"
        success = bool(result.success)
    prior = prior_from_theta(result.x)
    return Start(start=start, prior=prior, loglik=float(-result.fun),
                 converged=success and bool(np.isfinite(result.fun)), method=method)


def _negative(theta: Array, n: Array, e: Array, w: Array, n_star: int) -> float:
    a1, b1, a2, b2 = np.exp(theta[:4])
    p = special.expit(theta[4])
    one = _truncated_log_nb(n, e, a1, b1, n_star) + np.log(p)
    two = _truncated_log_nb(n, e, a2, b2, n_star) + np.log1p(-p)
    value = -float(np.sum(w * np.logaddexp(one, two)))
    return value if np.isfinite(value) else 1e300


def negative_and_gradient(theta: Array, n: Array, e: Array, w: Array,
                          n_star: int = 1) -> tuple[float, Array]:
    """The negative log-likelihood truncated at N* = 1 and its gradient in
    (log alpha1, log beta1, log alpha2, log beta2, logit P)."""
    if n_star != 1:
        raise ValueError("the analytic gradient is for N* = 1")
    p = float(special.expit(theta[4]))
    log1, grad1 = _component(n, e, float(np.exp(theta[0])), float(np.exp(theta[1])))
    log2, grad2 = _component(n, e, float(np.exp(theta[2])), float(np.exp(theta[3])))
    one, two = log1 + np.log(p), log2 + np.log1p(-p)
    total = np.logaddexp(one, two)
    r = np.exp(one - total)  # each cell's responsibility of the first component
    value = -float(np.sum(w * total))
    if not np.isfinite(value):
        return 1e300, np.zeros(5)
    gradient = -np.array([np.sum(w * r * grad1[0]), np.sum(w * r * grad1[1]),
                          np.sum(w * (1 - r) * grad2[0]), np.sum(w * (1 - r) * grad2[1]),
                          np.sum(w * (r - p))])
    return value, gradient


def _component(n: Array, e: Array, alpha: float, beta: float
               ) -> tuple[Array, tuple[Array, Array]]:
    """log of NB(n; alpha, beta/(beta+e)) / P(N >= 1), and its derivatives in log alpha
    and log beta. P(N >= 1) = 1 - q^alpha is computed as -expm1(alpha log q), which stays
    accurate as alpha -> 0."""
    log_q = np.log(beta) - np.log(beta + e)
    log_1mq = np.log(e) - np.log(beta + e)
    a_log_q = alpha * log_q
    survive = -np.expm1(a_log_q)  # 1 - q^alpha
    odds = np.exp(a_log_q) / survive  # q^alpha / (1 - q^alpha)
    value = (per_count(special.gammaln, n, alpha) - special.gammaln(alpha)
             - per_count(special.gammaln, n, 1.0) + a_log_q + n * log_1mq - np.log(survive))
    d_alpha = (per_count(special.digamma, n, alpha) - special.digamma(alpha) + log_q
               + odds * log_q)
    d_log_q = 1 / beta - 1 / (beta + e)
    d_beta = alpha * d_log_q - n / (beta + e) + alpha * odds * d_log_q
    return value, (alpha * d_alpha, beta * d_beta)


def _truncated_log_nb(n: Array, e: Array, alpha: float, beta: float, n_star: int) -> Array:
    """log NB(n; alpha, beta/(beta+e)) - log P(N >= n_star), written with log-gamma so
    it is smooth in all parameters."""
    log_q = np.log(beta) - np.log(beta + e)  # log of the "success" probability
    log_1mq = np.log(e) - np.log(beta + e)
    log_pmf = (per_count(special.gammaln, n, alpha) - special.gammaln(alpha)
               - per_count(special.gammaln, n, 1.0) + alpha * log_q + n * log_1mq)
    if n_star <= 0:
        return np.asarray(log_pmf, dtype=np.float64)
    below = np.zeros_like(n)
    for k in range(n_star):  # P(N < n_star) = sum of the first n_star probabilities
        below = below + np.exp(special.gammaln(k + alpha) - special.gammaln(alpha)
                               - special.gammaln(k + 1) + alpha * log_q + k * log_1mq)
    return np.asarray(log_pmf - np.log1p(-np.minimum(below, 1 - 1e-300)), dtype=np.float64)


def _theta(prior: Prior) -> Array:
    return np.array([np.log(prior.alpha1), np.log(prior.beta1), np.log(prior.alpha2),
                     np.log(prior.beta2), special.logit(prior.p)], dtype=np.float64)


def prior_from_theta(theta: Array) -> Prior:
    a1, b1, a2, b2 = (float(x) for x in np.exp(theta[:4]))
    return Prior(a1, b1, a2, b2, float(special.expit(theta[4])))


def _log_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    return float(np.log(bounds[0])), float(np.log(bounds[1]))


def _logit_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    return float(special.logit(bounds[0])), float(special.logit(bounds[1]))


def _at_bound(prior: Prior) -> tuple[str, ...]:
    low, high = BOUNDS_SHAPE_RATE
    found = [name for name in ("alpha1", "beta1", "alpha2", "beta2")
             if not low * 1.01 < getattr(prior, name) < high / 1.01]
    if not BOUNDS_P[0] * 1.01 < prior.p < 1 - BOUNDS_P[0] * 1.01:
        found.append("p")
    return tuple(found)


def _spread(priors: Sequence[Prior]) -> str:
    """How far agreeing starts differ, parameter by parameter. The mixture is the same
    with its components swapped (alpha1, beta1 <-> alpha2, beta2 and P <-> 1 - P), so
    each is first turned the way the best one (the first) is; only real differences
    show."""
    if len(priors) < 2:
        return ""
    ordered = [_aligned(p, priors[0]) for p in priors]
    parts = []
    for name in ("alpha1", "beta1", "alpha2", "beta2", "p"):
        values = [getattr(p, name) for p in ordered]
        if max(values) - min(values) > 0.05 * max(abs(v) for v in values):
            parts.append(f"{name} ({min(values):.4g} to {max(values):.4g})")
    return ", ".join(parts)


def _aligned(prior: Prior, reference: Prior) -> Prior:
    """`prior`, or the same prior with its components swapped, whichever is nearer
    `reference` (in log parameters)."""
    swapped = Prior(prior.alpha2, prior.beta2, prior.alpha1, prior.beta1, 1 - prior.p)
    return min((prior, swapped), key=lambda p: float(np.sum((_theta(p) - _theta(reference))
                                                            ** 2)))
