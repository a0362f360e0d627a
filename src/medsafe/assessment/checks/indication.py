"""Does the label support this drug for what the patient has?

The two families are kept apart: for a patient with spasticity, a drug labelled only for
acute painful musculoskeletal conditions gets a critical `indication` finding.
"""

from __future__ import annotations

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding, FindingSeverity, in_sentence, short
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Indication, IndicationStatus

STATUS_RANK: dict[IndicationStatus, int] = {
    "indicated": 5,
    "adjunct": 4,
    "may-be-of-value": 3,
    "not-established": 2,
    "not-recommended": 1,
    "not-effective": 0,
}
STATUS_SEVERITY: dict[IndicationStatus, FindingSeverity | None] = {
    "indicated": None,
    "adjunct": "info",
    "may-be-of-value": "info",
    "not-established": "warning",
    "not-recommended": "critical",
    "not-effective": "critical",
}
STATUS_WORDS: dict[IndicationStatus, str] = {
    "indicated": "is indicated for",
    "adjunct": "is labelled only as an adjunct for",
    "may-be-of-value": "is labelled as possibly of some value in",
    "not-established": "has no established efficacy in",
    "not-recommended": "is not recommended for",
    "not-effective": "is not effective for",
}
GENERIC_SPASTICITY = "spasticity"


def treated_conditions(ctx: PatientContext, catalog: Catalog, candidate: Candidate
                       ) -> list[str]:
    """The patient's conditions that a muscle relaxant is given for: causes of spasticity,
    acute musculoskeletal conditions, and any condition the candidate's label speaks of
    (baclofen's label says it is not indicated for spasm from rheumatic disorders)."""
    labelled = candidate.profile.labelled_conditions
    return sorted(
        cid for cid in ctx.condition_ids
        if catalog.conditions[cid].spasticity or catalog.conditions[cid].musculoskeletal
        or cid in labelled
    )


def statement_for(candidate: Candidate, condition_id: str, catalog: Catalog,
                  route: str | None = None) -> Indication | None:
    """The label's statement for this condition on this route: the specific one if the
    label has one, else its generic statement on spasticity for a cause of spasticity."""
    view = candidate.profile.routes.get(route or candidate.route)
    statements = view.indications if view is not None else ()
    specific = [s for s in statements if s.condition == condition_id]
    if specific:
        return max(specific, key=lambda s: STATUS_RANK[s.status])
    if catalog.conditions[condition_id].spasticity:
        generic = [s for s in statements if s.condition == GENERIC_SPASTICITY]
        if generic:
            return max(generic, key=lambda s: STATUS_RANK[s.status])
    return None


def best_status(candidate: Candidate, ctx: PatientContext, catalog: Catalog,
                route: str) -> int:
    """Rank of the best-supported treated condition on a route (-1: nothing labelled)."""
    ranks = [
        STATUS_RANK[s.status]
        for cid in treated_conditions(ctx, catalog, candidate)
        if (s := statement_for(candidate, cid, catalog, route)) is not None
    ]
    return max(ranks, default=-1)


def check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> list[Finding]:
    found: list[Finding] = []
    ing = candidate.ingredient
    treated = treated_conditions(ctx, catalog, candidate)
    if not treated:
        found.append(Finding(
            kind="missing-data",
            severity="warning",
            summary="No condition on record that a muscle relaxant treats; indication unchecked.",
            detail=(
                "medsafe found no spasticity (multiple sclerosis, spinal cord injury, cerebral "
                "palsy, stroke) or acute musculoskeletal condition in the record, so it cannot "
                f"tell whether {ing.name} is indicated. Add the condition being treated."
            ),
            rule=f"missing-data/{ing.id}/indication",
        ))
        return found
    spastic = [cid for cid in treated if catalog.conditions[cid].spasticity]
    if spastic and ing.family == "musculoskeletal":
        names = ", ".join(in_sentence(catalog.conditions[c].name) for c in spastic)
        statement = _family_statement(candidate, spastic, catalog)
        found.append(Finding(
            kind="indication",
            severity="critical",
            summary=short(f"{ing.name} is for acute musculoskeletal spasm, not spasticity "
                          f"({names})."),
            detail=(
                f"{ing.name} is labelled for acute, painful musculoskeletal conditions, not for "
                f"spasticity of cerebral or spinal origin. Label: \"{statement.text}\""
            ),
            rule=f"indication/{ing.id}/spasticity",
            source=statement.source,
        ))
        return found
    statements = [(cid, statement_for(candidate, cid, catalog)) for cid in treated]
    labelled = [(cid, s) for cid, s in statements if s is not None]
    if not labelled:
        names = ", ".join(in_sentence(catalog.conditions[c].name) for c in treated)
        found.append(Finding(
            kind="indication",
            severity="warning",
            summary=short(f"{ing.name} ({candidate.route}) is not labelled for {names}."),
            detail=(
                f"None of the {ing.name} label statements medsafe holds covers {names} for "
                f"the {candidate.route} route; using it would be off-label."
            ),
            rule=f"indication/{ing.id}/unlabelled",
        ))
        return found
    cid, best = max(labelled, key=lambda pair: STATUS_RANK[pair[1].status])
    severity = STATUS_SEVERITY[best.status]
    if severity is None:
        return found
    condition = catalog.conditions[cid].name
    other_routes = _better_route_text(candidate, cid, catalog, best.status)
    found.append(Finding(
        kind="indication",
        severity=severity,
        summary=short(f"{ing.name} ({candidate.route}) {STATUS_WORDS[best.status]} "
                      f"{in_sentence(condition)}."),
        detail=f"Label: \"{best.text}\"{other_routes}",
        rule=f"indication/{ing.id}/{cid}",
        source=best.source,
    ))
    return found


def _family_statement(candidate: Candidate, spastic: list[str], catalog: Catalog) -> Indication:
    """The label statement that best explains the mismatch: a 'not effective' statement
    for one of the patient's conditions if the label has one, else its indication."""
    for cid in spastic:
        statement = statement_for(candidate, cid, catalog)
        if statement is not None and statement.status == "not-effective":
            return statement
    return max(candidate.ingredient.indications, key=lambda s: STATUS_RANK[s.status])


def _better_route_text(candidate: Candidate, condition_id: str, catalog: Catalog,
                       status: IndicationStatus) -> str:
    better = []
    for statement in candidate.ingredient.indications:
        if (statement.condition == condition_id and statement.routes
                and candidate.route not in statement.routes
                and STATUS_RANK[statement.status] > STATUS_RANK[status]):
            better.append(f" By the {'/'.join(statement.routes)} route: \"{statement.text}\" "
                          f"({statement.source.cite()}).")
    return "".join(better)
