"""Interactions between the candidate and each medicine the patient already takes.

Both directions count: the candidate's label may name the medicine's class (baclofen and
CNS depressants), or the medicine's label, when it is in the knowledge base, may name the
candidate's class (diazepam and opioids, when the candidate is the opioid's partner).
One finding per medicine: its most severe interaction. A medicine that is the candidate
itself is duplicate therapy, not an interaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from medsafe.assessment.candidate import Candidate, profiles
from medsafe.assessment.context import MatchedMedicine, PatientContext
from medsafe.assessment.findings import Finding, FindingSeverity, short
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import InteractionSeverity, Route, Source

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


def _hits(candidate: Candidate, medicine: MatchedMedicine, catalog: Catalog) -> list[_Hit]:
    ing = candidate.ingredient
    own = candidate.profile
    hits: list[_Hit] = []
    for class_id in medicine.classes & own.interactions_by_class.keys():
        name = catalog.classes[class_id].name
        hits.extend(_Hit(ix.severity, name, ix.effect, ix.management, ix.source, ing.name)
                     for ix in own.interactions_by_class[class_id])
    for other_id in medicine.ingredients & own.interactions_by_ingredient.keys():
        name = catalog.ingredients[other_id].name
        hits.extend(_Hit(ix.severity, name, ix.effect, ix.management, ix.source, ing.name)
                    for ix in own.interactions_by_ingredient[other_id])
    for class_id in medicine.classes & own.contraindicated_classes.keys():
        ci = own.contraindicated_classes[class_id]
        hits.append(_Hit("contraindicated", catalog.classes[class_id].name, ci.text,
                         "Do not combine.", ci.source, ing.name))
    # The other direction: the label of a knowledge-base medicine the patient takes.
    all_profiles = profiles(catalog)
    for other_id in medicine.ingredients - {ing.id}:
        other = all_profiles[other_id]
        other_name = catalog.ingredients[other_id].name
        for class_id in own.classes & other.interactions_by_class.keys():
            name = catalog.classes[class_id].name
            hits.extend(_Hit(ix.severity, name, ix.effect, ix.management, ix.source, other_name)
                        for ix in other.interactions_by_class[class_id])
        hits.extend(_Hit(ix.severity, ing.name, ix.effect, ix.management, ix.source, other_name)
                    for ix in other.interactions_by_ingredient.get(ing.id, ()))
        for class_id in own.classes & other.contraindicated_classes.keys():
            ci = other.contraindicated_classes[class_id]
            hits.append(_Hit("contraindicated", catalog.classes[class_id].name, ci.text,
                             "Do not combine.", ci.source, other_name))
    return hits


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> list[Finding]:
    found: list[Finding] = []
    ing = candidate.ingredient
    for medicine in ctx.medicines:
        finding = _finding_for(catalog, candidate.id, candidate.route, medicine)
        if finding is not None:
            found.append(finding)
    if ctx.unrecognised_medicines:
        names = ", ".join(ctx.unrecognised_medicines)
        found.append(Finding(
            kind="missing-data",
            severity="warning",
            summary=short(f"Not recognised, interactions with {ing.name} unchecked: {names}"),
            detail=(f"medsafe could not identify {names} by code or name, so it could not check "
                    f"them against {ing.name}. Check these interactions by hand."),
            rule=f"missing-data/{ing.id}/medicines",
            with_=ctx.unrecognised_medicines,
        ))
    return found


# A finding about one candidate and one medicine depends on nothing else, and the same
# medicines recur across patients (opioids, antihypertensives), so it is memoised (bounded
# LRU). The key includes the catalog, so a reloaded knowledge base never reuses findings
# made from another. `benchmarks/bench_assess.py` reports speed with and without it.
@lru_cache(maxsize=65_536)
def _finding_for(catalog: Catalog, ingredient_id: str, route: Route,
                 medicine: MatchedMedicine) -> Finding | None:
    candidate = Candidate(catalog.ingredients[ingredient_id], route,
                          profiles(catalog)[ingredient_id])
    ing = candidate.ingredient
    if ing.id in medicine.ingredients:
        return _duplicate(candidate, medicine)
    hits = _hits(candidate, medicine, catalog)
    if not hits:
        return None
    worst = max(hits, key=lambda h: ORDER[h.severity])
    contraindicated = worst.severity == "contraindicated"
    verb = "is contraindicated with" if contraindicated else "interacts with"
    also = [h for h in hits if h is not worst]
    more = ""
    if also:
        more = " Also: " + " ".join(
            f"On {h.label_of} with {h.partner}: {h.effect} ({h.source.cite()})." for h in also
        )
    return Finding(
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


def clear_cache() -> None:
    """Forget memoised findings (for benchmarks measuring the cold path)."""
    _finding_for.cache_clear()
