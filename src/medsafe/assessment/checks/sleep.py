"""Sleep is first-class: sleep apnoea, insomnia, and sedation on top of other sedatives.

A drug is sedating when its label lists a side effect that causes daytime sleepiness
(drowsiness, somnolence, sedation, fatigue).
"""

from __future__ import annotations

from functools import lru_cache

from medsafe.assessment.candidate import Candidate, profiles
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, short
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Ingredient

SEDATIVE_CLASS = "cns-depressants"


def _contraindicated_for(ing: Ingredient, condition_id: str) -> bool:
    return any(ci.condition == condition_id for ci in ing.contraindications)


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog
          ) -> tuple[Finding, ...]:
    sedatives = tuple(m.label for m in ctx.medicines
                      if SEDATIVE_CLASS in m.classes and candidate.id not in m.ingredients)
    return _sleep_findings(catalog, candidate.id, "sleep-apnoea" in ctx.condition_ids,
                           sedatives, "insomnia" in ctx.condition_ids)


# The findings depend only on these few facts, which recur across patients: memoised.
@lru_cache(maxsize=16_384)
def _sleep_findings(catalog: Catalog, ingredient_id: str, apnoea: bool,
                    sedatives: tuple[str, ...], insomnia: bool) -> tuple[Finding, ...]:
    ing = catalog.ingredients[ingredient_id]
    profile = profiles(catalog)[ingredient_id]
    findings: list[Finding] = []
    sedating = profile.sedation
    if sedating is not None:
        how_often = f"{sedating.term} ({sedating.frequency.short()})"
        if apnoea and not _contraindicated_for(ing, "sleep-apnoea"):
            findings.append(Finding(
                kind="sleep",
                severity="warning",
                summary=short(f"Sleep apnoea: {ing.name} is sedating ({how_often}); risk of "
                              f"breathing depression in sleep."),
                detail=(f"{ing.name}'s label lists {how_often}. In a patient with sleep "
                        "apnoea, a sedating drug can deepen sleep-related breathing problems; "
                        "use the lowest dose, review the apnoea treatment and watch for "
                        "daytime sleepiness."),
                rule=f"sleep/{ing.id}/sleep-apnoea",
                source=sedating.source,
            ))
        if sedatives:
            names = ", ".join(sedatives)
            findings.append(Finding(
                kind="sleep",
                severity="warning",
                summary=short(f"Daytime sleepiness adds up: {ing.name} ({how_often}) on top of "
                              f"{names}."),
                detail=(f"{ing.name} causes {how_often} and the patient already takes "
                        f"{names}, which also cause sedation. Warn about drowsiness, driving "
                        "and falls."),
                rule=f"sleep/{ing.id}/other-sedatives",
                source=sedating.source,
                with_=sedatives,
            ))
    effect = profile.insomnia
    if insomnia and effect is not None:
        findings.append(Finding(
            kind="sleep",
            severity="warning",
            summary=short(f"Insomnia on record: {ing.name} lists {effect.term} "
                          f"({effect.frequency.short()}) as a side effect."),
            detail=(f"The label lists {effect.term} ({effect.frequency.short()}). The patient "
                    "already has insomnia; ask about sleep at follow-up."),
            rule=f"sleep/{ing.id}/insomnia",
            source=effect.source,
        ))
    return tuple(findings)


def clear_cache() -> None:
    _sleep_findings.cache_clear()
