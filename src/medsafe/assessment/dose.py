"""The starting dose and titration for one patient: the label's regimen for the chosen
route, with every adjustment that a matched rule gives (kidney, liver, age, interacting
drugs) listed beside it with its source."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.checks import renal
from medsafe.assessment.checks.population import OLDER_ADULT_AGE
from medsafe.assessment.context import PatientContext
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import DoseRegimen


@dataclass(frozen=True, slots=True)
class DosePlan:
    route: str
    use: str
    start: str
    titration: tuple[str, ...]
    max_daily: str | None
    max_duration_days: int | None
    adjustments: tuple[str, ...]
    notes: tuple[str, ...]
    source: str


def choose_regimen(candidate: Candidate, ctx: PatientContext, catalog: Catalog
                   ) -> DoseRegimen | None:
    regimens = [r for r in candidate.ingredient.dosing if r.route == candidate.route]
    if not regimens:
        return None
    for regimen in regimens:
        if ("spastic" in regimen.use.lower()) == ctx.spastic:
            return regimen
    return regimens[0]


def plan(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> DosePlan | None:
    regimen = choose_regimen(candidate, ctx, catalog)
    if regimen is None:
        return None
    ing = candidate.ingredient
    adjustments: list[str] = []
    for rule in renal.matching_rules(candidate, ctx):
        if rule.action != "no-change":
            adjustments.append(f"Kidney: {rule.dose or rule.text} ({rule.source.cite()})")
    for hepatic_rule in candidate.view.hepatic:
        if set(hepatic_rule.when) & ctx.hepatic_states and hepatic_rule.action != "no-change":
            adjustments.append(
                f"Liver: {hepatic_rule.dose or hepatic_rule.text} ({hepatic_rule.source.cite()})"
            )
    if ctx.age is not None and ctx.age >= OLDER_ADULT_AGE and ing.older_adult_dose:
        adjustments.append(f"Age {ctx.age}: {ing.older_adult_dose.text} "
                           f"({ing.older_adult_dose.source.cite()})")
    for class_id in ctx.medicine_classes & candidate.profile.interactions_by_class.keys():
        for ix in candidate.profile.interactions_by_class[class_id]:
            if ix.dose:
                adjustments.append(f"With {catalog.classes[class_id].name}: {ix.dose} "
                                   f"({ix.source.cite()})")
    base = _label_plan(catalog, ing.id, ing.dosing.index(regimen))
    if not adjustments:
        return base
    return DosePlan(base.route, base.use, base.start, base.titration, base.max_daily,
                    base.max_duration_days, tuple(adjustments), base.notes, base.source)


@lru_cache(maxsize=1024)
def _label_plan(catalog: Catalog, ingredient_id: str, index: int) -> DosePlan:
    """The label's regimen as text, before any adjustment for a patient."""
    regimen = catalog.ingredients[ingredient_id].dosing[index]
    if regimen.max_daily_mg:
        max_daily: str | None = f"{regimen.max_daily_mg:g} mg"
    else:
        max_daily = regimen.max_daily_text
    return DosePlan(
        route=regimen.route,
        use=regimen.use,
        start=regimen.start,
        titration=tuple(step.label() for step in regimen.titration),
        max_daily=max_daily,
        max_duration_days=regimen.max_duration_days,
        adjustments=(),
        notes=regimen.notes,
        source=regimen.source.cite(),
    )


def clear_cache() -> None:
    _label_plan.cache_clear()
