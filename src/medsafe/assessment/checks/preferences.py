"""The patient's own preferences: the route, and side effects they want to avoid."""

from __future__ import annotations

from medsafe.assessment.candidate import INJECTION_ROUTES, Candidate
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, FindingSeverity, short
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Ingredient, SideEffect
from medsafe.knowledge.text import normalise

# Lay words a patient uses for the side effects they want to avoid, mapped to what labels
# call them. "not drowsy" arrives as "drowsiness".
SLEEPINESS_WORDS = frozenset({"drowsiness", "drowsy", "sleepy", "sleepiness", "sedation",
                              "somnolence", "tiredness", "tired", "fatigue"})
STRONG_EFFECT_PCT = 10.0  # a side effect in 10% or more is "very common" (CIOMS III)


def matches(preference: str, effect: SideEffect) -> bool:
    wanted = normalise(preference)
    if wanted in SLEEPINESS_WORDS:
        return effect.affects_sleep == "daytime-sleepiness"
    names = {normalise(effect.term)}
    if effect.preferred_term:
        names.add(normalise(effect.preferred_term))
    return wanted in names or any(wanted in name.split() for name in names)


def _frequency(effect: SideEffect) -> float:
    """The highest frequency the label states ('greater than 10%' counts as 10)."""
    return max(effect.frequency.high_pct or 0.0, effect.frequency.low_pct or 0.0)


def route_ok(ing: Ingredient, wanted: str) -> bool:
    if wanted == "oral":
        return "oral" in ing.routes
    return bool(ing.routes & INJECTION_ROUTES)


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> list[Finding]:
    found: list[Finding] = []
    ing = candidate.ingredient
    wanted_route = ctx.preferences.route
    if wanted_route and not route_ok(ing, wanted_route):
        have = ", ".join(sorted(ing.routes))
        found.append(Finding(
            kind="route-preference",
            severity="warning",
            summary=short(f"Patient prefers {wanted_route}; {ing.name} is given only by "
                          f"{have}."),
            detail=f"{ing.name} products in the knowledge base: "
                   + "; ".join(f"{p.name} ({p.route})" for p in ing.products),
            rule=f"route-preference/{ing.id}/{wanted_route}",
            source=ing.products[0].source,
        ))
    for avoid in ctx.preferences.avoid_side_effects:
        hits = [s for s in ing.side_effects if matches(avoid, s)]
        if not hits:
            continue
        top = max(hits, key=_frequency)
        strong = _frequency(top) >= STRONG_EFFECT_PCT
        severity: FindingSeverity = "warning" if strong else "info"
        found.append(Finding(
            kind="tolerability-preference",
            severity=severity,
            summary=short(f"Patient wants to avoid {avoid}; {ing.name} lists {top.term} "
                          f"({top.frequency.short()})."),
            detail=f"The label lists {top.term} ({top.frequency.short()}); the patient asked to "
                   f"avoid {avoid}.",
            rule=f"tolerability-preference/{ing.id}/{normalise(avoid).replace(' ', '-')}",
            source=top.source,
        ))
    return found
