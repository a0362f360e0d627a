"""Recall pages: the public announcement, the recall desk of the firm and the regulator,
and a pharmacy's own recalls (21 CFR Part 7; docs/recalls.md).

Public, no login:
- `/recalls?class=I|II|III&page=…`: published recalls (medsafe's own from the publish
  step on, and those of FDA's enforcement report in the same states), newest report first.
- `/recalls/{recall number}`: one recall's public page: what, which lots, why, the class
  and what to do. No patient data and no staff names.
- `/recalls.atom` and `/recalls.json`: the newest published recalls as Atom 1.0 and JSON
  Feed 1.1 (`interop.recall_feeds`); each entry's id is its public page's address.

The firm and the regulator (admin, regulator, manufacturer; the service shows a
manufacturer its own firm's recalls at every stage, and the public ones):
- `/recalls/manage?state=…&source=…`: recalls by state, each with its deadlines under
  local policy and what is overdue.
- `/recalls/manage/{id}`: products, lots, class, strategy, whom the lots reach in the
  store (counted, never named), status reports, the history (who, what, when, why), and
  one form per Part 7 step the caller may take now, each asking for its reason
  (`POST /recalls/manage/{id}/steps`).

A pharmacy (pharmacist): `/pharmacy/recalls`: the open recalls that concern it (it holds
or dispensed an affected lot), its affected stock and patients, and what is done and what
is not; `POST /pharmacy/recalls/{id}/respond` records its response to the firm (§7.49).

Thin: `recalls.service` decides who may do what and takes every step; the matching is
`recalls.matching` over `uow.affected`; the reads of published recalls, of one medicine's
open recalls and of a pharmacy's recalls are `recalls.queries`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from medsafe.error_mapping import http_status_for
from medsafe.errors import Invalid, MedsafeError, NotFound
from medsafe.interop import recall_feeds
from medsafe.knowledge.catalog import Catalog
from medsafe.recalls import notices, notifying, service
from medsafe.recalls.inputs import (
    Classification,
    NewStatusReport,
    NewTerminationRequest,
    RecallStepInput,
    Strategy,
)
from medsafe.recalls.matching import AffectedLot, recall_keys
from medsafe.recalls.model import RecallClass, RecallRecord
from medsafe.recalls.queries import (
    Published,
    published_by_number,
    published_recalls,
    recalls_for_pharmacy,
)
from medsafe.recalls.service import RecallDetail
from medsafe.recalls.workflow import RecallState
from medsafe.records import aware, now, require_role
from medsafe.security.principal import Principal
from medsafe.store.repositories.recalls import MEDSAFE, SOURCES
from medsafe.store.uow import UnitOfWork
from medsafe.web.routes.cases import problems_of
from medsafe.web.routing import PageRoute
from medsafe.web.session import MaybeCaller, SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
FEED_SIZE = 100
"""Entries in each feed, newest report first: a reader polls for what is new, and FDA's
whole enforcement report (12,504 recalls) would be megabytes on every poll."""
FEED_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
MAX_ID = 2**31 - 1
STAFF = service.CREATORS
"""Who works on recalls here: the firm (manufacturer), the regulator, and admins."""
PUBLIC_STATES = service.PUBLIC_STATES
PHARMACISTS = ("pharmacist",)
ALL = "all"

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Number = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$",
                             description="the recall number, e.g. D-0123-2021")]
ClassFilter = Literal["", "I", "II", "III"]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
I = TypeVar("I", bound=BaseModel)  # noqa: E741 - an input model

# -- words for the pages ---------------------------------------------------------------------

STATE = {"detected": "Detected", "triaged": "Triaged", "initiated": "Initiated",
         "classified": "Classified", "strategy_set": "Strategy set",
         "published": "Published", "notifying": "Notifying consignees",
         "in_progress": "In progress", "completed": "Completed",
         "termination_requested": "Termination requested", "terminated": "Terminated"}
STEP = {"triage": "Triage", "initiate": "Initiate the recall",
        "initiate_on_request": "Initiate at the regulator's request",
        "order_recall": "Order a mandated recall", "classify": "Classify",
        "set_strategy": "Set the strategy", "publish": "Publish",
        "start_notifying": "Start notifying consignees",
        "respond": "Record the consignee's response", "report_progress": "File a status report",
        "complete": "Declare the recall complete", "request_termination": "Request termination",
        "terminate": "Terminate", "refuse_termination": "Refuse termination",
        "create": "Created"}
KIND = {"recall": "Recall", "market_withdrawal": "Market withdrawal",
        "correction": "Correction", "stock_recovery": "Stock recovery"}
ACTION = {"remove_stock": "Remove the stock from sale",
          "respond_to_firm": "Respond to the firm",
          "notify_prescribers": "Tell the prescribers", "notify_patients": "Tell the patients",
          "return_stock": "Return the stock"}
ROLE = {"firm": "the firm", "regulator": "the regulator", "pharmacy": "a pharmacy",
        "physician": "a physician"}
DEPTH = {"wholesale": "Wholesale", "retail": "Retail", "consumer": "Consumer (patients)"}
WARNING = {"none": "None", "general": "General (news media)",
           "specialised": "Specialised (trade press, health professionals)"}
LEVEL = {"A": "A: every consignee", "B": "B: more than 10% and fewer than all",
         "C": "C: 10%", "D": "D: 2%", "E": "E: none"}
INITIATIVE = {"firm_initiated": "Voluntary: firm initiated",
              "fda_requested": "Voluntary: at the regulator's request",
              "fda_mandated": "Mandated by the regulator", "unknown": "Not stated"}
METHOD = {"letter": "Letter", "telephone": "Telephone", "press_release": "Press release",
          "email": "E-mail", "fax": "Fax", "visit": "Visit", "other": "Other"}
SOURCE = {"openfda": "FDA enforcement report", "medsafe": "medsafe"}
OUTCOME = {"reached": "Reached: the patient was told",
           "left_message": "Left a message", "no_answer": "No answer: try again",
           "no_phone": "No telephone number"}
WORDS: dict[str, Mapping[str, str]] = {
    "state": STATE, "step": STEP, "kind": KIND, "action": ACTION, "role": ROLE,
    "depth": DEPTH, "warning": WARNING, "level": LEVEL, "initiative": INITIATIVE,
    "method": METHOD, "source": SOURCE,
    "class": {c.value: notices.CLASS_MEANING[c] for c in RecallClass}}
FIELDS = {"reason": "Reason", "classification": "Class", "depth": "Depth",
          "public_warning": "Public warning", "effectiveness_check": "Effectiveness checks",
          "patient_action": "What patients are told", "stop_reason": "Why they must stop",
          "plain_words": "The problem in plain words", "as_of": "As of",
          "consignees_notified": "Consignees notified",
          "notified_on": "Notified on", "methods": "How", "consignees_responding":
          "Consignees responding", "quantity_on_hand": "Quantity on hand",
          "non_responders": "Not responding", "quantity_returned": "Quantity returned",
          "quantity_corrected": "Quantity corrected",
          "effectiveness_checks": "Effectiveness checks made",
          "effectiveness_results": "Their results",
          "estimated_completion": "Estimated completion",
          "written_request": "Written request", "disposition": "Disposition",
          "requested_on": "Requested on", "transition": "Step", "decision": "Decision",
          "outcome": "Outcome", "note": "Note"}
STATUS_REPORT_COUNTS = ("consignees_notified", "consignees_responding", "quantity_on_hand",
                        "non_responders", "quantity_returned", "quantity_corrected",
                        "effectiveness_checks")


def when(moment: datetime) -> str:
    return aware(moment).strftime("%Y-%m-%d %H:%M UTC")


HELPERS: dict[str, Any] = {"words": WORDS, "ndc": notices.format_ndc, "when": when}


# -- forms (shared with the investigation pages) ------------------------------------------------

def text_of(form: FormData, name: str) -> str:
    """One field as text, trimmed ('' when absent; a file where text belongs is absent)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts_of(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def optional(form: FormData, name: str) -> str | None:
    return text_of(form, name) or None


def whole_number(text: str) -> int | str | None:
    """A whole number typed into a form (a sign allowed, so that the input model refuses
    "-3" by its range rather than as "not a number"); other text is passed on for the
    input model to refuse with its own message; None when nothing was typed."""
    if not text:
        return None
    digits = text.removeprefix("-")
    return int(text) if digits.isdigit() and len(digits) < 12 else text


def whole(form: FormData, name: str, default: int | None = None) -> int | str | None:
    """The form field `name` as `whole_number` reads it, or `default` when empty."""
    found = whole_number(text_of(form, name))
    return default if found is None else found


def validated(model: type[I], data: Mapping[str, Any], labels: Mapping[str, str]) -> I:
    """The use case's input from a form, or Invalid listing every mistake in words."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise Invalid("; ".join(problems_of(error, labels))) from None


Refused = Callable[[Sequence[str], int], Response]


def answered(take: Callable[[], str], refused: Refused) -> Response:
    """Take a step from a form: then to the address `take` returns; a mistake or a
    refusal comes back on the page (`refused`, with the message and its status: 422, 403
    or 409). A record the caller may not see stays a 404 page."""
    try:
        target = take()
    except NotFound:
        raise
    except MedsafeError as error:
        return refused([error.message], http_status_for(error)[0])
    return RedirectResponse(target, status_code=303)


# -- public pages -------------------------------------------------------------------------------

@router.get("/recalls")
def public_list(request: Request, caller: MaybeCaller, page: Page = 1,
                recall_class: Annotated[ClassFilter, Query(alias="class")] = "") -> Response:
    container = container_of(request)
    size = min(PAGE_SIZE, container.settings.page_size_max)
    with container.uow() as uow:
        found, total = published_recalls(uow, classification=recall_class or None,
                                         offset=(page - 1) * size, limit=size)
    first = (page - 1) * size + 1
    return render(request, "recalls_public.html", {
        "recalls": found, "total": total, "page": page, "pages": max(1, math.ceil(total / size)),
        "first": first, "last": first + len(found) - 1, "recall_class": recall_class,
        "classes": [c.value for c in RecallClass],
        "query": f"class={recall_class}" if recall_class else "", **HELPERS})


@router.get("/recalls.atom")
def atom_feed(request: Request) -> Response:
    entries, base = _feed_entries(request)
    body = recall_feeds.atom_feed(entries, feed_url=f"{base}/recalls.atom",
                                  home_url=f"{base}/recalls", updated=_feed_stamp(entries))
    return Response(body, media_type="application/atom+xml", headers=FEED_HEADERS)


@router.get("/recalls.json")
def json_feed(request: Request) -> Response:
    entries, base = _feed_entries(request)
    body = recall_feeds.json_feed(entries, feed_url=f"{base}/recalls.json",
                                  home_url=f"{base}/recalls")
    return Response(body.encode("utf-8"), media_type="application/feed+json",
                    headers=FEED_HEADERS)


def _feed_entries(request: Request) -> tuple[list[recall_feeds.FeedEntry], str]:
    """The newest published recalls as feed entries, under the site's public address
    (settings, never the request's Host header: an entry's id must not change)."""
    container = container_of(request)
    base = container.settings.public_base_url.rstrip("/")
    with container.uow() as uow:
        found, _ = published_recalls(uow, classification=None, offset=0, limit=FEED_SIZE)
    return [_entry(item, base) for item in found], base


def _entry(item: Published, base: str) -> recall_feeds.FeedEntry:
    """A medsafe recall was last changed when its row was; an imported one as of the
    latest date FDA's record carries (its row's time is only when it was imported)."""
    dates = item.record.dates
    dated = any((dates.initiated, dates.classified, dates.reported, dates.terminated))
    updated = item.updated if item.source == MEDSAFE or not dated else None
    return recall_feeds.entry(item.record, base, updated)


def _feed_stamp(entries: Sequence[recall_feeds.FeedEntry]) -> datetime | None:
    """An empty feed still says when it was made: now."""
    return None if entries else now()


@router.get("/recalls/manage")
def recall_desk(request: Request, caller: SignedIn, page: Page = 1,
                state: Annotated[str, Query(max_length=30)] = ALL,
                source: Annotated[str, Query(max_length=20)] = "") -> Response:
    principal = caller.principal
    require_role(principal, STAFF, "use the recall desk")
    container = container_of(request)
    size = min(PAGE_SIZE, container.settings.page_size_max)
    chosen = None if state == ALL else state
    origin = source or None
    with container.uow() as uow:
        found, total = service.list_recalls(uow, principal, state=chosen, source=origin,
                                            offset=(page - 1) * size, limit=size)
        counts = {tab: service.list_recalls(uow, principal, state=None if tab == ALL else tab,
                                            source=origin, limit=0)[1]
                  for tab in (ALL, *RecallState)}
    first = (page - 1) * size + 1
    query = "&".join(part for part in (f"state={state}", f"source={source}" if source else "")
                     if part)
    return render(request, "recalls_desk.html", {
        "recalls": found, "total": total, "page": page, "pages": max(1, math.ceil(total / size)),
        "first": first, "last": first + len(found) - 1, "state": state, "source": source,
        "tabs": (ALL, *RecallState), "counts": counts, "sources": SOURCES, "query": query,
        **HELPERS})


@router.get("/recalls/manage/{recall_id}")
def recall_page(request: Request, caller: SignedIn, recall_id: Id) -> Response:
    return _recall_page(request, caller.principal, recall_id)


@router.post("/recalls/manage/{recall_id}/steps")
async def recall_step(request: Request, caller: SignedIn, recall_id: Id) -> Response:
    """One Part 7 step from the recall page (its CSRF token was checked by the route).
    A mistake in the form, or a step the workflow refuses, comes back to the page with
    the message and the status it carries (422, 403 or 409)."""
    form = await request.form()
    return await run_in_threadpool(_take_recall_step, request, caller.principal, recall_id,
                                   form)


def _take_recall_step(request: Request, principal: Principal, recall_id: int,
                      form: FormData) -> Response:
    require_role(principal, STAFF, "use the recall desk")

    def take() -> str:
        with container_of(request).uow() as uow:
            _step(uow, principal, recall_id, form)
        return f"/recalls/manage/{recall_id}"

    return answered(take, lambda problems, status: _recall_page(
        request, principal, recall_id, problems=problems, status=status, typed=form))


def _step(uow: UnitOfWork, principal: Principal, recall_id: int,
          form: FormData) -> RecallDetail:
    """The use case the form's step belongs to, with its input."""
    transition = text_of(form, "transition")
    reason = text_of(form, "reason")
    if transition == "classify":
        return service.classify(uow, principal, recall_id, validated(Classification, {
            "classification": text_of(form, "classification"), "reason": reason}, FIELDS))
    if transition == "set_strategy":
        return service.set_strategy(uow, principal, recall_id, validated(Strategy, {
            "depth": text_of(form, "depth"), "public_warning": text_of(form, "public_warning"),
            "effectiveness_check": text_of(form, "effectiveness_check"),
            "patient_action": optional(form, "patient_action"),
            "stop_reason": optional(form, "stop_reason"),
            "plain_words": optional(form, "plain_words"), "reason": reason},
            FIELDS))
    if transition == "report_progress":
        data: dict[str, Any] = {name: whole(form, name, 0) for name in STATUS_REPORT_COUNTS}
        data.update({"as_of": text_of(form, "as_of"), "notified_on": optional(form, "notified_on"),
                     "methods": texts_of(form, "methods"),
                     "effectiveness_results": text_of(form, "effectiveness_results"),
                     "estimated_completion": optional(form, "estimated_completion"),
                     "reason": reason})
        return service.file_status_report(uow, principal, recall_id,
                                          validated(NewStatusReport, data, FIELDS))
    if transition == "request_termination":
        return service.request_termination(uow, principal, recall_id, validated(
            NewTerminationRequest, {"written_request": text_of(form, "written_request"),
                                    "disposition": text_of(form, "disposition"),
                                    "requested_on": optional(form, "requested_on"),
                                    "reason": reason}, FIELDS))
    return service.take_step(uow, principal, recall_id, validated(
        RecallStepInput, {"transition": transition, "reason": reason}, FIELDS))


@dataclass(frozen=True, slots=True)
class StoreReach:
    """What the recall's lots reach in medsafe's store, counted (names stay with the
    pharmacies, which see their own)."""

    lots: Sequence[AffectedLot]
    holders: int
    units_on_hand: int
    dispensers: int
    patients: int
    unmatchable: Sequence[str]


def _reach(uow: UnitOfWork, record: RecallRecord) -> StoreReach:
    keys = recall_keys(record)
    found = uow.affected.affected(keys)
    return StoreReach(lots=found.lots, holders=len({h.organisation_id for h in found.holders}),
                      units_on_hand=sum(h.quantity for h in found.holders),
                      dispensers=len({r.pharmacy_id for r in found.recipients}),
                      patients=len(found.patient_ids), unmatchable=keys.unmatchable)


def _recall_page(request: Request, principal: Principal, recall_id: int, *,
                 problems: Sequence[str] = (), status: int = 200,
                 typed: FormData | None = None) -> Response:
    require_role(principal, STAFF, "use the recall desk")
    with container_of(request).uow() as uow:
        detail = service.read_recall(uow, principal, recall_id)
        reach = _reach(uow, detail.record)
    summary = detail.summary
    return render(request, "recall_manage.html", {
        "d": detail, "s": summary, "r": detail.record, "reach": reach,
        "public": summary.state in PUBLIC_STATES and summary.recall_number is not None,
        "problems": problems, "typed": typed, "text_of": text_of,
        "depths": DEPTH, "warnings": WARNING, "levels": LEVEL, "methods": METHOD,
        "classes": [c.value for c in RecallClass], "today": now().date(),
        **HELPERS}, status=status)


@router.get("/recalls/{number}")
def public_page(request: Request, caller: MaybeCaller, number: Number) -> Response:
    """One recall number's public page (FDA reused two numbers across events, so it may
    hold more than one record, newest first)."""
    container = container_of(request)
    catalog = container.catalog
    with container.uow() as uow:
        found = published_by_number(uow, number)
    if not found:
        raise NotFound(f"no published recall {number}")
    return render(request, "recall_public.html", {
        "number": number, "recalls": found,
        "cautions": {item.id: _cautions(item.record, catalog) for item in found},
        "marking": {item.id: _marking(item.record) for item in found},
        "title": recall_feeds.entry_title, **HELPERS})


def _cautions(record: RecallRecord, catalog: Catalog) -> list[notices.WithdrawalCaution]:
    """The knowledge base's cited warning against stopping each medicine abruptly."""
    found = (notices.withdrawal_caution(i) for i in notices.ingredients_of(record, catalog))
    return [c for c in found if c is not None]


def _marking(record: RecallRecord) -> str:
    try:
        return notices.marking(record)
    except Invalid:  # a stock recovery: never public; its page says what it is
        return KIND[record.kind.value].upper()


# -- the pharmacy's page --------------------------------------------------------------------------

@router.get("/pharmacy/recalls")
def pharmacy_page(request: Request, caller: SignedIn) -> Response:
    return _pharmacy_page(request, caller.principal)


def _pharmacy_page(request: Request, principal: Principal, *, problems: Sequence[str] = (),
                   status: int = 200) -> Response:
    with container_of(request).uow() as uow:
        found = recalls_for_pharmacy(uow, principal)
        me = uow.organisations.get(principal.organisation_id)
        name = me.name if me is not None else "your pharmacy"
    return render(request, "recalls_pharmacy.html", {
        "recalls": found, "pharmacy": name, "problems": problems,
        "outcomes": OUTCOME, "now": now(), **HELPERS}, status=status)


@router.post("/pharmacy/recalls/notices/{notice_id}/decision")
async def pharmacy_decide(request: Request, caller: SignedIn, notice_id: Id) -> Response:
    """Approve a proposal to tell a patient (told now, as at consumer depth) or decline it
    with a reason (`notifying.decide_patient_notice`)."""
    form = await request.form()
    principal = caller.principal

    def take() -> str:
        spec = validated(notifying.NoticeDecision, {
            "decision": text_of(form, "decision"), "reason": text_of(form, "reason")}, FIELDS)
        container = container_of(request)
        with container.uow() as uow:
            notice = notifying.decide_patient_notice(uow, principal, notice_id, spec,
                                                     catalog=container.catalog)
        return f"/pharmacy/recalls#recall-{notice.recall_id}"

    return await run_in_threadpool(answered, take, lambda problems, status: _pharmacy_page(
        request, principal, problems=problems, status=status))


@router.get("/pharmacy/recalls/notices/{notice_id}/letter.pdf")
def pharmacy_letter(request: Request, caller: SignedIn, notice_id: Id) -> Response:
    """The patient's letter as it was composed when it was sent, to print."""
    with container_of(request).uow() as uow:
        body = notifying.patient_letter(uow, caller.principal, notice_id)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="recall-letter-{notice_id}.pdf"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/pharmacy/recalls/tasks/{task_id}/outcome")
async def pharmacy_task_outcome(request: Request, caller: SignedIn, task_id: Id) -> Response:
    """A phone call's outcome (`notifying.complete_task`)."""
    form = await request.form()
    principal = caller.principal

    def take() -> str:
        spec = validated(notifying.TaskOutcome, {
            "outcome": text_of(form, "outcome"), "note": optional(form, "note")}, FIELDS)
        with container_of(request).uow() as uow:
            task = notifying.complete_task(uow, principal, task_id, spec)
        return f"/pharmacy/recalls#recall-{task.recall_id}"

    return await run_in_threadpool(answered, take, lambda problems, status: _pharmacy_page(
        request, principal, problems=problems, status=status))


@router.post("/pharmacy/recalls/{recall_id}/respond")
async def pharmacy_respond(request: Request, caller: SignedIn, recall_id: Id) -> Response:
    """The pharmacy's response to the recall notice (§7.49): the `respond` step, which
    keeps the recall's state and goes into its history with who and why."""
    form = await request.form()
    return await run_in_threadpool(_respond, request, caller.principal, recall_id, form)


def _respond(request: Request, principal: Principal, recall_id: int,
             form: FormData) -> Response:
    require_role(principal, PHARMACISTS, "respond for a pharmacy")
    with container_of(request).uow() as uow:
        service.take_step(uow, principal, recall_id, validated(
            RecallStepInput, {"transition": "respond", "reason": text_of(form, "reason")},
            FIELDS))
    return RedirectResponse(f"/pharmacy/recalls#recall-{recall_id}", status_code=303)
