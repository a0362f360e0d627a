"""A recall's effectiveness page (issue 7 §3; `recalls.effectiveness_service`):

- `GET /recalls/{id}/effectiveness`: consignees notified and responding, units returned
  and still on hand; patients told, reached, acknowledged, switched, in monitoring, with
  open alerts; overdue follow-ups; the effectiveness-check sample of the recall's level
  with each check's outcome, and a form to record one. For the recall's firm, the
  regulator and admins; a pharmacist sees its own pharmacy's part (and records its
  returns here); anyone else 403, a recall the caller may not see 404.
- `POST .../effectiveness/draw`: draw (or top up) the sample;
  `POST .../effectiveness/checks/{check_id}`: record one check;
  `POST .../effectiveness/returns`: record a pharmacy's return of recalled units;
  `POST .../effectiveness/file`: file the generated status report as the firm's
  `report_progress` step.
- `GET /recalls/{id}/status-report.pdf` and `.../status-report.json` (`?as_of=YYYY-MM-DD`,
  `&estimated_completion=YYYY-MM-DD`): the §7.53 status report generated from the numbers.

Thin: the service decides who may do what; a refusal or a mistake comes back on the page
with its message and status (`recalls.answered`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from medsafe.errors import Invalid
from medsafe.recalls import effectiveness_service as effectiveness
from medsafe.recalls import service
from medsafe.recalls.effectiveness import share
from medsafe.records import now
from medsafe.security.principal import Principal
from medsafe.web.routes.recalls import (
    FIELDS,
    HELPERS,
    STATE,
    answered,
    optional,
    text_of,
    validated,
    whole,
    whole_number,
)
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MAX_ID = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
DayText = Annotated[str, Query(max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$")]

OUTCOME = {"reached_and_acted": "Reached, and acted on the notice",
           "reached_not_acted": "Reached, but did not act",
           "not_reached": "Not reached"}
METHOD = {"visit": "Visit", "phone": "Telephone", "letter": "Letter", "email": "E-mail"}
KIND = {"consignee": "Consignees", "patient": "Patients"}
LABELS = {**FIELDS, "outcome": "Outcome", "method": "How it was checked",
          "pharmacy_id": "Pharmacy", "lot_id": "Lot", "quantity": "Units returned",
          "note": "Note"}
DOWNLOAD = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def percent(part: int, whole_: int) -> str:
    """"(42%)" of a whole, or nothing where there is none."""
    found = share(part, whole_)
    return "" if found is None else f"({found * 100:.0f}%)"


@router.get("/recalls/{recall_id}/effectiveness")
def effectiveness_page(request: Request, caller: SignedIn, recall_id: Id) -> Response:
    return _page(request, caller.principal, recall_id)


def _page(request: Request, principal: Principal, recall_id: int, *,
          problems: Sequence[str] = (), status: int = 200,
          typed: FormData | None = None) -> Response:
    with container_of(request).uow() as uow:
        board = effectiveness.dashboard(uow, principal, recall_id)
        detail = service.read_recall(uow, principal, recall_id)
        returnable = (effectiveness.returnable(uow, principal, recall_id)
                      if principal.role in effectiveness.RETURNERS else [])
    return render(request, "recall_effectiveness.html", {
        "b": board, "s": detail.summary, "problems": problems, "typed": typed,
        "text_of": text_of, "returnable": returnable,
        "may_check": principal.role in effectiveness.CHECKERS,
        "may_report": principal.role in effectiveness.REPORTERS,
        "may_file": "report_progress" in detail.my_steps,
        "outcomes": OUTCOME, "methods": METHOD, "kinds": KIND, "states": STATE,
        "percent": percent, "today": now().date(), **HELPERS}, status=status)


@router.post("/recalls/{recall_id}/effectiveness/draw")
async def draw(request: Request, caller: SignedIn, recall_id: Id) -> Response:
    principal = caller.principal

    def take() -> str:
        with container_of(request).uow() as uow:
            effectiveness.draw_checks(uow, principal, recall_id)
        return f"/recalls/{recall_id}/effectiveness#sample"

    return await run_in_threadpool(answered, take, lambda problems, status: _page(
        request, principal, recall_id, problems=problems, status=status))


@router.post("/recalls/{recall_id}/effectiveness/checks/{check_id}")
async def record_check(request: Request, caller: SignedIn, recall_id: Id,
                       check_id: Id) -> Response:
    form = await request.form()
    principal = caller.principal

    def take() -> str:
        spec = validated(effectiveness.CheckResult, {
            "outcome": text_of(form, "outcome"), "method": text_of(form, "method"),
            "note": optional(form, "note")}, LABELS)
        with container_of(request).uow() as uow:
            effectiveness.record_check(uow, principal, check_id, spec, recall_id=recall_id)
        return f"/recalls/{recall_id}/effectiveness#check-{check_id}"

    return await run_in_threadpool(answered, take, lambda problems, status: _page(
        request, principal, recall_id, problems=problems, status=status, typed=form))


@router.post("/recalls/{recall_id}/effectiveness/returns")
async def record_return(request: Request, caller: SignedIn, recall_id: Id) -> Response:
    form = await request.form()
    principal = caller.principal

    def take() -> str:
        pharmacy, _, lot = text_of(form, "holding").partition(":")
        spec = validated(effectiveness.NewReturn, {
            "pharmacy_id": whole_number(pharmacy), "lot_id": whole_number(lot),
            "quantity": whole(form, "quantity"), "note": optional(form, "note")}, LABELS)
        with container_of(request).uow() as uow:
            effectiveness.record_return(uow, principal, recall_id, spec)
        return f"/recalls/{recall_id}/effectiveness#returns"

    return await run_in_threadpool(answered, take, lambda problems, status: _page(
        request, principal, recall_id, problems=problems, status=status, typed=form))


@router.post("/recalls/{recall_id}/effectiveness/file")
async def file_report(request: Request, caller: SignedIn, recall_id: Id) -> Response:
    form = await request.form()
    principal = caller.principal

    def take() -> str:
        reason = text_of(form, "reason")
        if not reason:
            raise Invalid("say why the report is filed (kept in the history)",
                          where="reason")
        with container_of(request).uow() as uow:
            effectiveness.file_status_report(
                uow, principal, recall_id, reason=reason,
                estimated_completion=_day(optional(form, "estimated_completion"),
                                          "estimated_completion"))
        return f"/recalls/manage/{recall_id}"

    return await run_in_threadpool(answered, take, lambda problems, status: _page(
        request, principal, recall_id, problems=problems, status=status, typed=form))


@router.get("/recalls/{recall_id}/status-report.pdf")
def status_report_pdf(request: Request, caller: SignedIn, recall_id: Id,
                      as_of: DayText = "", estimated_completion: DayText = "") -> Response:
    with container_of(request).uow() as uow:
        body = effectiveness.status_report_pdf(
            uow, caller.principal, recall_id, **_dates(as_of, estimated_completion))
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="recall-{recall_id}-status-report.pdf"',
        **DOWNLOAD})


@router.get("/recalls/{recall_id}/status-report.json")
def status_report_json(request: Request, caller: SignedIn, recall_id: Id,
                       as_of: DayText = "", estimated_completion: DayText = "") -> Response:
    with container_of(request).uow() as uow:
        found = effectiveness.status_report_json(
            uow, caller.principal, recall_id, **_dates(as_of, estimated_completion))
    return Response(json.dumps(found, indent=2).encode("utf-8"),
                    media_type="application/json", headers={
                        "Content-Disposition":
                            f'inline; filename="recall-{recall_id}-status-report.json"',
                        **DOWNLOAD})


def _dates(as_of: str, estimated_completion: str) -> dict[str, Any]:
    return {"as_of": _day(as_of or None, "as_of"),
            "estimated_completion": _day(estimated_completion or None,
                                         "estimated_completion")}


def _day(text: str | None, where: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"'{text}' is not a date (YYYY-MM-DD)", where=where) from None
