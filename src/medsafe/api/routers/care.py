"""Care of the patients a recall touched (docs/care.md): alternatives proposed on each
patient's own record, the prescriber's decision, monitoring plans with their check-ins,
the patient's diary and the alerts its rules raise, a diary entry reported as a case,
missed check-ins followed up; and a patient's own recall notices.

Who may do what is the services' business (`care.switching`, `care.monitoring_service`,
`recalls.patient_notices`): regulators and manufacturers see no patient-level care data
(403); a record the caller may not see is a 404. A bad diary value, a switch to a medicine
with a critical finding, or a proposal for a patient the recall did not touch is a 422
naming what was wrong, and nothing is written.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, Pseudonym, id_query
from medsafe.care import monitoring_service, switching
from medsafe.care.diary_inputs import (
    AlertView,
    DiaryResult,
    FollowUpTally,
    NewDiaryCase,
    NewDiaryEntry,
    PatientMonitoring,
    PlanDetail,
    PrescriberOverview,
)
from medsafe.care.inputs import Decision, ReviewState, ReviewSummary, ReviewView
from medsafe.cases.service import CaseSummary
from medsafe.recalls import patient_notices
from medsafe.recalls.patient_notices import OwnNotice
from medsafe.records import Input, View, now, require_role

router = APIRouter(tags=["care"])


class ProposalRun(View):
    recall_id: int
    patients: int
    created: int
    refreshed: int
    unchanged: int
    decided: int
    without_proposals: int
    not_affected: int
    batches: int


class PatientProposal(Input):
    patient: str = Field(min_length=1, max_length=40, description="the patient's pseudonym")


class AlertResolution(Input):
    note: str = Field(min_length=1, max_length=2000, description="what was done")


@router.post("/recalls/{recall_id}/care/proposals", response_model=ProposalRun)
def propose_for_recall(recall_id: Id, app: ContainerDep,
                       caller: CurrentPrincipal) -> ProposalRun:
    """Propose alternatives for every patient of the recall's notices in the caller's
    scope (idempotent: decided reviews are left alone)."""
    with app.uow() as uow:
        tally = switching.propose_for_recall(uow, caller, app.catalog, recall_id,
                                             today=now().date())
    return ProposalRun.model_validate(asdict(tally))


@router.post("/recalls/{recall_id}/care/proposals/patient", response_model=ReviewView)
def propose_for_patient(recall_id: Id, body: PatientProposal, app: ContainerDep,
                        caller: CurrentPrincipal) -> ReviewView:
    """Propose alternatives for one patient; one the recall did not touch is a 422."""
    with app.uow() as uow:
        return switching.propose_for_patient(uow, caller, app.catalog, recall_id,
                                             body.patient, today=now().date())


@router.get("/care/reviews", response_model=Page[ReviewSummary])
def list_reviews(app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
                 recall: Annotated[int | None, id_query("the recall's id")] = None,
                 state: Annotated[ReviewState | None, Query()] = None
                 ) -> Page[ReviewSummary]:
    with app.uow() as uow:
        items, total = switching.list_reviews(uow, caller, recall_id=recall, state=state,
                                              offset=paging.offset, limit=paging.page_size)
    return page_of(items, total, paging)


@router.get("/care/reviews/{review_id}", response_model=ReviewView)
def read_review(review_id: Id, app: ContainerDep, caller: CurrentPrincipal) -> ReviewView:
    with app.uow() as uow:
        return switching.read_review(uow, caller, review_id)


@router.post("/care/reviews/{review_id}/decision", response_model=ReviewView)
def decide(review_id: Id, body: Decision, app: ContainerDep,
           caller: CurrentPrincipal) -> ReviewView:
    """The prescriber accepts a proposal or chooses another medicine (with a reason): the
    prescription change, the monitoring plan and the messages to the patient and the
    pharmacy, in one transaction."""
    with app.uow() as uow:
        return switching.decide(uow, caller, app.catalog, review_id, body,
                                today=now().date())


@router.get("/care/overview", response_model=PrescriberOverview)
def overview(app: ContainerDep, caller: CurrentPrincipal) -> PrescriberOverview:
    """The caller's patients' active plans, open alerts and overdue check-ins."""
    with app.uow() as uow:
        return monitoring_service.prescriber_overview(uow, caller)


@router.get("/patients/{pseudonym}/care", response_model=PatientMonitoring)
def patient_care(pseudonym: Pseudonym, app: ContainerDep,
                 caller: CurrentPrincipal) -> PatientMonitoring:
    """One patient's plans, diary and open alerts."""
    with app.uow() as uow:
        return monitoring_service.patient_overview(uow, caller, pseudonym)


@router.get("/care/plans/{plan_id}", response_model=PlanDetail)
def read_plan(plan_id: Id, app: ContainerDep, caller: CurrentPrincipal) -> PlanDetail:
    """A plan with its check-ins, diary, alerts and a series per diary item."""
    with app.uow() as uow:
        return monitoring_service.plan_detail(uow, caller, plan_id)


@router.post("/care/plans/{plan_id}/diary", response_model=DiaryResult, status_code=201)
def add_diary_entry(plan_id: Id, body: NewDiaryEntry, app: ContainerDep,
                    caller: CurrentPrincipal) -> DiaryResult:
    """A diary entry; the rules run on it at once and alert the prescriber."""
    with app.uow() as uow:
        return monitoring_service.record_diary(uow, caller, plan_id, body,
                                               today=now().date())


@router.post("/care/diary/{entry_id}/case", response_model=CaseSummary, status_code=201)
def diary_case(entry_id: Id, body: NewDiaryCase, app: ContainerDep,
               caller: CurrentPrincipal) -> CaseSummary:
    """The diary entry reported as a side effect: a case, linked to product and lot."""
    with app.uow() as uow:
        return monitoring_service.diary_to_case(uow, caller, app.catalog, entry_id, body)


@router.post("/care/alerts/{alert_id}/resolve", response_model=AlertView)
def resolve_alert(alert_id: Id, body: AlertResolution, app: ContainerDep,
                  caller: CurrentPrincipal) -> AlertView:
    with app.uow() as uow:
        return monitoring_service.resolve_alert(uow, caller, alert_id, body.note)


@router.post("/care/follow-up", response_model=FollowUpTally)
def follow_up(app: ContainerDep, caller: CurrentPrincipal) -> FollowUpTally:
    """Missed check-ins followed up and finished plans ended (administrators; the
    `medsafe care follow-up` command does the same on a schedule)."""
    require_role(caller, ("admin",), "run the care follow-up")
    with app.uow() as uow:
        return monitoring_service.follow_up(uow, today=now().date())


@router.get("/my/notices", response_model=list[OwnNotice])
def my_notices(app: ContainerDep, caller: CurrentPrincipal) -> list[OwnNotice]:
    """The signed-in patient's recall notices."""
    with app.uow() as uow:
        return patient_notices.my_notices(uow, caller)


@router.post("/my/notices/{notice_id}/acknowledgement", response_model=OwnNotice)
def acknowledge_notice(notice_id: Id, app: ContainerDep,
                       caller: CurrentPrincipal) -> OwnNotice:
    with app.uow() as uow:
        return patient_notices.acknowledge_mine(uow, caller, notice_id)
