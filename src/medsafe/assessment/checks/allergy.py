"""Allergies and past hypersensitivity reactions recorded for the patient."""

from __future__ import annotations

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, short
from medsafe.knowledge.catalog import Catalog


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> list[Finding]:
    found: list[Finding] = []
    ing = candidate.ingredient
    if not (ctx.allergy_ingredients or ctx.allergy_classes or ctx.unrecognised_allergies):
        return found
    hypersensitivity = candidate.profile.hypersensitivity
    source = hypersensitivity.source if hypersensitivity else None
    label_text = f" Label: \"{hypersensitivity.text}\"" if hypersensitivity else ""
    matched = []
    if ing.id in ctx.allergy_ingredients:
        matched.append(ctx.allergy_labels[ing.id])
    for class_id in sorted(ctx.allergy_classes & candidate.profile.classes):
        matched.append(ctx.allergy_labels[class_id])
    if matched:
        recorded = ", ".join(dict.fromkeys(matched))
        found.append(Finding(
            kind="allergy",
            severity="critical",
            summary=short(f"Recorded allergy or reaction to {recorded}: do not give {ing.name}."),
            detail=f"The record lists an allergy or intolerance to {recorded}, which covers "
                   f"{ing.name}.{label_text}",
            rule=f"allergy/{ing.id}",
            source=source,
            with_=tuple(dict.fromkeys(matched)),
            contraindicated=True,
        ))
    if ctx.unrecognised_allergies:
        names = ", ".join(ctx.unrecognised_allergies)
        found.append(Finding(
            kind="missing-data",
            severity="info",
            summary=short(f"Allergy not recognised ({names}); cross-reactivity with "
                          f"{ing.name} not checked."),
            detail=f"medsafe could not match the recorded allergy to {names} to any drug it "
                   f"knows, so it could not check whether {ing.name} is affected.",
            rule=f"missing-data/{ing.id}/allergy",
            with_=ctx.unrecognised_allergies,
        ))
    return found
