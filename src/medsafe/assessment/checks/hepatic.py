"""Liver function: Child-Pugh class, active liver disease, raised aminotransferases, and
baseline liver tests for drugs that can injure the liver."""

from __future__ import annotations

from collections.abc import Iterable

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.checks.renal import ACTION_ORDER, ACTION_SEVERITY
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, short
from medsafe.knowledge.catalog import Catalog

STATE_WORDS = {
    "child-pugh-a": "mild hepatic impairment (Child-Pugh A)",
    "child-pugh-b": "moderate hepatic impairment (Child-Pugh B)",
    "child-pugh-c": "severe hepatic impairment (Child-Pugh C)",
    "active-liver-disease": "active liver disease",
    "transaminases-over-3x-uln": "ALT or AST above 3 times the upper limit of normal",
}


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> list[Finding]:
    found: list[Finding] = []
    ing = candidate.ingredient
    rules = candidate.view.hepatic
    matched = [r for r in rules if set(r.when) & ctx.hepatic_states]
    if matched:
        worst = max(matched, key=lambda r: ACTION_ORDER[r.action])
        severity = ACTION_SEVERITY[worst.action]
        states = sorted(set(worst.when) & ctx.hepatic_states)
        where = ", ".join(STATE_WORDS[s] for s in states)
        if severity is not None and not _said_by_a_contraindication(candidate, ctx, catalog,
                                                                    states):
            dose = f" Dose: {worst.dose}" if worst.dose else ""
            found.append(Finding(
                kind="hepatic",
                severity=severity,
                summary=short(f"{ing.name} with {where}: {worst.text}"),
                detail=f"{worst.text}{dose}",
                rule=f"hepatic/{ing.id}/{worst.action}",
                source=worst.source,
                contraindicated=worst.action == "contraindicated",
            ))
    elif rules and ctx.hepatic_states:
        where = ", ".join(STATE_WORDS[s] for s in sorted(ctx.hepatic_states))
        found.append(Finding(
            kind="missing-data",
            severity="warning",
            summary=short(f"Liver findings on record ({where}) but no Child-Pugh class; "
                          f"{ing.name} liver rules need it."),
            detail=(f"The record shows {where}. {ing.name}'s liver rules are stated by severity "
                    f"({'; '.join(r.text for r in rules)}). Record the Child-Pugh class."),
            rule=f"missing-data/{ing.id}/child-pugh",
            source=rules[0].source,
        ))
    if ing.hepatotoxic is not None and not ctx.liver_tests_on_record and not matched:
        found.append(Finding(
            kind="missing-data",
            severity="warning",
            summary=short(f"No liver tests on record; {ing.name} can injure the liver."),
            detail=f"{ing.hepatotoxic.text} Record baseline liver tests (ALT, AST) first.",
            rule=f"missing-data/{ing.id}/liver-tests",
            source=ing.hepatotoxic.source,
        ))
    return found


def _said_by_a_contraindication(candidate: Candidate, ctx: PatientContext, catalog: Catalog,
                                states: Iterable[str]) -> bool:
    """True when a labelled contraindication for a recorded liver condition already covers
    these states (dantrolene in active liver disease): the conditions check reports it."""
    for ci in candidate.view.contraindications:
        if ci.condition and ci.condition in ctx.condition_ids:
            state = catalog.conditions[ci.condition].hepatic_state
            if state is not None and state in states:
                return True
    return False
