"""Case use cases: report a case, read it, list the inboxes, move it through the
workflow, correct it, and see the workload.

Who may do what:
- anyone signed in may report a side effect (a patient only about themself);
- the safety team (admins, and manufacturers for cases naming their own products)
  triages, enters data, reviews and submits;
- regulators read every case, and nobody but the patient's own carers and admins sees who
  the patient or the reporter is: for everyone else a case is de-identified.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, select

from medsafe.cases.intake import Receipt, Source, store_reports
from medsafe.cases.model import CaseReport, PatientInfo, PrimarySource
from medsafe.cases.outbound import record_submission
from medsafe.cases.rules import DEFAULT_REGION, expectedness
from medsafe.cases.workflow import STEPS, is_locked, next_status
from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.records import View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.permissions import visible_cases
from medsafe.security.principal import Principal
from medsafe.store.schema import Case
from medsafe.store.uow import UnitOfWork

SAFETY_TEAM = ("admin", "manufacturer")
MANAGERS = ("admin", "regulator", "manufacturer")  # who sees the workload
READERS = ("admin", "regulator", "manufacturer", "pharmacist", "physician", "patient")
DUE_SOON_DAYS = 5
WITHHELD = "[withheld: free text may identify the patient or the reporter]"
Queue = Literal["all", "new", "invalid", "serious", "due_soon", "overdue", "external"]
QUEUES: tuple[str, ...] = ("all", "new", "invalid", "serious", "due_soon", "overdue",
                           "external")


class CaseSummary(View):
    id: int
    worldwide_id: str
    status: str
    version: int
    source: str
    valid: bool
    invalid_reasons: list[str]
    serious: bool
    expedited: bool
    nullified: bool
    first_received: date
    latest_received: date
    day_zero: date | None
    due_on: date | None
    primary_term: str
    primary_suspect: str
    qualification: str
    follow_up_pending: bool
    synthetic: bool
    merged_into: int | None = None  # a confirmed duplicate: the case it was merged into


class VersionView(View):
    version: int
    kind: str
    received_on: date
    significant: bool
    changes: list[str]
    source: str
    recorded_at: datetime


class ExpectednessView(View):
    drug_id: str
    reaction_id: str
    expected: bool
    why: str


class SubmissionView(View):
    message_id: str
    version: int
    receiver: str
    sent_at: datetime
    ack_status: str
    ack_detail: str | None


class CaseDetail(View):
    case: CaseSummary
    report: CaseReport
    de_identified: bool
    versions: list[VersionView]
    expectedness: list[ExpectednessView]
    submissions: list[SubmissionView]
    locked_by: str | None


class Workload(View):
    status: str
    cases: int
    due_soon: int
    overdue: int


def summary(row: Case) -> CaseSummary:
    return CaseSummary(
        id=row.id, worldwide_id=row.worldwide_id, status=row.status, version=row.version,
        source=row.source, valid=row.valid,
        invalid_reasons=row.invalid_reasons.split("; ") if row.invalid_reasons else [],
        serious=row.serious, expedited=row.expedited, nullified=row.nullified,
        first_received=row.first_received, latest_received=row.latest_received,
        day_zero=row.day_zero, due_on=row.due_on, primary_term=row.primary_term,
        primary_suspect=row.primary_suspect, qualification=row.qualification,
        follow_up_pending=row.follow_up_pending, synthetic=row.synthetic,
        merged_into=row.merged_into_id)


# -- reporting ---------------------------------------------------------------------------

def report_case(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                report: CaseReport, *, source: Source = "api",
                patient_id: int | None = None, region: str = DEFAULT_REGION) -> CaseSummary:
    """Store one report (a new case, or a version of the case with its worldwide id) and
    commit. A patient reports only about themself."""
    require_role(principal, READERS, "report a side effect")
    if principal.role == "patient":
        if patient_id not in (None, principal.patient_id):
            raise NotFound("no such patient")
        patient_id = principal.patient_id
    tally = store_reports(uow, principal, catalog, [report],
                          Receipt(source=source, patient_id=patient_id, region=region,
                                  reported_by_id=principal.user_id or None), keep=True)
    stored = tally.stored[0]
    if stored.kind == "initial":
        audit.record(uow, principal, "case.initial", "case", stored.case_id,
                     {"worldwide_id": stored.worldwide_id, "source": source})
    # A report for a case the caller may not see is refused like an unknown case, and the
    # transaction (with the version just staged) is rolled back.
    result = summary(_get(uow, principal, stored.case_id))
    uow.created.append(result)
    uow.commit()
    return result


# -- reading -----------------------------------------------------------------------------

def read_case(uow: UnitOfWork, principal: Principal, catalog: Catalog,
              reference: str | int) -> CaseDetail:
    """A case by medsafe id or worldwide unique case id, with its history."""
    require_role(principal, READERS, "read cases")
    row = find_case(uow, principal, reference)
    versions = uow.cases.versions(row.id)
    report = CaseReport.model_validate_json(versions[-1].payload)
    hidden = not sees_identities(principal, row)
    locked_by = (uow.users.get(row.locked_by_id) if row.locked_by_id else None)
    return CaseDetail(
        case=summary(row), report=de_identified(report) if hidden else report,
        de_identified=hidden,
        versions=[VersionView(version=v.version, kind=v.kind, received_on=v.received_on,
                              significant=v.significant,
                              changes=v.changes.split("; ") if v.changes else [],
                              source=v.source, recorded_at=aware(v.recorded_at))
                  for v in versions],
        expectedness=[ExpectednessView(drug_id=e.drug_id, reaction_id=e.reaction_id,
                                       expected=e.expected, why=e.why)
                      for e in expectedness(report, catalog)],
        submissions=[SubmissionView(message_id=s.message_id, version=s.version,
                                    receiver=s.receiver, sent_at=aware(s.sent_at),
                                    ack_status=s.ack_status, ack_detail=s.ack_detail)
                     for s in uow.cases.submissions(row.id)],
        locked_by=locked_by.username if locked_by else None)


def read_version(uow: UnitOfWork, principal: Principal, reference: str | int,
                 version: int) -> CaseReport:
    row = find_case(uow, principal, reference)
    found = uow.cases.version(row.id, version)
    if found is None:
        raise NotFound(f"case {row.id} has no version {version}")
    report = CaseReport.model_validate_json(found.payload)
    return report if sees_identities(principal, row) else de_identified(report)


def find_case(uow: UnitOfWork, principal: Principal, reference: str | int) -> Case:
    visible = visible_cases(principal)
    text = str(reference)
    row = (uow.cases.get(int(text), visible) if text.isdigit()
           else uow.cases.by_worldwide_id(text, visible))
    if row is None:
        raise NotFound(f"no case '{reference}'")
    return row


def sees_identities(principal: Principal, row: Case) -> bool:
    if principal.role == "admin":
        return True
    if principal.role == "patient":
        return row.patient_id is not None and row.patient_id == principal.patient_id
    # visible_cases already limits clinicians to their own reports and patients.
    return principal.role in ("physician", "pharmacist")


def de_identified(report: CaseReport) -> CaseReport:
    """The report without what could identify the patient or the reporter: initials,
    date of birth, the reporters' names and organisations, and free text. Age, sex,
    weight, country and qualification stay: safety review needs them."""
    patient: PatientInfo = report.patient.model_copy(
        update={"initials": None, "birth_date": None,
                "medical_history_text": WITHHELD if report.patient.medical_history_text
                else None})
    sources = tuple(PrimarySource(qualification=s.qualification, country=s.country,
                                  regulatory=s.regulatory) for s in report.primary_sources)
    return report.model_copy(update={
        "patient": patient, "primary_sources": sources,
        "narrative": WITHHELD if report.narrative else None,
        "sender_comment": WITHHELD if report.sender_comment else None})


def list_cases(uow: UnitOfWork, principal: Principal, *, queue: str = "all",
               today: date | None = None, offset: int = 0, limit: int = 50
               ) -> tuple[list[CaseSummary], int]:
    """An inbox: due first, then newest. Nullified and merged cases are left out of every
    queue but `all`; external cases (FAERS, VAERS) only appear in `external`."""
    require_role(principal, READERS, "list cases")
    rows, total = uow.cases.page(_queue(principal, queue, today or now().date()), offset,
                                 limit)
    return [summary(row) for row in rows], total


def _queue(principal: Principal, queue: str, today: date) -> Select[Case]:
    open_case = and_(Case.status != "submitted", Case.status != "external",
                     Case.nullified.is_(False), Case.merged_into_id.is_(None))
    conditions: dict[str, ColumnElement[bool]] = {
        "all": Case.status != "external",
        "new": and_(open_case, Case.status == "triage"),
        "invalid": and_(open_case, Case.valid.is_(False)),
        "serious": and_(open_case, Case.serious.is_(True)),
        "due_soon": and_(open_case, Case.due_on >= today,
                         Case.due_on <= today + timedelta(days=DUE_SOON_DAYS)),
        "overdue": and_(open_case, Case.due_on < today),
        "external": Case.status == "external",
    }
    if queue not in conditions:
        raise Invalid(f"unknown queue '{queue}' (queues: {', '.join(QUEUES)})", where="queue")
    return select(Case).where(visible_cases(principal), conditions[queue])


def workload(uow: UnitOfWork, principal: Principal, today: date | None = None
             ) -> list[Workload]:
    """Cases per status, with how many are due soon and overdue: the manager's view."""
    require_role(principal, MANAGERS, "see the workload")
    day = today or now().date()
    rows = uow.cases.workload(visible_cases(principal), day,
                              day + timedelta(days=DUE_SOON_DAYS))
    return [Workload(status=s, cases=n, due_soon=soon, overdue=late)
            for s, n, soon, late in rows]


# -- the workflow ------------------------------------------------------------------------

def advance(uow: UnitOfWork, principal: Principal, reference: str | int, step: str, *,
            reason: str | None = None) -> CaseSummary:
    """Take one workflow step (accept, start_review, return, approve, submit)."""
    require_role(principal, SAFETY_TEAM, "process cases")
    row = find_case(uow, principal, reference)
    if step not in STEPS:
        next_status(row.status, step, valid=row.valid)  # raises, naming the steps
    if row.status == "external":
        raise Conflict(f"case {row.worldwide_id} comes from a national database and is not "
                       "processed here")
    if row.merged_into_id is not None:
        raise Conflict(f"case {row.id} is a confirmed duplicate merged into case "
                       f"{row.merged_into_id}; process that case instead")
    if is_locked(row.status) and row.locked_by_id not in (principal.user_id, None) \
            and principal.role != "admin":
        raise Forbidden(f"case {row.id} is under medical review by another reviewer")
    target = next_status(row.status, step, valid=row.valid)
    values: dict[str, object] = {"status": target, "updated_at": now()}
    if target == "medical_review":
        values["locked_by_id"] = principal.user_id
    elif row.status == "medical_review":
        values["locked_by_id"] = None
        values["follow_up_pending"] = False
    before = row.status
    if step == "submit":
        submission = record_submission(uow, row)
        reason = reason or f"E2B(R3) batch {submission.message_id} to {submission.receiver}"
    uow.cases.update_case(row.id, values)
    audit.record(uow, principal, f"case.{step}", "case", row.id,
                 {"status": [before, target]}, reason=reason)
    result = summary(_get_any(uow, row.id))
    uow.commit()
    return result


def correct(uow: UnitOfWork, principal: Principal, catalog: Catalog, reference: str | int,
            report: CaseReport, *, reason: str, region: str = DEFAULT_REGION) -> CaseSummary:
    """Data entry: store a corrected version of a case. Refused while the case is locked
    under medical review, and for a report that belongs to another case."""
    require_role(principal, SAFETY_TEAM, "correct cases")
    row = find_case(uow, principal, reference)
    if is_locked(row.status):
        raise Conflict(f"case {row.id} is locked under medical review; the reviewer must "
                       "return it to data entry first")
    if row.status == "external":
        raise Conflict(f"case {row.worldwide_id} comes from a national database and is not "
                       "processed here")
    if report.worldwide_id != row.worldwide_id:
        raise Conflict(f"this report is for case {report.worldwide_id}, not "
                       f"{row.worldwide_id}")
    # Corrected during triage or data entry, the case stays there; corrected after
    # review, it goes back to triage like any new information.
    store_reports(uow, principal, catalog, [report],
                  Receipt(source="api", region=region,
                          reopens=row.status not in ("triage", "data_entry")))
    audit.record(uow, principal, "case.correct", "case", row.id,
                 {"version": _get_any(uow, row.id).version}, reason=reason)
    result = summary(_get_any(uow, row.id))
    uow.commit()
    return result


def _get(uow: UnitOfWork, principal: Principal, case_id: int) -> Case:
    row = uow.cases.get(case_id, visible_cases(principal))
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row


def _get_any(uow: UnitOfWork, case_id: int) -> Case:
    row = uow.session.get(Case, case_id)
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row
