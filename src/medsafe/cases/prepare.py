"""From a case version to what the store keeps about it (pure): recognising the drugs
against the knowledge base, and computing validity, seriousness, expectedness and the
expedited-report clock once, at intake, so that inboxes and statistics never recompute
them. The single-case service and the bulk importers both go through here, so a case
imported from FAERS is judged exactly like one typed into the form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from medsafe.cases.model import CaseReport, Drug
from medsafe.cases.rules import ClockRule, clock_for, seriousness_criteria, validity_problems
from medsafe.knowledge.catalog import Catalog


def recognise_drugs(report: CaseReport, catalog: Catalog) -> CaseReport:
    """The report with `ingredient_id` filled in for each drug whose product name or
    substance the knowledge base recognises as exactly one ingredient."""
    drugs = tuple(_recognised(drug, catalog) for drug in report.drugs)
    if drugs == report.drugs:
        return report
    return report.model_copy(update={"drugs": drugs})


def _recognised(drug: Drug, catalog: Catalog) -> Drug:
    if drug.ingredient_id is not None:
        return drug
    for text in (drug.product_name, *drug.substances):
        found = {identity.ingredient for identity in catalog.identify_drug_text(text)
                 if identity.ingredient}
        if len(found) == 1:
            return drug.model_copy(update={"ingredient_id": found.pop()})
    return drug


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the rules say about one version."""

    valid: bool
    invalid_reasons: tuple[str, ...]
    serious: bool
    criteria: tuple[str, ...]
    expedited: bool
    day_zero: date | None
    due_on: date | None
    primary_term: str
    primary_suspect: str


def judge(report: CaseReport, catalog: Catalog, rule: ClockRule, *,
          clock_starts: date | None) -> Judgement:
    """Judge a version. `clock_starts` is the day its information reached the
    organisation when it starts a clock (a new case, or a significant follow-up), else
    None (the case keeps the clock it has)."""
    problems = tuple(validity_problems(report))
    clock = (clock_for(report, catalog, rule, day_zero=clock_starts)
             if clock_starts is not None else None)
    suspects = report.suspects
    return Judgement(
        valid=not problems, invalid_reasons=problems, serious=report.serious,
        criteria=seriousness_criteria(report), expedited=clock is not None,
        day_zero=clock.day_zero if clock else None, due_on=clock.due if clock else None,
        primary_term=(report.reactions[0].term if report.reactions else "(no reaction)")[:250],
        primary_suspect=(suspects[0].product_name if suspects else "(no suspect drug)")[:250],
    )
