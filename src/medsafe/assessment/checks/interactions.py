"""Interactions between the candidate and each medicine the patient already takes.

Both directions count: the candidate's label may name the medicine's class (baclofen and
CNS depressants), or the medicine's label, when it is in the knowledge base, may name the
candidate's class (diazepam and opioids, when the candidate is the opioid's partner).
One finding per medicine: its most severe interaction. A medicine that is the candidate
itself is duplicate therapy, not an interaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.context import MatchedMedicine, PatientContext
from medsafe.assessment.findings import Finding, FindingSeverity, short
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Ingredient, InteractionSeverity, Source

SEVERITY: dict[InteractionSeverity, FindingSeverity] = {
    "contraindicated": "critical",
    "major": "critical",
    "moderate": "warning",
    "minor": "info",
}
ORDER: dict[InteractionSeverity, int] = {"minor": 0, "moderate": 1, "major": 2,
                                          "contraindicated": 3}


@dataclass(frozen=True, slots=True)
class _Hit:
    severity: InteractionSeverity
    partner: str  # what the label names: a class name or an ingredient name
    effect: str
    management: str
    source: Source
    label_of: str  # whose label says so


def _hits(ing: Ingredient, medicine: MatchedMedicine, candidate_classes: frozenset[str],
          catalog: Catalog) -> list[_Hit]:
    hits: list[_Hit] = []
    med_classes = medicine.classes
    for ix in ing.interactions:
        if (ix.with_class and ix.with_class in med_classes) or (
            ix.with_ingredient and ix.with_ingredient in medicine.ingredients
        ):
            partner = (catalog.classes[ix.with_class].name if ix.with_class
                       else catalog.ingredients[str(ix.with_ingredient)].name)
            hits.append(_Hit(ix.severity, partner, ix.effect, ix.management, ix.source, ing.name))
    for ci in ing.contraindications:
        if ci.drug_class and ci.drug_class in med_classes:
            hits.append(_Hit("contraindicated", catalog.classes[ci.drug_class].name, ci.text,
                             "Do not combine.", ci.source, ing.name))
    for other_id in medicine.ingredients - {ing.id}:
        other = catalog.ingredients[other_id]
        for ix in other.interactions:
            if (ix.with_class and ix.with_class in candidate_classes) or (
                ix.with_ingredient == ing.id
            ):
                partner = (catalog.classes[ix.with_class].name if ix.with_class else ing.name)
                hits.append(_Hit(ix.severity, partner, ix.effect, ix.management, ix.source,
                                 other.name))
        for ci in other.contraindications:
            if ci.drug_class and ci.drug_class in candidate_classes:
                hits.append(_Hit("contraindicated", catalog.classes[ci.drug_class].name,
                                 ci.text, "Do not combine.", ci.source, other.name))
    return hits


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> Iterator[Finding]:
    ing = candidate.ingredient
    candidate_classes = catalog.class_closure(ing.classes)
    for medicine in ctx.medicines:
        if ing.id in medicine.ingredients:
            yield _duplicate(candidate, medicine)
            continue
        hits = _hits(ing, medicine, candidate_classes, catalog)
        if not hits:
            continue
        worst = max(hits, key=lambda h: ORDER[h.severity])
        contraindicated = worst.severity == "contraindicated"
        verb = "is contraindicated with" if contraindicated else "interacts with"
        also = [h for h in hits if h is not worst]
        more = ""
        if also:
            more = " Also: " + " ".join(
                f"On {h.label_of} with {h.partner}: {h.effect} ({h.source.cite()})." for h in also
            )
        yield Finding(
            kind="interaction",
            severity=SEVERITY[worst.severity],
            summary=short(f"{ing.name} {verb} {medicine.label} ({worst.partner}): "
                          f"{worst.effect}"),
            detail=(f"{medicine.label} counts among {worst.partner}. On {worst.label_of}: "
                    f"{worst.effect} Management: {worst.management}{more}"),
            rule=f"interaction/{ing.id}/{_rule_partner(worst.partner)}",
            source=worst.source,
            with_=(medicine.label,),
            contraindicated=contraindicated,
        )
    if ctx.unrecognised_medicines:
        names = ", ".join(ctx.unrecognised_medicines)
        yield Finding(
            kind="missing-data",
            severity="warning",
            summary=short(f"Not recognised, interactions with {ing.name} unchecked: {names}"),
            detail=(f"medsafe could not identify {names} by code or name, so it could not check "
                    f"them against {ing.name}. Check these interactions by hand."),
            rule=f"missing-data/{ing.id}/medicines",
            with_=ctx.unrecognised_medicines,
        )


def _duplicate(candidate: Candidate, medicine: MatchedMedicine) -> Finding:
    ing = candidate.ingredient
    regimen = ing.dosing[0]
    limit = (f" The maximum is {regimen.max_daily_mg:g} mg a day in total."
             if regimen.max_daily_mg else "")
    return Finding(
        kind="duplicate-therapy",
        severity="warning",
        summary=short(f"Already taking {ing.name} ({medicine.label}); do not add a second "
                      f"course."),
        detail=(f"The record already lists {medicine.label}. A new {ing.name} order should "
                f"replace or adjust it, not add to it.{limit}"),
        rule=f"duplicate-therapy/{ing.id}",
        source=regimen.source,
        with_=(medicine.label,),
    )


def _rule_partner(partner: str) -> str:
    return "-".join(partner.lower().split())
