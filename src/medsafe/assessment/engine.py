"""The treatment-assessment engine: one patient, some candidates, ranked options.

Pure: no I/O, no framework. `assess` takes a parsed `PatientRecord` and the `Catalog`
and returns an `Assessment`; everything it concludes is in the findings, each with its
source, and the suitability follows from the findings by `findings.suitability_of`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from medsafe.assessment.candidate import INJECTION_ROUTES, Candidate, profiles
from medsafe.assessment.checks import ALL_CHECKS
from medsafe.assessment.checks.indication import best_status
from medsafe.assessment.context import PatientContext, build_context
from medsafe.assessment.dose import DosePlan, plan
from medsafe.assessment.findings import (
    SEVERITY_WEIGHT,
    SUITABILITY_ORDER,
    Finding,
    Suitability,
    suitability_of,
)
from medsafe.assessment.patient import PatientRecord
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Ingredient, Route

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Option:
    candidate: Candidate
    suitability: Suitability
    rank: int
    findings: tuple[Finding, ...]
    dose: DosePlan | None
    monitoring: tuple[str, ...]
    score: int
    support: int  # how well the label supports the drug for the patient's condition


@dataclass(frozen=True, slots=True)
class Assessment:
    context: PatientContext
    options: tuple[Option, ...]

    def option(self, ingredient_id: str) -> Option:
        for option in self.options:
            if option.candidate.id == ingredient_id:
                return option
        raise KeyError(ingredient_id)


def choose_route(ing: Ingredient, ctx: PatientContext, catalog: Catalog) -> Route:
    """The route to assess: the kind the patient prefers if the drug has it, else oral if
    the drug has an oral form. Injected forms such as intrathecal baclofen are a different
    therapy (a pump, a screening dose), never a silent default; when the label supports
    another route better, the indication finding says so. Among several routes of the
    wanted kind, the one the label best supports for the patient's condition wins."""
    routes = sorted({p.route for p in ing.products})
    wanted = ctx.preferences.route
    if wanted == "injection" and any(r in INJECTION_ROUTES for r in routes):
        routes = [r for r in routes if r in INJECTION_ROUTES]
    elif "oral" in routes:
        routes = ["oral"]
    profile = profiles(catalog)[ing.id]
    if len(routes) == 1:
        return routes[0]
    return max(routes, key=lambda r: best_status(Candidate(ing, r, profile), ctx, catalog, r))


def _evaluate(ing: Ingredient, ctx: PatientContext, catalog: Catalog) -> Option:
    candidate = Candidate(ing, choose_route(ing, ctx, catalog), profiles(catalog)[ing.id])
    findings: list[Finding] = []
    for check in ALL_CHECKS:
        findings.extend(check(candidate, ctx, catalog))
    findings.sort(key=lambda f: (not f.contraindicated, SEVERITY_ORDER[f.severity]))
    score = sum(SEVERITY_WEIGHT[f.severity] for f in findings)
    return Option(
        candidate=candidate,
        suitability=suitability_of(findings),
        rank=0,
        findings=tuple(findings),
        dose=plan(candidate, ctx, catalog),
        monitoring=candidate.profile.monitoring,
        score=score,
        support=best_status(candidate, ctx, catalog, candidate.route),
    )


def assess(
    record: PatientRecord,
    catalog: Catalog,
    *,
    today: date,
    drugs: Sequence[str] | None = None,
) -> Assessment:
    """Assess every candidate (all ingredients in the catalog, or the named ones) for
    this patient. Ranking: suitability first, then how well the label supports the drug
    for the patient's condition, then fewer and milder findings, then name."""
    ctx = build_context(record, catalog, today)
    if drugs:
        ingredients = [catalog.ingredient(name) for name in drugs]
    else:
        ingredients = list(catalog.ingredients.values())
    evaluated = [_evaluate(ing, ctx, catalog) for ing in ingredients]
    evaluated.sort(
        key=lambda o: (
            SUITABILITY_ORDER[o.suitability],
            -o.support,
            o.score,
            o.candidate.name,
        )
    )
    ranked = tuple(
        Option(o.candidate, o.suitability, rank, o.findings, o.dose, o.monitoring, o.score,
               o.support)
        for rank, o in enumerate(evaluated, start=1)
    )
    return Assessment(context=ctx, options=ranked)


def clear_caches() -> None:
    """Forget every memoised finding and match (benchmarks use it to measure the cold
    path; a long-running service never needs it, the memos are bounded)."""
    from medsafe.assessment import context, dose
    from medsafe.assessment.checks import interactions, sleep, warnings

    for clear in (interactions.clear_cache, sleep.clear_cache, warnings.clear_cache,
                  dose.clear_cache, context.clear_caches):
        clear()
