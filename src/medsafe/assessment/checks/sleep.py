"""Sleep is first-class: sleep apnoea, insomnia, and sedation on top of other sedatives.

A drug is sedating when its label lists a side effect that causes daytime sleepiness
(drowsiness, somnolence, sedation, fatigue).
"""

from __future__ import annotations

from collections.abc import Iterator

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, short
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Ingredient, SideEffect

SEDATIVE_CLASS = "cns-depressants"


def sedation(ing: Ingredient) -> SideEffect | None:
    """The label's most frequent daytime-sleepiness side effect, if any."""
    effects = [s for s in ing.side_effects if s.affects_sleep == "daytime-sleepiness"]
    if not effects:
        return None
    return max(effects, key=lambda s: s.frequency.high_pct or 0.0)


def _contraindicated_for(ing: Ingredient, condition_id: str) -> bool:
    return any(ci.condition == condition_id for ci in ing.contraindications)


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> Iterator[Finding]:
    ing = candidate.ingredient
    sedating = sedation(ing)
    if sedating is not None:
        how_often = f"{sedating.term} ({sedating.frequency.short()})"
        if "sleep-apnoea" in ctx.condition_ids and not _contraindicated_for(ing, "sleep-apnoea"):
            yield Finding(
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
            )
        sedatives = [m.label for m in ctx.medicines
                     if SEDATIVE_CLASS in m.classes and ing.id not in m.ingredients]
        if sedatives:
            names = ", ".join(sedatives)
            yield Finding(
                kind="sleep",
                severity="warning",
                summary=short(f"Daytime sleepiness adds up: {ing.name} ({how_often}) on top of "
                              f"{names}."),
                detail=(f"{ing.name} causes {how_often} and the patient already takes "
                        f"{names}, which also cause sedation. Warn about drowsiness, driving "
                        "and falls."),
                rule=f"sleep/{ing.id}/other-sedatives",
                source=sedating.source,
                with_=tuple(sedatives),
            )
    if "insomnia" in ctx.condition_ids:
        insomnia = [s for s in ing.side_effects if s.affects_sleep == "insomnia"]
        for effect in insomnia[:1]:
            yield Finding(
                kind="sleep",
                severity="warning",
                summary=short(f"Insomnia on record: {ing.name} lists {effect.term} "
                              f"({effect.frequency.short()}) as a side effect."),
                detail=(f"The label lists {effect.term} ({effect.frequency.short()}). The patient "
                        "already has insomnia; ask about sleep at follow-up."),
                rule=f"sleep/{ing.id}/insomnia",
                source=effect.source,
            )
