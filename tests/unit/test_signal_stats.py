"""Disproportionality statistics: openEBGM's published CAERS check value, and each
statistic against an independent computation (SciPy's own tests, root finding, or the
published approximations)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats

from medsafe.signals.stats import (
    Prior,
    TwoByTwo,
    ebgm,
    expected,
    ic,
    mixture_quantile,
    per_count,
    prr,
    ror,
)
from tests.support.caers import CAERS, PUBLISHED_PRIOR, caers_counts

VIGNETTE_PRIOR = Prior(**PUBLISHED_PRIOR)


def test_caers_reproduces_openebgms_published_example() -> None:
    if not CAERS.exists():
        pytest.skip("needs ../shared/data/caers-openebgm/caers.csv")
    counts = caers_counts()
    drug, event = "REUMOFAN PLUS", "WEIGHT INCREASED"
    n = counts.by_pair[drug, event]
    e = expected(counts.by_drug[drug], counts.by_event[event], counts.reports)
    assert n == 16
    assert float(e) == pytest.approx(0.40643623, abs=1e-8)
    score, eb05, eb95 = ebgm(n, e, VIGNETTE_PRIOR)
    # openEBGM rounds to 2 decimals and bisects quantiles to within 0.005.
    assert float(score) == pytest.approx(23.26, abs=0.01)
    assert float(eb05) == pytest.approx(15.68, abs=0.01)
    assert float(eb95) == pytest.approx(33.48, abs=0.01)


def test_prr_and_ror_follow_their_definitions() -> None:
    table = TwoByTwo.of(n=[10], n_drug=[100], n_event=[30], n_total=[1000])
    ratio, lo, hi, chi2 = prr(table)
    assert ratio[0] == pytest.approx((10 / 100) / (20 / 900))
    assert lo[0] < ratio[0] < hi[0]
    assert np.sqrt(lo[0] * hi[0]) == pytest.approx(ratio[0])  # symmetric on the log scale
    odds, olo, ohi = ror(table)
    assert odds[0] == pytest.approx(10 * 880 / (90 * 20))
    assert np.sqrt(olo[0] * ohi[0]) == pytest.approx(odds[0])
    expected_chi2 = stats.chi2_contingency([[10, 90], [20, 880]], correction=True)[0]
    assert chi2[0] == pytest.approx(expected_chi2)


@pytest.mark.parametrize("cells", [[1, 0, 3, 996], [3, 7, 0, 990], [5, 2, 4, 1]])
def test_yates_chi_square_matches_scipy_even_when_the_correction_is_capped(
        cells: list[int]) -> None:
    a, b, c, d = cells
    table = TwoByTwo.of(n=[a], n_drug=[a + b], n_event=[a + c], n_total=[a + b + c + d])
    with np.errstate(divide="ignore", invalid="ignore"):
        reference = stats.chi2_contingency([[a, b], [c, d]], correction=True)[0]
    assert prr(table)[3][0] == pytest.approx(reference, nan_ok=True)


def test_zero_cells_give_infinite_ratios_and_no_interval() -> None:
    table = TwoByTwo.of(n=[4], n_drug=[10], n_event=[4], n_total=[100])  # c = 0
    ratio, lo, hi, _ = prr(table)
    assert np.isinf(ratio[0])
    assert np.isnan(lo[0])
    assert np.isnan(hi[0])


@pytest.mark.parametrize(("n", "e"), [(1, 0.1), (3, 0.5), (10, 2.0), (50, 40.0), (500, 20.0)])
def test_ic_limits_agree_with_norens_published_approximation(n: int, e: float) -> None:
    value, lower, upper = ic([n], [e])
    shrunk = n + 0.5
    assert value[0] == pytest.approx(np.log2(shrunk / (e + 0.5)))
    # Norén et al. 2013's closed-form approximations of the exact gamma limits.
    assert lower[0] == pytest.approx(value[0] - 3.3 * shrunk**-0.5 - 2 * shrunk**-1.5,
                                     abs=0.15)
    assert upper[0] == pytest.approx(value[0] + 2.4 * shrunk**-0.5 - 0.5 * shrunk**-1.5,
                                     abs=0.15)


def test_mixture_quantiles_match_root_finding() -> None:
    """Weights anywhere in (0, 1), and the extremes real tables have (on FAERS most pairs
    have Q_N below 1e-3), within 1e-6 relative."""
    rng = np.random.default_rng(7)
    q = np.concatenate([rng.uniform(0, 1, 40), 10 ** -rng.uniform(2, 9, 20),
                        1 - 10 ** -rng.uniform(2, 9, 20)])
    size = q.size
    shape1, rate1 = rng.uniform(0.2, 30, size), rng.uniform(0.1, 20, size)
    shape2, rate2 = rng.uniform(0.2, 30, size), rng.uniform(0.1, 20, size)
    for p in (0.05, 0.95):
        found = mixture_quantile(p, q, shape1, rate1, shape2, rate2)
        for i in range(size):
            def cdf(x: float, i: int = i, p: float = p) -> float:
                return float(q[i] * stats.gamma.cdf(x, shape1[i], scale=1 / rate1[i])
                             + (1 - q[i]) * stats.gamma.cdf(x, shape2[i], scale=1 / rate2[i])
                             - p)

            root = optimize.brentq(cdf, 1e-12, 1e4, xtol=1e-14, rtol=1e-12)
            assert found[i] == pytest.approx(root, rel=1e-6)


def test_a_quantile_between_far_apart_components_is_found_without_warnings() -> None:
    """A start where both densities underflow (seen on the 400 M-row table) makes the
    Newton step overflow; bisection takes over, silently, and the answer is still right
    (warnings are errors in this suite)."""
    q, shape1, rate1, shape2, rate2 = 0.1883, 1890.79, 0.0097606, 34.0448, 0.0220487
    found = float(mixture_quantile(0.95, np.array([q]), np.array([shape1]),
                                   np.array([rate1]), np.array([shape2]),
                                   np.array([rate2]))[0])

    def cdf(x: float) -> float:
        return float(q * stats.gamma.cdf(x, shape1, scale=1 / rate1)
                     + (1 - q) * stats.gamma.cdf(x, shape2, scale=1 / rate2) - 0.95)

    assert found == pytest.approx(optimize.brentq(cdf, 1.0, 1e7, xtol=1e-10, rtol=1e-13),
                                  rel=1e-6)


def test_functions_computed_once_per_count_equal_the_direct_ones() -> None:
    rng = np.random.default_rng(3)
    count = rng.integers(1, 50, 5000).astype(np.float64)  # many repeats: the table path
    for function, constant in ((special.digamma, 0.5), (special.gammaln, 1e-4)):
        assert np.array_equal(per_count(function, count, constant),
                              function(count + constant))
    fractional = count + 0.25  # not counts: computed directly, still right
    assert np.array_equal(per_count(special.gammaln, fractional, 1.0),
                          special.gammaln(fractional + 1.0))
