"""Boxed warnings, the danger of stopping abruptly, and what to monitor.

These findings depend on the drug and route only, never on the patient, so they are
built once per (knowledge base, ingredient, route) and reused.
"""

from __future__ import annotations

from functools import lru_cache

from medsafe.assessment.candidate import Candidate, profiles
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, short
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Route


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog
          ) -> tuple[Finding, ...]:
    return _drug_findings(catalog, candidate.id, candidate.route)


@lru_cache(maxsize=1024)
def _drug_findings(catalog: Catalog, ingredient_id: str, route: Route) -> tuple[Finding, ...]:
    ing = catalog.ingredients[ingredient_id]
    view = profiles(catalog)[ingredient_id].routes[route]
    findings: list[Finding] = []
    for warning in view.warnings:
        if warning.boxed:
            findings.append(Finding(
                kind="warning",
                severity="warning",
                summary=short(f"Boxed warning ({ing.name}): {warning.title}"),
                detail=warning.text,
                rule=f"warning/{ing.id}/{warning.id}",
                source=warning.source,
            ))
    stop = ing.discontinuation
    if stop is not None and stop.abrupt_stop_dangerous:
        findings.append(Finding(
            kind="warning",
            severity="info",
            summary=short(f"Never stop {ing.name} abruptly; reduce the dose slowly."),
            detail=stop.text,
            rule=f"warning/{ing.id}/abrupt-withdrawal",
            source=stop.source,
        ))
    if ing.monitoring:
        items = "; ".join(f"{m.what} ({m.when})" for m in ing.monitoring)
        findings.append(Finding(
            kind="monitoring",
            severity="info",
            summary=short(f"Monitor on {ing.name}: {items}"),
            detail=items,
            rule=f"monitoring/{ing.id}",
            source=ing.monitoring[0].source,
        ))
    return tuple(findings)


def clear_cache() -> None:
    _drug_findings.cache_clear()
