"""Investigations and recalls (docs/recalls.md): list and read them; open an investigation
and take its steps (evidence, hazard evaluation, advisory committee, decision); create a
recall from a decided investigation or directly as its firm; take its 21 CFR Part 7 steps.

A pharmacy's part after the notices go out: its patient notices and proposals of a recall,
approve or decline a proposal, a letter's PDF, a phone call's outcome
(`recalls.notifying`).

Every step carries a `reason`, audited with its author. A step the workflow refuses is a
409 problem naming the state, the transition and the role; a role that may never do it a
403. Creating honours Idempotency-Key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, as_json, text_query
from medsafe.recalls import investigation_service as investigations
from medsafe.recalls import notifying, service
from medsafe.recalls.inputs import (
    Classification,
    NewAnalysis,
    NewBenefitRisk,
    NewConflict,
    NewDecision,
    NewHazardEvaluation,
    NewInvestigation,
    NewLotTest,
    NewMember,
    NewRecall,
    NewRecommendation,
    NewReview,
    NewStatusReport,
    NewTerminationRequest,
    NewVote,
    Reasoned,
    RecallFromInvestigation,
    RecallStepInput,
    Strategy,
)
from medsafe.recalls.investigation_service import InvestigationView
from medsafe.recalls.notifying import (
    NoticeDecision,
    PatientNoticeView,
    PatientState,
    TaskOutcome,
    TaskView,
)
from medsafe.recalls.service import RecallDetail, RecallSummary

router = APIRouter(tags=["recalls"])
STEP = "/investigations/{investigation_id}"  # the investigation a step is taken on

RecallStateName = Literal["detected", "triaged", "initiated", "classified", "strategy_set",
                          "published", "notifying", "in_progress", "completed",
                          "termination_requested", "terminated"]
InvestigationStateName = Literal["open", "hazard_evaluated", "advisory_review", "decided",
                                 "closed"]


# -- recalls -------------------------------------------------------------------------------

@router.get("/recalls", response_model=Page[RecallSummary])
def list_recalls(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    state: Annotated[RecallStateName | None, Query()] = None,
    source: Annotated[Literal["openfda", "medsafe"] | None, Query()] = None,
    number: Annotated[str | None, text_query(40, "the recall number")] = None,
) -> Page[RecallSummary]:
    """Recalls the caller may see, newest first, with their deadlines (local policy) and
    what may happen next."""
    with app.uow() as uow:
        items, total = service.list_recalls(uow, caller, state=state, source=source,
                                            number=number, offset=paging.offset,
                                            limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("/recalls", response_model=RecallDetail, status_code=201)
def create_recall(request: Request, body: NewRecall, app: ContainerDep,
                  caller: CurrentPrincipal) -> JSONResponse:
    """Start a recall (or withdrawal, correction, stock recovery) as its firm."""
    return idempotency.create(request, body.model_dump_json().encode(), caller, app.uow,
                              lambda uow: service.create_recall(uow, caller, body), as_json)


@router.get("/recalls/{recall_id}", response_model=RecallDetail)
def read_recall(recall_id: Id, app: ContainerDep, caller: CurrentPrincipal) -> RecallDetail:
    """A recall with its products, lots, history, status reports and termination
    requests, and the steps the caller may take now."""
    with app.uow() as uow:
        return service.read_recall(uow, caller, recall_id)


@router.post("/recalls/{recall_id}/steps", response_model=RecallDetail)
def take_step(recall_id: Id, body: RecallStepInput, app: ContainerDep,
              caller: CurrentPrincipal) -> RecallDetail:
    """A Part 7 transition that carries only its reason."""
    with app.uow() as uow:
        return service.take_step(uow, caller, recall_id, body)


@router.post("/recalls/{recall_id}/classification", response_model=RecallDetail)
def classify(recall_id: Id, body: Classification, app: ContainerDep,
             caller: CurrentPrincipal) -> RecallDetail:
    """The regulator classifies the recall (I, II or III)."""
    with app.uow() as uow:
        return service.classify(uow, caller, recall_id, body)


@router.post("/recalls/{recall_id}/strategy", response_model=RecallDetail)
def set_strategy(recall_id: Id, body: Strategy, app: ContainerDep,
                 caller: CurrentPrincipal) -> RecallDetail:
    """Depth, public warning and effectiveness-check level (§7.42(b))."""
    with app.uow() as uow:
        return service.set_strategy(uow, caller, recall_id, body)


@router.post("/recalls/{recall_id}/status-reports", response_model=RecallDetail)
def file_status_report(recall_id: Id, body: NewStatusReport, app: ContainerDep,
                       caller: CurrentPrincipal) -> RecallDetail:
    """The firm's status report (§7.53): the report_progress step."""
    with app.uow() as uow:
        return service.file_status_report(uow, caller, recall_id, body)


@router.post("/recalls/{recall_id}/termination-request", response_model=RecallDetail)
def request_termination(recall_id: Id, body: NewTerminationRequest, app: ContainerDep,
                        caller: CurrentPrincipal) -> RecallDetail:
    """The firm asks to end its completed recall (§7.55(b))."""
    with app.uow() as uow:
        return service.request_termination(uow, caller, recall_id, body)


# -- a pharmacy's part: patient notices and phone calls --------------------------------------

@router.get("/recalls/{recall_id}/patient-notices", response_model=Page[PatientNoticeView])
def list_patient_notices(
    recall_id: Id, app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    state: Annotated[PatientState | None, Query()] = None,
) -> Page[PatientNoticeView]:
    """The caller's pharmacy's patient notices of this recall (an administrator's: all);
    `state=proposed` lists the proposals waiting for the pharmacist's decision."""
    with app.uow() as uow:
        items, total = notifying.list_patient_notices(
            uow, caller, recall_id=recall_id, state=state, offset=paging.offset,
            limit=paging.page_size)
    return page_of(items, total, paging)


@router.get("/recalls/{recall_id}/tasks", response_model=Page[TaskView])
def list_tasks(recall_id: Id, app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
               open_only: Annotated[bool, Query()] = True) -> Page[TaskView]:
    """The caller's pharmacy's phone-call tasks of this recall, open ones first."""
    with app.uow() as uow:
        items, total = notifying.list_tasks(uow, caller, recall_id=recall_id,
                                            open_only=open_only, offset=paging.offset,
                                            limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("/recall-notices/{notice_id}/decision", response_model=PatientNoticeView)
def decide_patient_notice(notice_id: Id, body: NoticeDecision, app: ContainerDep,
                          caller: CurrentPrincipal) -> PatientNoticeView:
    """Approve a proposal (the patient is told now) or decline it with a reason."""
    with app.uow() as uow:
        return notifying.decide_patient_notice(uow, caller, notice_id, body,
                                               catalog=app.catalog)


@router.get("/recall-notices/{notice_id}/letter",
            responses={200: {"content": {"application/pdf": {}},
                             "description": "the letter, as composed when it was sent"}})
def patient_letter(notice_id: Id, app: ContainerDep, caller: CurrentPrincipal) -> Response:
    """The printable letter (PDF) of a patient notice sent on paper."""
    with app.uow() as uow:
        body = notifying.patient_letter(uow, caller, notice_id)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="recall-letter-{notice_id}.pdf"',
        "Cache-Control": "no-store"})


@router.post("/recall-tasks/{task_id}/outcome", response_model=TaskView)
def complete_task(task_id: Id, body: TaskOutcome, app: ContainerDep,
                  caller: CurrentPrincipal) -> TaskView:
    """A phone call's outcome: `no_answer` keeps the task open, the others close it, and
    `reached` acknowledges the letter."""
    with app.uow() as uow:
        return notifying.complete_task(uow, caller, task_id, body)


# -- investigations ------------------------------------------------------------------------

@router.get("/investigations", response_model=Page[InvestigationView])
def list_investigations(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    state: Annotated[InvestigationStateName | None, Query()] = None,
) -> Page[InvestigationView]:
    """Investigations the caller may see, newest first, with their committees."""
    with app.uow() as uow:
        items, total = investigations.list_investigations(
            uow, caller, state=state, offset=paging.offset, limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("/investigations", response_model=InvestigationView, status_code=201)
def open_investigation(request: Request, body: NewInvestigation, app: ContainerDep,
                       caller: CurrentPrincipal) -> JSONResponse:
    """Open an investigation from a signal, a cluster of cases on lots, or a quality
    defect."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: investigations.open_investigation(uow, caller, body), as_json)


@router.get("/investigations/{investigation_id}", response_model=InvestigationView)
def read_investigation(investigation_id: Id, app: ContainerDep, caller: CurrentPrincipal
                       ) -> InvestigationView:
    """An investigation with its evidence, committee, decision and history."""
    with app.uow() as uow:
        return investigations.read_investigation(uow, caller, investigation_id)


@router.post(STEP + "/recall", response_model=RecallDetail,
             status_code=201)
def recall_from_investigation(request: Request, investigation_id: Id,
                              body: RecallFromInvestigation, app: ContainerDep,
                              caller: CurrentPrincipal) -> JSONResponse:
    """The recall or market withdrawal the investigation decided on."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: service.recall_from_investigation(uow, caller, investigation_id, body),
        as_json)


@router.post(STEP + "/analysis", response_model=InvestigationView)
def attach_analysis(investigation_id: Id, body: NewAnalysis, app: ContainerDep,
                    caller: CurrentPrincipal) -> InvestigationView:
    """Attach the data analysis by reference (signals, cases, detection runs)."""
    with app.uow() as uow:
        return investigations.attach_analysis(uow, caller, investigation_id, body)


@router.post(STEP + "/lot-tests", response_model=InvestigationView)
def record_lot_test(investigation_id: Id, body: NewLotTest, app: ContainerDep,
                    caller: CurrentPrincipal) -> InvestigationView:
    """Record a lot's test result against its specification."""
    with app.uow() as uow:
        return investigations.record_lot_test(uow, caller, investigation_id, body)


@router.post(STEP + "/hazard", response_model=InvestigationView)
def evaluate_hazard(investigation_id: Id, body: NewHazardEvaluation, app: ContainerDep,
                    caller: CurrentPrincipal) -> InvestigationView:
    """The health-hazard evaluation (21 CFR 7.41(a)), or its revision."""
    with app.uow() as uow:
        return investigations.evaluate_hazard(uow, caller, investigation_id, body)


@router.post(STEP + "/benefit-risk", response_model=InvestigationView)
def note_benefit_risk(investigation_id: Id, body: NewBenefitRisk, app: ContainerDep,
                      caller: CurrentPrincipal) -> InvestigationView:
    """Benefit-risk notes: the condition's severity, alternatives, safety profile."""
    with app.uow() as uow:
        return investigations.note_benefit_risk(uow, caller, investigation_id, body)


@router.post(STEP + "/review", response_model=InvestigationView)
def open_review(investigation_id: Id, body: NewReview, app: ContainerDep,
                caller: CurrentPrincipal) -> InvestigationView:
    """Refer to an advisory committee (members, conflicts, questions, rules)."""
    with app.uow() as uow:
        return investigations.open_review(uow, caller, investigation_id, body)


@router.post(STEP + "/review/members", response_model=InvestigationView)
def add_member(investigation_id: Id, body: NewMember, app: ContainerDep,
               caller: CurrentPrincipal) -> InvestigationView:
    """Add a committee member (until the first vote)."""
    with app.uow() as uow:
        return investigations.add_member(uow, caller, investigation_id, body)


@router.post(STEP + "/review/conflicts", response_model=InvestigationView)
def declare_conflict(investigation_id: Id, body: NewConflict, app: ContainerDep,
                     caller: CurrentPrincipal) -> InvestigationView:
    """A member declares a conflict of interest (until the first vote)."""
    with app.uow() as uow:
        return investigations.declare_conflict(uow, caller, investigation_id, body)


@router.post(STEP + "/review/votes", response_model=InvestigationView)
def cast_vote(investigation_id: Id, body: NewVote, app: ContainerDep,
              caller: CurrentPrincipal) -> InvestigationView:
    """Record a member's vote."""
    with app.uow() as uow:
        return investigations.cast_vote(uow, caller, investigation_id, body)


@router.post(STEP + "/review/recommendation", response_model=InvestigationView)
def recommend(investigation_id: Id, body: NewRecommendation, app: ContainerDep,
              caller: CurrentPrincipal) -> InvestigationView:
    """The committee's recommendation, once every question has a quorum."""
    with app.uow() as uow:
        return investigations.recommend(uow, caller, investigation_id, body)


@router.post(STEP + "/decision", response_model=InvestigationView)
def decide(investigation_id: Id, body: NewDecision, app: ContainerDep,
           caller: CurrentPrincipal) -> InvestigationView:
    """Decide: no action, label change, market withdrawal or recall."""
    with app.uow() as uow:
        return investigations.decide(uow, caller, investigation_id, body)


@router.post(STEP + "/close", response_model=InvestigationView)
def close_investigation(investigation_id: Id, body: Reasoned, app: ContainerDep,
                        caller: CurrentPrincipal) -> InvestigationView:
    """Close a decided investigation."""
    with app.uow() as uow:
        return investigations.close_investigation(uow, caller, investigation_id, body)
