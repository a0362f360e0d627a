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
`recalls.matching` over `uow.affected`. Four reads the service does not offer yet are at
the end of this module (published recalls for anyone, one recall number's public records,
the open recalls of one medicine, the recalls that concern one pharmacy); they belong in
`recalls.service` and are written so that they can move there as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, or_, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from medsafe.error_mapping import http_status_for
from medsafe.errors import Invalid, MedsafeError, NotFound
from medsafe.interop import recall_feeds
from medsafe.knowledge.catalog import Catalog
from medsafe.recalls import notices, service
from medsafe.recalls.inputs import (
    Classification,
    NewStatusReport,
    NewTerminationRequest,
    RecallStepInput,
    Strategy,
)
from medsafe.recalls.matching import (
    Affected,
    AffectedLot,
    Holder,
    Recipient,
    recall_keys,
    stored_ndcs,
)
from medsafe.recalls.model import RecallClass, RecallRecord
from medsafe.recalls.service import RecallDetail, RecallStepView, RecallSummary
from medsafe.recalls.workflow import RecallState, Role
from medsafe.records import aware, now, require_role
from medsafe.security.principal import Principal
from medsafe.store.repositories.affected import NDC_SYSTEM
from medsafe.store.repositories.base import count
from medsafe.store.repositories.recalls import MEDSAFE, SOURCES
from medsafe.store.schema import (
    Dispensing,
    Lot,
    Product,
    RecallLotRow,
    RecallProductNdc,
    RecallProductRow,
    RecallRow,
    Stock,
)
from medsafe.store.uow import UnitOfWork
from medsafe.web.routes.cases import problems_of
from medsafe.web.routing import PageRoute
from medsafe.web.session import MaybeCaller, SignedIn, container_of
from medsafe.web.templating import environment, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
FEED_SIZE = 100
"""Entries in each feed, newest report first: a reader polls for what is new, and FDA's
whole enforcement report (12,504 recalls) would be megabytes on every poll."""
FEED_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
MAX_ID = 2**31 - 1
CHUNK = 5_000
"""Ids or codes per IN list: far below the bound-parameter limits of either database."""
STAFF = service.CREATORS
"""Who works on recalls here: the firm (manufacturer), the regulator, and admins."""
OPEN_STATES = service.CLOCK_STATES
"""Open: published and not yet completed, the states in which the deadlines run."""
PUBLIC_STATES = service.PUBLIC_STATES
PHARMACISTS = ("pharmacist",)
ALL = "all"

# Who sees the recall desk and the investigations is decided here once; the menu asks.
environment.globals.update(recall_staff=STAFF)

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
WORDS: dict[str, Mapping[str, str]] = {
    "state": STATE, "step": STEP, "kind": KIND, "action": ACTION, "role": ROLE,
    "depth": DEPTH, "warning": WARNING, "level": LEVEL, "initiative": INITIATIVE,
    "method": METHOD, "source": SOURCE,
    "class": {c.value: notices.CLASS_MEANING[c] for c in RecallClass}}
FIELDS = {"reason": "Reason", "classification": "Class", "depth": "Depth",
          "public_warning": "Public warning", "effectiveness_check": "Effectiveness checks",
          "as_of": "As of", "consignees_notified": "Consignees notified",
          "notified_on": "Notified on", "methods": "How", "consignees_responding":
          "Consignees responding", "quantity_on_hand": "Quantity on hand",
          "non_responders": "Not responding", "quantity_returned": "Quantity returned",
          "quantity_corrected": "Quantity corrected",
          "effectiveness_checks": "Effectiveness checks made",
          "effectiveness_results": "Their results",
          "estimated_completion": "Estimated completion",
          "written_request": "Written request", "disposition": "Disposition",
          "requested_on": "Requested on", "transition": "Step"}
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


def whole(form: FormData, name: str, default: int | None = None) -> int | str | None:
    """A whole number typed into a form; other text is passed on for the input model to
    refuse with its own message."""
    text = text_of(form, name)
    if not text:
        return default
    return int(text) if text.isdigit() and len(text) < 12 else text


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
            "effectiveness_check": text_of(form, "effectiveness_check"), "reason": reason},
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
    principal = caller.principal
    with container_of(request).uow() as uow:
        found = recalls_for_pharmacy(uow, principal)
        me = uow.organisations.get(principal.organisation_id)
        name = me.name if me is not None else "your pharmacy"
    return render(request, "recalls_pharmacy.html", {
        "recalls": found, "pharmacy": name,
        "now": now(), **HELPERS})


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


# -- reads the recall service does not offer yet ---------------------------------------------
# Each takes a unit of work (and the caller where who asks matters), applies the service's
# own visibility clause and states, and returns plain values: they belong in
# recalls.service and can move there unchanged.


@dataclass(frozen=True, slots=True)
class Published:
    """A recall as the public sees it: its record, and when it last changed."""

    id: int
    source: str
    record: RecallRecord
    updated: datetime


def published_recalls(uow: UnitOfWork, *, classification: str | None, offset: int,
                      limit: int) -> tuple[list[Published], int]:
    """Published recalls of one class (or all), newest report first, for anyone."""
    query = select(RecallRow).where(RecallRow.state.in_(PUBLIC_STATES))
    if classification is not None:
        query = query.where(RecallRow.classification == classification)
    total = count(uow.session, query)
    rows = uow.session.execute(query.order_by(RecallRow.reported_on.desc().nulls_last(),
                                              RecallRow.id.desc())
                               .offset(offset).limit(limit)).scalars()
    return _published(uow, list(rows)), total


def published_by_number(uow: UnitOfWork, number: str) -> list[Published]:
    """The published records of a recall number, newest first; a recall without a number
    is known by its event (the feeds link it so)."""
    numbered = select(RecallRow).where(RecallRow.state.in_(PUBLIC_STATES))
    rows = _rows(uow, numbered.where(RecallRow.recall_number == number))
    if not rows:
        rows = _rows(uow, numbered.where(RecallRow.recall_number.is_(None),
                                         RecallRow.event_id == number))
    return _published(uow, rows)


def any_published(uow: UnitOfWork) -> bool:
    return count(uow.session, select(RecallRow.id)
                 .where(RecallRow.state.in_(PUBLIC_STATES))) > 0


def open_recalls_of(uow: UnitOfWork, catalog: Catalog, ingredient_id: str) -> list[Published]:
    """The open recalls (published, not yet completed) whose products name this medicine,
    newest first. A recall names the medicines the catalog finds in its products'
    descriptions, as `notices.ingredients_of` reads it; only the descriptions are read
    for all open recalls (FDA's report holds thousands), and only the recalls found are
    loaded whole."""
    described = uow.session.execute(
        select(RecallProductRow.recall_id, RecallProductRow.description)
        .join(RecallRow, RecallRow.id == RecallProductRow.recall_id)
        .where(RecallRow.state.in_(OPEN_STATES)))
    ids = sorted({recall_id for recall_id, text in described
                  if ingredient_id in _named_ingredients(catalog, text)})
    rows = [row for start in range(0, len(ids), CHUNK)
            for row in _rows(uow, select(RecallRow)
                             .where(RecallRow.id.in_(ids[start:start + CHUNK])))]
    return _published(uow, sorted(rows, key=lambda row: row.id, reverse=True))


@lru_cache(maxsize=65_536)
def _named_ingredients(catalog: Catalog, description: str) -> frozenset[str]:
    """The knowledge-base ingredients a product description names. Kept per process:
    descriptions do not change, and the catalog is loaded once."""
    return frozenset(i.ingredient for i in catalog.identify_drug_text(description)
                     if i.ingredient is not None)


@dataclass(frozen=True, slots=True)
class StockLine:
    lot: AffectedLot
    on_hand: int
    dispensed_to: int  # patients this pharmacy gave the lot to


@dataclass(frozen=True, slots=True)
class PatientLine:
    """One dispensing of an affected lot by this pharmacy."""

    pseudonym: str
    lot: AffectedLot
    dispensed_on: date
    quantity: int
    prescriber: str | None


@dataclass(frozen=True, slots=True)
class PharmacyRecall:
    """One open recall as the pharmacy that holds or dispensed its lots sees it."""

    summary: RecallSummary
    record: RecallRecord
    stock: Sequence[StockLine]
    patients: Sequence[PatientLine]  # this pharmacy's dispensings of the lots
    responses: Sequence[RecallStepView]  # this pharmacy's responses to the notice
    may_respond: bool


def recalls_for_pharmacy(uow: UnitOfWork, principal: Principal) -> list[PharmacyRecall]:
    """The open recalls the caller's pharmacy holds or dispensed an affected lot of, each
    with only this pharmacy's stock, patients and responses, newest first.

    Every open recall the pharmacist may see is matched at once (`match_many`); the
    holders and recipients of the matched lots are then kept to this pharmacy's."""
    require_role(principal, PHARMACISTS, "see a pharmacy's recalls")
    pharmacy = principal.organisation_id
    if pharmacy is None:
        return []
    query = select(RecallRow).where(service.visible_recalls(principal),
                                    RecallRow.state.in_(OPEN_STATES))
    ndcs = sorted(_ndcs_at(uow, pharmacy))
    if len(ndcs) <= CHUNK:
        # Only a recall naming an NDC the pharmacy holds or dispensed can match its lots
        # (matching rules 1, 3, 5 and 6): the others are never loaded.
        by_product = (select(RecallProductRow.recall_id)
                      .join(RecallProductNdc, RecallProductNdc.product_id == RecallProductRow.id)
                      .where(RecallProductNdc.ndc.in_(ndcs)))
        by_lot = select(RecallLotRow.recall_id).where(RecallLotRow.ndc.in_(ndcs))
        query = query.where(or_(RecallRow.id.in_(by_product), RecallRow.id.in_(by_lot)))
    rows = _rows(uow, query)
    records = uow.recalls.records(rows)
    matched = uow.affected.match_many({row.id: recall_keys(records[row.id]) for row in rows})
    lot_ids = sorted({lot.lot_id for lots in matched.values() for lot in lots})
    holders = [h for h in uow.affected.holders(lot_ids) if h.organisation_id == pharmacy]
    recipients = [r for r in uow.affected.recipients(lot_ids) if r.pharmacy_id == pharmacy]
    found = []
    for row in rows:
        lots = matched.get(row.id, [])
        mine = _concerning(lots, holders, recipients)
        if mine is None:
            continue
        detail = service.read_recall(uow, principal, row.id)
        found.append(PharmacyRecall(
            summary=detail.summary, record=detail.record,
            stock=_stock(mine), patients=_patients(mine),
            responses=_responses_of(uow, detail.history, pharmacy),
            may_respond="respond" in detail.my_steps))
    return found


def _ndcs_at(uow: UnitOfWork, pharmacy: int) -> set[str]:
    """The 11-digit NDCs of the lots a pharmacy holds or dispensed (products coded by
    NDC, the only ones a recall is matched to)."""
    held = select(Stock.lot_id).where(Stock.pharmacy_id == pharmacy, Stock.quantity > 0)
    given = select(Dispensing.lot_id).where(Dispensing.pharmacy_id == pharmacy)
    codes = uow.session.execute(
        select(Product.code).distinct().join(Lot, Lot.product_id == Product.id)
        .where(Product.code_system == NDC_SYSTEM,
               or_(Lot.id.in_(held), Lot.id.in_(given)))).scalars()
    return {ndc for code in codes for ndc in stored_ndcs(code)}


def _concerning(lots: Sequence[AffectedLot], holders: Iterable[Holder],
                recipients: Iterable[Recipient]) -> Affected | None:
    """The recall's affected lots with this pharmacy's holdings and dispensings of them;
    None when it holds and dispensed none."""
    ids = {lot.lot_id for lot in lots}
    held = tuple(h for h in holders if h.lot_id in ids)
    given = tuple(r for r in recipients if r.lot_id in ids)
    if not held and not given:
        return None
    return Affected(lots=tuple(lots), holders=held, recipients=given)


def _stock(affected: Affected) -> list[StockLine]:
    """Per affected lot the pharmacy holds or dispensed (`affected` holds only its own):
    units on hand and how many patients it gave the lot to."""
    lines = []
    for lot in affected.lots:
        on_hand = sum(h.quantity for h in affected.holders if h.lot_id == lot.lot_id)
        patients = {r.patient_id for r in affected.recipients if r.lot_id == lot.lot_id}
        if on_hand or patients:
            lines.append(StockLine(lot, on_hand, len(patients)))
    return lines


def _patients(affected: Affected) -> list[PatientLine]:
    lots = {lot.lot_id: lot for lot in affected.lots}
    return [PatientLine(r.pseudonym, lots[r.lot_id], r.dispensed_on, r.quantity,
                        r.prescriber_name)
            for r in sorted(affected.recipients,
                            key=lambda r: (r.dispensed_on, r.pseudonym), reverse=True)]


def _responses_of(uow: UnitOfWork, history: Sequence[RecallStepView],
                  pharmacy: int) -> list[RecallStepView]:
    """The `respond` steps taken by this pharmacy's staff."""
    found = []
    for step in history:
        if step.transition == "respond" and step.role == Role.PHARMACY.value:
            user = uow.users.by_username(step.by)
            if user is not None and user.organisation_id == pharmacy:
                found.append(step)
    return found


def _rows(uow: UnitOfWork, query: Select[RecallRow]) -> list[RecallRow]:
    return list(uow.session.execute(query.order_by(RecallRow.id.desc())).scalars())


def _published(uow: UnitOfWork, rows: Sequence[RecallRow]) -> list[Published]:
    records = uow.recalls.records(rows)
    return [Published(row.id, row.source, records[row.id], aware(row.updated_at))
            for row in rows]
