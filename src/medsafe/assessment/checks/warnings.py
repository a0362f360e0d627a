"""Boxed warnings, the danger of stopping abruptly, and what to monitor."""

from __future__ import annotations

from collections.abc import Iterator

from medsafe.assessment.candidate import Candidate, for_route
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, short
from medsafe.knowledge.catalog import Catalog


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> Iterator[Finding]:
    ing = candidate.ingredient
    for warning in for_route(ing.warnings, candidate.route):
        if warning.boxed:
            yield Finding(
                kind="warning",
                severity="warning",
                summary=short(f"Boxed warning ({ing.name}): {warning.title}"),
                detail=warning.text,
                rule=f"warning/{ing.id}/{warning.id}",
                source=warning.source,
            )
    stop = ing.discontinuation
    if stop is not None and stop.abrupt_stop_dangerous:
        yield Finding(
            kind="warning",
            severity="info",
            summary=short(f"Never stop {ing.name} abruptly; reduce the dose slowly."),
            detail=stop.text,
            rule=f"warning/{ing.id}/abrupt-withdrawal",
            source=stop.source,
        )
    if ing.monitoring:
        items = "; ".join(f"{m.what} ({m.when})" for m in ing.monitoring)
        yield Finding(
            kind="monitoring",
            severity="info",
            summary=short(f"Monitor on {ing.name}: {items}"),
            detail=items,
            rule=f"monitoring/{ing.id}",
            source=ing.monitoring[0].source,
        )
