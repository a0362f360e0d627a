"""Pregnancy and age."""

from __future__ import annotations

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, short
from medsafe.knowledge.catalog import Catalog

# The age from which a patient counts as an older adult. The cyclobenzaprine label's
# pharmacokinetic study of "elderly individuals" uses >= 65 years; we use the same line.
OLDER_ADULT_AGE = 65
ADULT_AGE = 18


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> list[Finding]:
    found: list[Finding] = []
    ing = candidate.ingredient
    if ctx.pregnant and ing.pregnancy is not None:
        found.append(Finding(
            kind="pregnancy",
            severity="warning",
            summary=short(f"Pregnant: {ing.pregnancy.text}"),
            detail=ing.pregnancy.text,
            rule=f"pregnancy/{ing.id}",
            source=ing.pregnancy.source,
        ))
    elif ctx.pregnant and ing.pregnancy is None:
        found.append(Finding(
            kind="missing-data",
            severity="warning",
            summary=short(f"Pregnant: medsafe holds no sourced pregnancy data for {ing.name}."),
            detail="No pregnancy statement from a cited source is in the knowledge base for "
                   f"{ing.name}; check the current label before prescribing.",
            rule=f"missing-data/{ing.id}/pregnancy",
        ))
    if ctx.age is None:
        found.append(Finding(
            kind="missing-data",
            severity="info",
            summary="No birth date on record; age-related cautions not checked.",
            detail="Without an age medsafe cannot apply older-adult or paediatric cautions.",
            rule=f"missing-data/{ing.id}/age",
        ))
        return found
    if ctx.age >= OLDER_ADULT_AGE and ing.older_adults is not None:
        dose = f" Suggested start: {ing.older_adult_dose.text}" if ing.older_adult_dose else ""
        found.append(Finding(
            kind="age",
            severity="warning",
            summary=short(f"Age {ctx.age}: {ing.older_adults.text}"),
            detail=f"{ing.older_adults.text}{dose}",
            rule=f"age/{ing.id}/older-adult",
            source=ing.older_adults.source,
        ))
    if ctx.age < ADULT_AGE:
        found.append(Finding(
            kind="age",
            severity="warning",
            summary=short(f"Age {ctx.age}: medsafe holds adult dosing only for {ing.name}."),
            detail="The doses shown are adult doses; use the label's paediatric dosing.",
            rule=f"age/{ing.id}/paediatric",
        ))
    return found
