"""FHIR R4 endpoints at /fhir: AdverseEvent create and read, mapped to and from the case
model (`interop.fhir.adverse_event`). Errors on these paths are OperationOutcome
resources (see `api.problems`), as FHIR clients expect.

A case with one reaction is one AdverseEvent; with several, a collection Bundle of one
AdverseEvent per reaction (R4 has one event per resource).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from medsafe.api.deps import ContainerDep, CurrentPrincipal
from medsafe.cases import service
from medsafe.errors import Invalid
from medsafe.interop.fhir.adverse_event import case_to_fhir, fhir_to_case
from medsafe.records import now

FHIR_JSON = "application/fhir+json"
router = APIRouter(prefix="/fhir", tags=["fhir"])


def _resource(reply: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(reply, status_code=status, media_type=FHIR_JSON)


@router.post("/AdverseEvent", status_code=201,
             responses={201: {"content": {FHIR_JSON: {}}}})
async def create_adverse_event(request: Request, app: ContainerDep,
                               caller: CurrentPrincipal) -> JSONResponse:
    """Report a case as a FHIR AdverseEvent (or a Bundle of them); replies with the
    stored case as FHIR and its Location."""
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Invalid(f"the body is not JSON: {error}", where="AdverseEvent") from None
    if not isinstance(body, dict):
        raise Invalid("expected a FHIR resource (a JSON object)", where="AdverseEvent")
    report = fhir_to_case(body, received=now().date())
    with app.uow() as uow:
        stored = service.report_case(uow, caller, app.catalog, report, source="fhir",
                                     region=app.settings.case_region)
    reply = _read(app, caller, str(stored.id))
    response = _resource(reply, 201)
    response.headers["Location"] = f"/fhir/AdverseEvent/{stored.id}"
    return response


@router.get("/AdverseEvent/{case_id}", responses={200: {"content": {FHIR_JSON: {}}}})
def read_adverse_event(case_id: str = Path(pattern=r"^[0-9]{1,10}$"), *,
                       app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    return _resource(_read(app, caller, case_id))


def _read(app: ContainerDep, caller: CurrentPrincipal, case_id: str) -> dict[str, Any]:
    with app.uow() as uow:
        detail = service.read_case(uow, caller, app.catalog, case_id)
    return case_to_fhir(detail.report, case_id=str(detail.case.id))
