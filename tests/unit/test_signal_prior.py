"""Fitting the GPS prior: at least as good as openEBGM's published fit on CAERS, recovers
a prior it simulated from, and fails loudly rather than silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

from medsafe.signals.counting import Columns
from medsafe.signals.detection import InputSpec, count_input
from medsafe.signals.prior import (
    FitFailed,
    fit_prior,
    log_likelihood,
    negative_and_gradient,
    prior_from_theta,
)
from medsafe.signals.stats import Prior, expected
from tests.support.caers import CAERS, PUBLISHED_PRIOR, caers_counts

DATA = Path(__file__).parent / "data"

PUBLISHED = Prior(**PUBLISHED_PRIOR)


def caers_cells() -> tuple[np.ndarray, np.ndarray]:
    counts = caers_counts()
    pairs = list(counts.by_pair)
    n = np.array([counts.by_pair[p] for p in pairs], dtype=np.float64)
    e = expected([counts.by_drug[d] for d, _ in pairs],
                 [counts.by_event[v] for _, v in pairs], counts.reports)
    return n, e


def test_caers_fit_is_at_least_as_likely_as_openebgms_published_prior() -> None:
    if not CAERS.exists():
        pytest.skip("needs ../shared/data/caers-openebgm/caers.csv")
    n, e = caers_cells()
    assert n.size == 17_189  # distinct pairs with N >= 1 (caers-openebgm/SOURCE.md)
    fitted = fit_prior(n, e)
    published = log_likelihood(PUBLISHED, n, e)
    assert fitted.loglik >= published - 1e-9
    assert fitted.loglik == pytest.approx(log_likelihood(fitted.prior, n, e))
    assert fitted.agreeing >= 1
    assert fitted.at_bound == ()
    # The likelihood is flat in alpha1 (SE about 2.3), the others are well determined.
    assert fitted.prior.beta1 == pytest.approx(PUBLISHED.beta1, rel=0.05)
    assert fitted.prior.p == pytest.approx(PUBLISHED.p, rel=0.05)


def test_a_simulated_prior_is_recovered() -> None:
    rng = np.random.default_rng(20261126)
    truth = Prior(alpha1=0.3, beta1=0.2, alpha2=3.0, beta2=2.5, p=0.25)
    e = rng.gamma(0.6, 1.5, 60_000)
    first = rng.random(e.size) < truth.p
    rate = np.where(first, rng.gamma(truth.alpha1, 1 / truth.beta1, e.size),
                    rng.gamma(truth.alpha2, 1 / truth.beta2, e.size))
    n = rng.poisson(rate * e).astype(np.float64)
    seen = n >= 1
    fitted = fit_prior(n[seen], e[seen])
    assert fitted.loglik >= log_likelihood(truth, n[seen], e[seen])  # the MLE is at least as good
    for name in ("alpha2", "beta2", "p"):
        assert getattr(fitted.prior, name) == pytest.approx(getattr(truth, name), rel=0.3)


def test_too_few_cells_fail_loudly() -> None:
    with pytest.raises(FitFailed, match="too few"):
        fit_prior([1, 2, 3], [0.5, 0.5, 0.5])


def test_disagreeing_starts_fail_loudly() -> None:
    rng = np.random.default_rng(3)
    e = rng.gamma(1.0, 1.0, 200)
    n = rng.poisson(e).astype(np.float64) + 1
    with pytest.raises(FitFailed, match="not trusted"):
        fit_prior(n, e, min_agree=30)  # more agreement than there are starts, extra grid too


def test_a_small_table_whose_first_starts_disagree_is_settled_by_more_starts() -> None:
    """The demo's lots of one medicine compared with each other (218 cells, generator v4):
    five of the six standard starts stop at a one-component prior; the sixth finds a small
    high-ratio component (the story's two lots) with a better likelihood, and only the
    extra grid of starts can confirm it."""
    cells = np.loadtxt(DATA / "lots_within_one_medicine.csv", delimiter=",", skiprows=1)
    n, e = cells[:, 0], cells[:, 1]
    fitted = fit_prior(n, e)
    assert "from the extra grid, run because the first 6 disagreed" in fitted.notes[0]
    assert fitted.agreeing >= 1
    assert 0.001 < fitted.prior.p < 0.05  # the small component is found, not a bound
    one_component = Prior(fitted.prior.alpha2, fitted.prior.beta2, fitted.prior.alpha2,
                          fitted.prior.beta2, 0.5)
    assert fitted.loglik > log_likelihood(one_component, n, e) + 0.5


def test_the_analytic_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(11)
    e = rng.gamma(0.5, 2.0, 400)
    n = rng.poisson(2 * e).astype(np.float64) + 1
    weights = np.ones_like(n)
    for theta in (np.array([0.1, -1.0, 1.0, 0.5, -1.0]),
                  np.array([-6.0, -3.0, 0.2, 0.1, 0.5])):  # alpha1 near zero
        value, gradient = negative_and_gradient(theta, n, e, weights)
        assert value == pytest.approx(-log_likelihood(prior_from_theta(theta), n, e))
        def value_at(t: np.ndarray) -> float:
            return negative_and_gradient(t, n, e, weights)[0]

        numeric = optimize.approx_fprime(theta, value_at, 1e-7)
        assert gradient == pytest.approx(numeric, rel=1e-4, abs=1e-3)


FAERS_Q3 = CAERS.parents[1] / "faers" / "pvlrt" / "faers22q3raw.csv"


def test_faers_2022q3_fits_where_openebgms_default_fit_fails() -> None:
    """openEBGM's autoHyper gives up on this extract with N* = 1: the maximum runs off
    towards alpha1 -> 0 (reference notes §7). medsafe's bounded fit stops at the bound,
    converges from every start, and says so."""
    if not FAERS_Q3.exists():
        pytest.skip("needs ../shared/data/faers/pvlrt/faers22q3raw.csv")
    counts = count_input(InputSpec(FAERS_Q3, "table", Columns("CASEID", "DRUG", "AE")))
    assert (counts.n.size, counts.n_reports) == (111_118, 215_867)
    fitted = fit_prior(counts.n, counts.e)
    assert fitted.converged
    assert fitted.agreeing >= 1
    assert fitted.at_bound == ("alpha1",)


def test_starts_that_found_the_same_mixture_with_swapped_components_agree() -> None:
    """Swapping the components (and P for 1 - P) is the same prior: not a spread."""
    from medsafe.signals.prior import _spread

    one = Prior(0.0001, 0.0077, 125.0, 66.5, 0.0155)
    swapped = Prior(125.0, 66.5, 0.0001, 0.0077, 1 - 0.0155)
    assert _spread([one, swapped]) == ""
    assert "alpha2" in _spread([one, Prior(0.0001, 0.0077, 60.0, 66.5, 0.0155)])
