"""FHIR R4 endpoints at /fhir: the CapabilityStatement (`metadata`), AdverseEvent create,
read and search (mapped to and from the case model, `interop.fhir.adverse_event`);
recall notices to patients as Communication, read and search
(`interop.fhir.communication`); and the decision-support problems prescribers acted on as
DetectedIssue, read and search (`interop.fhir.detected_issue`). Errors on these paths are
OperationOutcome resources (see `api.problems`), as FHIR clients expect; a refused search
is a 400 built here, since its issue code (not-supported, invalid) is the search's own
(`interop.fhir.search`).

A case with one reaction is one AdverseEvent; with several, a collection Bundle of one
AdverseEvent per reaction (R4 has one event per resource), each readable on its own as
`AdverseEvent/<case>-<n>`, which is also how a search lists them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from medsafe.api.deps import ContainerDep, CurrentPrincipal
from medsafe.cases import service
from medsafe.errors import Invalid, NotFound
from medsafe.interop.fhir import communication, detected_issue, search
from medsafe.interop.fhir.adverse_event import case_to_fhir, fhir_to_case
from medsafe.interop.fhir.capability import capability_statement
from medsafe.records import now

FHIR_JSON = "application/fhir+json"
MOUNTED = ("AdverseEvent", "Communication", "DetectedIssue")
"""The resources these routes serve, as the CapabilityStatement declares them."""
FHIR_REPLY: dict[int | str, dict[str, Any]] = {200: {"content": {FHIR_JSON: {}}}}
router = APIRouter(prefix="/fhir", tags=["fhir"])


def _resource(reply: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(reply, status_code=status, media_type=FHIR_JSON)


def _base(request: Request) -> str:
    """The FHIR base URL as the client reached it (links and fullUrls start with it)."""
    return str(request.base_url).rstrip("/") + router.prefix


@router.get("/metadata", responses=FHIR_REPLY)
def metadata(request: Request) -> JSONResponse:
    """The CapabilityStatement: open to anyone, as clients read it before they log in."""
    return _resource(capability_statement(_base(request), MOUNTED))


# -- AdverseEvent ----------------------------------------------------------------------------

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


@router.get("/AdverseEvent", responses=FHIR_REPLY)
def search_adverse_events(request: Request, app: ContainerDep,
                          caller: CurrentPrincipal) -> JSONResponse:
    """Search by patient (or subject) and date: a searchset Bundle, one entry per
    reaction of the cases the caller may see."""
    try:
        query = search.parse_search("AdverseEvent", request.query_params.multi_items())
    except search.SearchRefused as refused:
        return _resource(search.refusal(refused), 400)
    with app.uow() as uow:
        found, total = search.search_adverse_events(uow, caller, query)
    return _resource(search.searchset(query, _base(request), found, total))


@router.get("/AdverseEvent/{event_id}", responses=FHIR_REPLY)
def read_adverse_event(event_id: str = Path(pattern=r"^[0-9]{1,10}(-[0-9]{1,4})?$"), *,
                       app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    """`<case>`: the case (a Bundle when it has several reactions); `<case>-<n>`: the
    AdverseEvent of its n-th reaction, as a search lists it."""
    case_id, _, reaction = event_id.partition("-")
    reply = _read(app, caller, case_id)
    if not reaction:
        return _resource(reply)
    events = ([entry["resource"] for entry in reply.get("entry", [])]
              if reply["resourceType"] == "Bundle" else [])
    wanted = [event for event in events if event["id"] == event_id]
    if not wanted:
        raise NotFound(f"no AdverseEvent {event_id}"
                       + (f": case {case_id} has one reaction, AdverseEvent/{case_id}"
                          if not events else f": case {case_id} has {len(events)} reactions"))
    return _resource(wanted[0])


def _read(app: ContainerDep, caller: CurrentPrincipal, case_id: str) -> dict[str, Any]:
    with app.uow() as uow:
        detail = service.read_case(uow, caller, app.catalog, case_id)
        reference = search.patient_reference(
            uow, caller, service.find_case(uow, caller, detail.case.id))
    return case_to_fhir(detail.report, case_id=str(detail.case.id),
                        patient_reference=reference)


# -- Communication (recall notices to patients) ---------------------------------------------

@router.get("/Communication", responses=FHIR_REPLY)
def search_communications(request: Request, app: ContainerDep,
                          caller: CurrentPrincipal) -> JSONResponse:
    """Recall notices sent to patients the caller may see, newest first."""
    try:
        query = search.parse_search("Communication", request.query_params.multi_items())
    except search.SearchRefused as refused:
        return _resource(search.refusal(refused), 400)
    with app.uow() as uow:
        found, total = communication.search_notices(uow, caller, query.patients,
                                                    offset=query.offset, limit=query.count)
    return _resource(search.searchset(query, _base(request), found, total))


@router.get("/Communication/{notice_id}", responses=FHIR_REPLY)
def read_communication(notice_id: int = Path(ge=1, le=9_999_999_999), *,
                       app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    with app.uow() as uow:
        return _resource(communication.read_notice(uow, caller, notice_id))


# -- DetectedIssue (CDS cards the prescriber accepted or overrode) ----------------------------

@router.get("/DetectedIssue", responses=FHIR_REPLY)
def search_detected_issues(request: Request, app: ContainerDep,
                           caller: CurrentPrincipal) -> JSONResponse:
    """Problems medsafe raised in the EHR and the prescriber acted on, newest first."""
    try:
        query = search.parse_search("DetectedIssue", request.query_params.multi_items())
    except search.SearchRefused as refused:
        return _resource(search.refusal(refused), 400)
    with app.uow() as uow:
        found, total = detected_issue.search_issues(uow, caller, query.patients,
                                                    offset=query.offset, limit=query.count)
    return _resource(search.searchset(query, _base(request), found, total))


@router.get("/DetectedIssue/{issue_id}", responses=FHIR_REPLY)
def read_detected_issue(issue_id: str = Path(pattern=r"^[A-Za-z0-9\-.]{1,64}$"), *,
                        app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    with app.uow() as uow:
        return _resource(detected_issue.read_issue(uow, caller, issue_id))
