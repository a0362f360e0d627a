"""Kidney function: dose bands by eGFR or creatinine clearance, and dialysis.

No number on record is not a pass: a drug that the kidneys clear, or that has renal
rules, gets a `missing-data` finding when neither eGFR nor CrCl is known.
"""

from __future__ import annotations

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, FindingSeverity, short
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import RenalRule, RuleAction

ACTION_SEVERITY: dict[RuleAction, FindingSeverity | None] = {
    "no-change": None,
    "caution": "warning",
    "reduce-dose": "warning",
    "avoid": "critical",
    "contraindicated": "critical",
}
MEASURE_NAMES = {"egfr": "eGFR", "crcl": "CrCl"}
ACTION_ORDER: dict[RuleAction, int] = {"no-change": 0, "caution": 1, "reduce-dose": 2,
                                        "avoid": 3, "contraindicated": 4}


def matching_rules(candidate: Candidate, ctx: PatientContext) -> list[RenalRule]:
    rules = candidate.view.renal
    found = []
    for rule in rules:
        if rule.dialysis:
            if ctx.on_dialysis:
                found.append(rule)
            continue
        if ctx.kidney is None:
            continue
        value = ctx.kidney.value
        if (rule.min is None or value >= rule.min) and (rule.max is None or value < rule.max):
            found.append(rule)
    return found


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> list[Finding]:
    found: list[Finding] = []
    ing = candidate.ingredient
    rules = candidate.view.renal
    if not rules and ing.renally_cleared is None:
        return found
    matched = matching_rules(candidate, ctx)
    banded = any(not rule.dialysis for rule in rules)
    if ctx.kidney is None and not matched and (banded or ing.renally_cleared is not None):
        why = ing.renally_cleared.text if ing.renally_cleared else "Its label has renal dose rules."
        have = (" Serum creatinine is on record, but no eGFR or creatinine clearance."
                if ctx.creatinine_only else "")
        found.append(Finding(
            kind="missing-data",
            severity="warning",
            summary=short(f"No eGFR or CrCl on record; {ing.name} dosing depends on kidney "
                          f"function."),
            detail=f"{why}{have} Record an eGFR or creatinine clearance before dosing.",
            rule=f"missing-data/{ing.id}/kidney",
            source=ing.renally_cleared.source if ing.renally_cleared else rules[0].source,
        ))
        return found
    if not matched:
        return found
    # On dialysis, the dialysis rule is the more specific one when actions tie.
    worst = max(matched, key=lambda r: (ACTION_ORDER[r.action], r.dialysis))
    severity = ACTION_SEVERITY[worst.action]
    if severity is None:
        return found
    if ctx.on_dialysis and worst.dialysis:
        where = "on dialysis"
    elif ctx.kidney is not None:
        where = f"{MEASURE_NAMES[ctx.kidney.measure]} {ctx.kidney.value:g} mL/min"
    else:
        where = "reduced kidney function"
    measure_note = ""
    if ctx.kidney and worst.measure == "crcl" and ctx.kidney.measure == "egfr":
        measure_note = (" The label's band is in creatinine clearance; the record's eGFR was "
                        "used in its place.")
    dose = f" Dose: {worst.dose}" if worst.dose else ""
    found.append(Finding(
        kind="renal",
        severity=severity,
        summary=short(f"{ing.name}, {where}: {worst.text}"),
        detail=f"{worst.text}{dose}{measure_note}",
        rule=f"renal/{ing.id}/{worst.action}",
        source=worst.source,
        contraindicated=worst.action == "contraindicated",
    ))
    return found
