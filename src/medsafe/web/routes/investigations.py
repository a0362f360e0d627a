"""Investigation pages, for the firm and the regulator (admin, regulator, manufacturer; the
service shows a manufacturer its own organisation's only; anyone else gets the 403 page).

- `/investigations?state=…`: investigations by state, newest first, and a form to open
  one (`POST /investigations`) from a signal, a cluster of cases on some lots, or a
  quality defect.
- `/investigations/{id}`: what opened it; the data analysis with links to the signals,
  cases and detection runs it relies on; the lots' test results; the health-hazard
  evaluation (the factors of 21 CFR 7.41); benefit-risk notes; the advisory committee
  (members, declared conflicts, questions, each member's vote, the tallies and the
  recommendation); the decision and the recall made from it; the history; and a form for
  each step open in its state (`POST /investigations/{id}/steps`) and, once it decided on a
  recall or withdrawal, one that creates it (`POST /investigations/{id}/recall`).

Thin: `recalls.investigation_service` decides who may do what and whether a step is open;
a form with a mistake, or a step the service refuses, comes back to the page with the
message (422, 403 or 409).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from medsafe.errors import Invalid
from medsafe.recalls import investigation_service as investigations
from medsafe.recalls import service as recalls
from medsafe.recalls.inputs import (
    NewAnalysis,
    NewBenefitRisk,
    NewConflict,
    NewDecision,
    NewHazardEvaluation,
    NewInvestigation,
    NewLotTest,
    NewMember,
    NewRecommendation,
    NewReview,
    NewVote,
    Reasoned,
    RecallFromInvestigation,
)
from medsafe.recalls.investigation import DecisionKind, InvestigationState, OriginKind
from medsafe.recalls.investigation_service import INVESTIGATORS, InvestigationView
from medsafe.recalls.model import RecallClass
from medsafe.records import now, require_role
from medsafe.security.principal import Principal
from medsafe.store.uow import UnitOfWork
from medsafe.web.routes.recalls import (
    HELPERS,
    MAX_ID,
    PAGE_SIZE,
    Refused,
    answered,
    optional,
    text_of,
    validated,
)
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ALL = "all"
Id = Annotated[int, Path(ge=1, le=MAX_ID)]

STATE = {"open": "Open", "hazard_evaluated": "Hazard evaluated",
         "advisory_review": "Advisory review", "decided": "Decided", "closed": "Closed"}
ORIGIN = {"signal": "A signal", "case_cluster": "A cluster of cases on some lots",
          "quality_defect": "A quality defect"}
ACTION = {"open": "Opened", "attach_analysis": "Attach the data analysis",
          "add_lot_test": "Record a lot's test result",
          "note_benefit_risk": "Note the benefit and risk",
          "evaluate_hazard": "Evaluate the health hazard",
          "refer_to_committee": "Refer to an advisory committee",
          "add_member": "Add a committee member", "declare_conflict": "Declare a conflict",
          "vote": "Record a member's vote", "recommend": "Record the recommendation",
          "decide": "Decide", "close": "Close"}
DECISION = {"no_action": "No action", "label_change": "Label change",
            "market_withdrawal": "Market withdrawal", "recall": "Recall"}
CHOICE = {"yes": "Yes", "no": "No", "abstain": "Abstain"}
WORDS: dict[str, Mapping[str, str]] = {"state": STATE, "origin": ORIGIN, "action": ACTION,
                                       "decision": DECISION, "choice": CHOICE}
FIELDS = {"product": "Product", "origin": "Opened from", "signal_id": "Signal",
          "case_ids": "Cases", "lots": "Lots", "description": "What the defect is",
          "reason": "Reason", "signal_ids": "Signals", "run_ids": "Detection runs",
          "summary": "Summary", "lot": "Lot", "test": "Test", "result": "Result",
          "specification": "Specification", "passed": "Passed", "tested_on": "Tested on",
          "condition_severity": "Severity of the condition", "alternatives": "Alternatives",
          "safety_profile": "Overall safety profile", "injuries_occurred": "Injuries occurred",
          "injuries": "Which injuries", "exposure_conditions": "Conditions of exposure",
          "populations_at_risk": "Populations at risk", "seriousness": "Seriousness",
          "likelihood": "Likelihood", "consequences": "Consequences",
          "proposed_class": "Proposed class", "members": "Members", "name": "name",
          "questions": "Questions", "key": "key", "text": "text", "quorum": "Quorum",
          "waiver": "Waiver", "member": "Member", "nature": "Nature of the conflict",
          "question": "Question", "choice": "Vote", "recommendation": "Recommendation",
          "kind": "Decision", "rationale": "Rationale", "reason_for_recall": "Reason for recall"}
MEMBERSHIP = ("add_member", "declare_conflict")


# -- form fields ---------------------------------------------------------------------------------

def _numbers(form: FormData, name: str) -> list[int]:
    """Whole numbers typed into one box, separated by commas or spaces."""
    found = []
    for part in text_of(form, name).replace(",", " ").split():
        if not part.isdigit() or int(part) > MAX_ID:
            raise Invalid(f"'{part}' is not a record number", where=FIELDS.get(name, name))
        found.append(int(part))
    return found


def _lines(form: FormData, name: str) -> list[str]:
    return [line.strip() for line in text_of(form, name).splitlines() if line.strip()]


def _yes(form: FormData, name: str, default: bool | None = None) -> bool | str:
    """A yes/no choice (`default` when not sent, if it has one); anything else is passed
    on for the input model to refuse."""
    value = text_of(form, name)
    if not value and default is not None:
        return default
    return {"yes": True, "no": False}.get(value, value)


def _questions(form: FormData) -> list[dict[str, str]]:
    """One question a line, "key: text"."""
    found = []
    for line in _lines(form, "questions"):
        key, colon, text = line.partition(":")
        if not colon:
            raise Invalid(f"'{line}' is not 'key: question'", where="Questions")
        found.append({"key": key.strip(), "text": text.strip()})
    return found


def _quorum(form: FormData) -> int | str | None:
    text = text_of(form, "quorum")
    return (int(text) if text.isdigit() and len(text) < 6 else text) if text else None


Step = Callable[[UnitOfWork, Principal, int, FormData, str], InvestigationView]

STEPS: dict[str, Step] = {
    "attach_analysis": lambda uow, who, i, form, reason: investigations.attach_analysis(
        uow, who, i, validated(NewAnalysis, {
            "signal_ids": _numbers(form, "signal_ids"), "case_ids": _numbers(form, "case_ids"),
            "run_ids": _numbers(form, "run_ids"), "summary": text_of(form, "summary"),
            "reason": reason}, FIELDS)),
    "add_lot_test": lambda uow, who, i, form, reason: investigations.record_lot_test(
        uow, who, i, validated(NewLotTest, {
            "lot": text_of(form, "lot"), "test": text_of(form, "test"),
            "result": text_of(form, "result"), "specification": text_of(form, "specification"),
            "passed": _yes(form, "passed"), "tested_on": text_of(form, "tested_on"),
            "reason": reason}, FIELDS)),
    "note_benefit_risk": lambda uow, who, i, form, reason: investigations.note_benefit_risk(
        uow, who, i, validated(NewBenefitRisk, {
            "condition_severity": text_of(form, "condition_severity"),
            "alternatives": text_of(form, "alternatives"),
            "safety_profile": text_of(form, "safety_profile"), "reason": reason}, FIELDS)),
    "evaluate_hazard": lambda uow, who, i, form, reason: investigations.evaluate_hazard(
        uow, who, i, validated(NewHazardEvaluation, {
            "injuries_occurred": _yes(form, "injuries_occurred"),
            "injuries": text_of(form, "injuries"),
            "exposure_conditions": text_of(form, "exposure_conditions"),
            "populations_at_risk": _lines(form, "populations_at_risk"),
            "seriousness": text_of(form, "seriousness"),
            "likelihood": text_of(form, "likelihood"),
            "consequences": text_of(form, "consequences"),
            "proposed_class": optional(form, "proposed_class"), "reason": reason}, FIELDS)),
    "refer_to_committee": lambda uow, who, i, form, reason: investigations.open_review(
        uow, who, i, validated(NewReview, {
            "members": [{"name": name} for name in _lines(form, "members")],
            "questions": _questions(form),
            "waivers_allow_voting": _yes(form, "waivers_allow_voting", False),
            "quorum": _quorum(form), "reason": reason}, FIELDS)),
    "add_member": lambda uow, who, i, form, reason: investigations.add_member(
        uow, who, i, validated(NewMember, {
            "name": text_of(form, "name"), "waiver": optional(form, "waiver"),
            "reason": reason}, FIELDS)),
    "declare_conflict": lambda uow, who, i, form, reason: investigations.declare_conflict(
        uow, who, i, validated(NewConflict, {
            "member": text_of(form, "member"), "product": text_of(form, "product"),
            "nature": text_of(form, "nature"), "reason": reason}, FIELDS)),
    "vote": lambda uow, who, i, form, reason: investigations.cast_vote(
        uow, who, i, validated(NewVote, {
            "member": text_of(form, "member"), "question": text_of(form, "question"),
            "choice": text_of(form, "choice"), "reason": reason}, FIELDS)),
    "recommend": lambda uow, who, i, form, reason: investigations.recommend(
        uow, who, i, validated(NewRecommendation, {
            "recommendation": text_of(form, "recommendation"), "reason": reason}, FIELDS)),
    "decide": lambda uow, who, i, form, reason: investigations.decide(
        uow, who, i, validated(NewDecision, {
            "kind": text_of(form, "kind"), "rationale": text_of(form, "rationale"),
            "proposed_class": optional(form, "proposed_class"), "reason": reason}, FIELDS)),
    "close": lambda uow, who, i, form, reason: investigations.close_investigation(
        uow, who, i, validated(Reasoned, {"reason": reason}, FIELDS)),
}
"""Each form's step: the use case it calls and its input built from the form."""


# -- the list ------------------------------------------------------------------------------------

@router.get("/investigations")
def investigation_list(request: Request, caller: SignedIn,
                       page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                       state: Annotated[str, Query(max_length=30)] = ALL) -> Response:
    return _list_page(request, caller.principal, state=state, page=page)


def _list_page(request: Request, principal: Principal, *, state: str, page: int,
               problems: Sequence[str] = (), status: int = 200,
               typed: FormData | None = None) -> Response:
    require_role(principal, INVESTIGATORS, "read investigations")
    container = container_of(request)
    size = min(PAGE_SIZE, container.settings.page_size_max)
    tabs = (ALL, *InvestigationState)
    with container.uow() as uow:
        found, total = investigations.list_investigations(
            uow, principal, state=None if state == ALL else state,
            offset=(page - 1) * size, limit=size)
        counts = {tab: investigations.list_investigations(
            uow, principal, state=None if tab == ALL else tab, limit=0)[1] for tab in tabs}
    first = (page - 1) * size + 1
    return render(request, "investigations.html", {
        "investigations": found, "total": total, "page": page,
        "pages": max(1, math.ceil(total / size)), "first": first,
        "last": first + len(found) - 1, "state": state, "tabs": tabs, "counts": counts,
        "origins": ORIGIN, "problems": problems, "typed": typed, "text_of": text_of,
        "iwords": WORDS, **HELPERS}, status=status)


@router.post("/investigations")
async def open_investigation(request: Request, caller: SignedIn) -> Response:
    form = await request.form()
    return await run_in_threadpool(_open, request, caller.principal, form)


def _open(request: Request, principal: Principal, form: FormData) -> Response:
    require_role(principal, INVESTIGATORS, "open investigations")

    def take() -> str:
        signals = _numbers(form, "signal_id")
        if len(signals) > 1:
            raise Invalid("name one signal", where=FIELDS["signal_id"])
        spec = validated(NewInvestigation, {
            "product": text_of(form, "product"), "origin": text_of(form, "origin"),
            "signal_id": signals[0] if signals else None,
            "case_ids": _numbers(form, "case_ids"), "lots": _lines(form, "lots"),
            "description": text_of(form, "description"), "reason": text_of(form, "reason")},
            FIELDS)
        with container_of(request).uow() as uow:
            return f"/investigations/{investigations.open_investigation(uow, principal, spec).id}"

    return answered(take, lambda problems, status: _list_page(
        request, principal, state=ALL, page=1, problems=problems, status=status, typed=form))


# -- one investigation -----------------------------------------------------------------------------

@router.get("/investigations/{investigation_id}")
def investigation_page(request: Request, caller: SignedIn, investigation_id: Id) -> Response:
    return _page(request, caller.principal, investigation_id)


def _page(request: Request, principal: Principal, investigation_id: int, *,
          problems: Sequence[str] = (), status: int = 200,
          typed: FormData | None = None) -> Response:
    require_role(principal, INVESTIGATORS, "read investigations")
    with container_of(request).uow() as uow:
        view = investigations.read_investigation(uow, principal, investigation_id)
    committee = view.committee
    membership_open = (view.state == InvestigationState.ADVISORY_REVIEW
                       and committee is not None and not committee.votes
                       and committee.recommendation is None)
    decision = view.decision
    return render(request, "investigation.html", {
        "v": view, "c": committee, "problems": problems, "typed": typed,
        "text_of": text_of,
        "forms": [a for a in view.next_actions if a in STEPS],
        "membership": MEMBERSHIP if membership_open else (),
        "votes": _votes(view), "may_create_recall": decision is not None
        and decision.recall_kind is not None and view.recall_id is None
        and principal.role in recalls.CREATORS,
        "classes": [c.value for c in RecallClass], "decisions": [d.value for d in DecisionKind],
        "origins": [o.value for o in OriginKind], "today": now().date(), "iwords": WORDS,
        **HELPERS}, status=status)


def _votes(view: InvestigationView) -> dict[tuple[str, str], str]:
    """(member, question) -> the member's choice."""
    if view.committee is None:
        return {}
    return {(v.member, v.question): v.choice.value for v in view.committee.votes}


@router.post("/investigations/{investigation_id}/steps")
async def investigation_step(request: Request, caller: SignedIn,
                             investigation_id: Id) -> Response:
    form = await request.form()
    return await run_in_threadpool(_step, request, caller.principal, investigation_id, form)


def _step(request: Request, principal: Principal, investigation_id: int,
          form: FormData) -> Response:
    require_role(principal, INVESTIGATORS, "work on investigations")

    def take() -> str:
        action = text_of(form, "action")
        if action not in STEPS:
            raise Invalid(f"'{action}' is not a step of an investigation (steps: "
                          f"{', '.join(STEPS)})", where="action")
        with container_of(request).uow() as uow:
            STEPS[action](uow, principal, investigation_id, form, text_of(form, "reason"))
        return f"/investigations/{investigation_id}"

    return answered(take, _refused(request, principal, investigation_id, form))


def _refused(request: Request, principal: Principal, investigation_id: int,
             form: FormData) -> Refused:
    return lambda problems, status: _page(request, principal, investigation_id,
                                          problems=problems, status=status, typed=form)


@router.post("/investigations/{investigation_id}/recall")
async def create_recall(request: Request, caller: SignedIn, investigation_id: Id) -> Response:
    """The recall (or market withdrawal) the decision named, with the investigation's
    product and lots; then the recall's own page on the recall desk."""
    form = await request.form()
    return await run_in_threadpool(_create_recall, request, caller.principal,
                                   investigation_id, form)


def _create_recall(request: Request, principal: Principal, investigation_id: int,
                   form: FormData) -> Response:
    def take() -> str:
        spec = validated(RecallFromInvestigation, {
            "reason": text_of(form, "reason"),
            "reason_for_recall": optional(form, "reason_for_recall")}, FIELDS)
        with container_of(request).uow() as uow:
            created = recalls.recall_from_investigation(uow, principal, investigation_id, spec)
        return f"/recalls/manage/{created.summary.id}"

    return answered(take, _refused(request, principal, investigation_id, form))
