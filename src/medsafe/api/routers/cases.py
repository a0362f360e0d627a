"""Adverse-event cases: report, read, inboxes, workflow steps, workload, line listings.

A report is E2B(R3)-shaped JSON (`CaseReport`, with the sender's worldwide unique case
id). Reporting honours Idempotency-Key, and the same worldwide id with the same content
is the same case anyway.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import Field

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, as_json, id_query, text_query
from medsafe.cases import duplicate_review, exchange, listing, service
from medsafe.cases.duplicate_review import DuplicatePair, SearchResult
from medsafe.cases.model import CaseReport
from medsafe.cases.service import CaseDetail, CaseSummary, Workload
from medsafe.errors import Invalid
from medsafe.records import Input, View

router = APIRouter(prefix="/cases", tags=["cases"])

CaseRef = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:#-]+$",
                              description="medsafe's case id or the worldwide unique case id")]
QueueName = Literal["all", "new", "invalid", "serious", "due_soon", "overdue", "external"]
StepName = Literal["accept", "start_review", "return", "approve", "submit"]


class StepReason(Input):
    reason: str | None = Field(default=None, min_length=1, max_length=1000)


@router.get("", response_model=Page[CaseSummary])
def list_cases(app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
               queue: Annotated[QueueName, Query()] = "all") -> Page[CaseSummary]:
    """An inbox, due first: new, invalid, serious, due soon, overdue, all, or the cases
    imported from national databases (external)."""
    with app.uow() as uow:
        items, total = service.list_cases(uow, caller, queue=queue, offset=paging.offset,
                                          limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("", response_model=CaseSummary, status_code=201)
def report_case(request: Request, body: CaseReport, app: ContainerDep,
                caller: CurrentPrincipal) -> JSONResponse:
    """Report a case, or a follow-up of one (same worldwide id)."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: service.report_case(uow, caller, app.catalog, body,
                                        region=app.settings.case_region), as_json)


@router.get("/workload", response_model=list[Workload])
def workload(app: ContainerDep, caller: CurrentPrincipal) -> list[Workload]:
    """Cases per status, with how many are due soon and overdue."""
    with app.uow() as uow:
        return service.workload(uow, caller)


@router.get("/line-listing", response_class=PlainTextResponse,
            responses={200: {"content": {"text/csv": {}}}})
def line_listing(app: ContainerDep, caller: CurrentPrincipal,
                 start: Annotated[date, Query()], end: Annotated[date, Query()],
                 ingredient: Annotated[str | None, text_query(60, "ingredient id")] = None,
                 product_id: Annotated[int | None, id_query("medsafe product id")] = None,
                 ) -> PlainTextResponse:
    """A periodic line listing (CSV) of the cases about a product or ingredient first
    received in the period."""
    with app.uow() as uow:
        text = listing.line_listing(uow, caller, start=start, end=end,
                                    ingredient_id=ingredient, product_id=product_id)
    return PlainTextResponse(text, media_type="text/csv")


class DuplicateSearch(Input):
    threshold: float | None = Field(default=None, ge=0, le=100, description=(
        "score (log likelihood ratio) to flag at; default: as likely duplicate as not "
        "when about 1% of cases have one"))


class DuplicateDecision(Input):
    confirm: bool = Field(description="true: the same case, merge; false: not duplicates")
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/duplicates/search", response_model=SearchResult)
def search_duplicates(body: DuplicateSearch, app: ContainerDep,
                      caller: CurrentPrincipal) -> SearchResult:
    """Score the open cases the caller may see; store new probable pairs for review."""
    with app.uow() as uow:
        return duplicate_review.find_duplicates(uow, caller, threshold=body.threshold)


@router.get("/duplicates", response_model=list[DuplicatePair])
def list_duplicates(app: ContainerDep, caller: CurrentPrincipal,
                    status: Annotated[Literal["suggested", "confirmed", "rejected"],
                                      Query()] = "suggested") -> list[DuplicatePair]:
    """Probable duplicate pairs, best score first, with the evidence per field."""
    with app.uow() as uow:
        return duplicate_review.list_duplicates(uow, caller, status=status)


@router.post("/duplicates/{pair_id}/decision", response_model=DuplicatePair)
def decide_duplicate(pair_id: Id, body: DuplicateDecision, app: ContainerDep,
                     caller: CurrentPrincipal) -> DuplicatePair:
    """Confirm (merge into the more complete case) or reject a pair, with a reason."""
    with app.uow() as uow:
        return duplicate_review.decide(uow, caller, app.catalog, pair_id,
                                       confirm=body.confirm, reason=body.reason)


XML = "application/xml"
XML_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    XML: {"schema": {"type": "string", "description": "an E2B(R3) document"}}}}}


class AcknowledgedSubmission(View):
    case_id: int
    version: int
    message_id: str
    ack_status: str
    ack_detail: str | None


@router.post("/e2b", response_class=Response, openapi_extra=XML_BODY,
             responses={200: {"content": {XML: {}}, "description": "the acknowledgement"},
                        422: {"content": {XML: {}}, "description":
                              "an AR acknowledgement: the file could not be read"}})
async def receive_e2b(request: Request, app: ContainerDep,
                      caller: CurrentPrincipal) -> Response:
    """Receive an E2B(R3) batch (XML body); the reply is its acknowledgement, in FDA's
    shape: AA (all accepted), AE (some messages rejected, with the rules' texts) or, for a
    file that cannot be read at all, AR with status 422. Accepted messages are stored."""
    data = await request.body()
    name = request.headers.get("X-Filename", "upload.xml")[:100]
    try:
        received = await run_in_threadpool(
            exchange.receive_e2b, app.uow, caller, app.catalog, data, name=name,
            region=app.settings.case_region)
    except Invalid as error:
        return Response(exchange.refusal(name, error), status_code=422, media_type=XML)
    return Response(received.acknowledgement, media_type=XML)


@router.post("/acknowledgements", response_model=AcknowledgedSubmission,
             openapi_extra=XML_BODY)
async def record_acknowledgement(request: Request, app: ContainerDep,
                                 caller: CurrentPrincipal) -> AcknowledgedSubmission:
    """Record a receiver's acknowledgement (XML body) of one of medsafe's submissions."""
    data = await request.body()

    def record() -> AcknowledgedSubmission:
        with app.uow() as uow:
            done = exchange.record_acknowledgement(uow, caller, data, name="acknowledgement")
            return AcknowledgedSubmission(case_id=done.case_id, version=done.version,
                                          message_id=done.message_id,
                                          ack_status=done.ack_status,
                                          ack_detail=done.ack_detail)

    return await run_in_threadpool(record)


@router.get("/{reference}/e2b", response_class=Response,
            responses={200: {"content": {XML: {}}, "description": "an E2B(R3) batch"}})
def export_e2b(reference: CaseRef, app: ContainerDep, caller: CurrentPrincipal) -> Response:
    """The case's current version as E2B(R3) XML (only for callers who see identities)."""
    with app.uow() as uow:
        return Response(exchange.export_e2b(uow, caller, reference), media_type=XML)


@router.get("/{reference}", response_model=CaseDetail)
def read_case(reference: CaseRef, app: ContainerDep, caller: CurrentPrincipal) -> CaseDetail:
    with app.uow() as uow:
        return service.read_case(uow, caller, app.catalog, reference)


@router.get("/{reference}/versions/{version}", response_model=CaseReport)
def read_version(reference: CaseRef, version: Annotated[int, Path(ge=1, le=100_000)],
                 app: ContainerDep, caller: CurrentPrincipal) -> CaseReport:
    with app.uow() as uow:
        return service.read_version(uow, caller, reference, version)


@router.post("/{reference}/steps/{step}", response_model=CaseSummary)
def take_step(reference: CaseRef, step: Annotated[StepName, Path()], body: StepReason,
              app: ContainerDep, caller: CurrentPrincipal) -> CaseSummary:
    """A workflow step: accept, start_review (locks the case), return, approve, submit."""
    with app.uow() as uow:
        return service.advance(uow, caller, reference, step, reason=body.reason)
