"""Labelled contraindications and cautions that depend on the patient's conditions or age.

Contraindications that name a drug class are interactions and live in `interactions`;
hypersensitivity lives in `allergy`.
"""

from __future__ import annotations

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, FindingKind, in_sentence, short
from medsafe.knowledge.catalog import Catalog


def kind_for_condition(condition_id: str, catalog: Catalog) -> FindingKind:
    """Cautions about sleep disorders, pregnancy and the liver are reported under their
    own kinds so that a clinician filtering on them sees them."""
    condition = catalog.conditions[condition_id]
    if condition.sleep:
        return "sleep"
    if condition_id == "pregnancy":
        return "pregnancy"
    if condition.hepatic_state:
        return "hepatic"
    if condition_id in ("chronic-kidney-disease", "kidney-failure-dialysis"):
        return "renal"
    return "warning"


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> list[Finding]:
    found: list[Finding] = []
    ing = candidate.ingredient
    view = candidate.view
    for ci in view.contraindications:
        if ci.condition and ci.condition in ctx.condition_ids:
            name = catalog.conditions[ci.condition].name
            found.append(Finding(
                kind="contraindication",
                severity="critical",
                summary=short(f"{ing.name} is contraindicated in {in_sentence(name)}."),
                detail=f"Label: \"{ci.text}\"",
                rule=f"contraindication/{ing.id}/{ci.condition}",
                source=ci.source,
                contraindicated=True,
            ))
        if ci.min_age_years is not None and ctx.age is not None and ctx.age < ci.min_age_years:
            found.append(Finding(
                kind="contraindication",
                severity="critical",
                summary=short(f"{ing.name} is contraindicated under "
                              f"{_age_words(ci.min_age_years)} of age."),
                detail=f"Label: \"{ci.text}\"",
                rule=f"contraindication/{ing.id}/age",
                source=ci.source,
                contraindicated=True,
            ))
    measured_kidney = ctx.kidney is not None and bool(view.renal)
    for caution in view.cautions:
        if caution.condition in ctx.condition_ids:
            kind = kind_for_condition(caution.condition, catalog)
            if kind == "renal" and measured_kidney:
                continue  # the renal band for the measured eGFR/CrCl says it more precisely
            if kind == "pregnancy" and ing.pregnancy is not None:
                continue  # the pregnancy statement is reported by the population check
            name = catalog.conditions[caution.condition].name
            found.append(Finding(
                kind=kind,
                severity=caution.severity,
                summary=short(f"{ing.name} with {in_sentence(name)}: {caution.text}"),
                detail=caution.text,
                rule=f"caution/{ing.id}/{caution.condition}",
                source=caution.source,
            ))
    return found


def _age_words(years: float) -> str:
    if years < 1:
        return f"{round(years * 12)} months"
    return f"{years:g} years"
