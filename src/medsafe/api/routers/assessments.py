"""The assessment engine over HTTP for a posted FHIR R4 Bundle (nothing is stored)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from medsafe.api.deps import ContainerDep, CurrentPrincipal
from medsafe.assessment.engine import assess
from medsafe.assessment.report import assessment_document
from medsafe.interop.fhir.patient_bundle import parse_bundle_text

router = APIRouter(prefix="/assessments", tags=["assessment"])

BUNDLE_EXAMPLE = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "ana", "birthDate": "1974-02-20"}},
    {"resource": {"resourceType": "Condition", "code": {"text": "Multiple sclerosis"},
                  "subject": {"reference": "Patient/ana"}}},
]}


@router.post(
    "",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/fhir+json": {"schema": {"type": "object"}, "example": BUNDLE_EXAMPLE},
        "application/json": {"schema": {"type": "object"}, "example": BUNDLE_EXAMPLE},
    }}},
)
async def assess_bundle(
    request: Request, app: ContainerDep, caller: CurrentPrincipal,
    drug: Annotated[list[str] | None, Query(description="only these drugs")] = None,
) -> dict[str, Any]:
    """Rank the candidate medicines for the patient in a FHIR R4 Bundle (JSON)."""
    record = parse_bundle_text(await request.body())
    result = assess(record, app.catalog, today=date.today(), drugs=drug)
    return assessment_document(result)
