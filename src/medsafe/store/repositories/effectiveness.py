"""How well a recall is working, counted in SQL: its consignees and their responses, the
units returned and still on hand, its patients' notices, care reviews, monitoring plans,
alerts and check-ins, the pharmacies' open phone calls, and its effectiveness-check
sample (recalls.effectiveness_service).

Every count is an aggregate over an index (the recall's id, or a plan's), so a recall of
10,000 patients costs the same dozen queries as one of ten. `pharmacy_id` narrows each
count to one pharmacy's part (a pharmacist's view): its own consignee notice, returns and
stock, and the patients whose notice it holds (it dispensed their latest recalled lot).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, and_, case, distinct, func, select
from sqlalchemy.orm import aliased

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import (
    CareAlert,
    CareReview,
    MonitoringCheckIn,
    MonitoringPlan,
    Organisation,
    OutboxMessage,
    Patient,
    RecallEffectivenessCheck,
    RecallPatientNotice,
    RecallReturn,
    RecallStep,
    RecallTask,
    Stock,
    User,
)

CONSIGNEE_KINDS = ("pharmacy", "clinic")
DECIDED_REVIEWS = ("accepted", "chosen_other")
TOLD_STATES = ("queued", "letter", "acknowledged")
CHUNK = 5000  # ids per IN list: far below either database's limit of bound parameters


@dataclass(frozen=True, slots=True)
class ConsigneeRow:
    """A consignee the recall's notice went to: when first, and whether acknowledged."""

    organisation_id: int
    name: str
    first_notified: datetime
    acknowledged: bool


@dataclass(frozen=True, slots=True)
class CheckRow:
    """A check of the sample, with what names its subject: a consignee's name; a
    patient's pseudonym and the pharmacy that holds the patient's notice."""

    check: RecallEffectivenessCheck
    consignee: str | None
    pseudonym: str | None
    pharmacy_id: int | None
    pharmacy: str | None


class EffectivenessRepository(Repository):
    # -- consignees --------------------------------------------------------------------------

    def consignees(self, topic: str, pharmacy_id: int | None) -> list[ConsigneeRow]:
        """The pharmacies and clinics written to under the recall's topic (the notice's
        address is the organisation's), by name."""
        acknowledged = func.max(case((OutboxMessage.acknowledged_at.is_not(None), 1),
                                     else_=0))
        query = (select(Organisation.id, Organisation.name,
                        func.min(OutboxMessage.created_at), acknowledged)
                 .select_from(OutboxMessage)
                 .join(Organisation, and_(Organisation.email == OutboxMessage.recipient,
                                          Organisation.kind.in_(CONSIGNEE_KINDS)))
                 .where(OutboxMessage.topic == topic,
                        OutboxMessage.audience.in_(CONSIGNEE_KINDS))
                 .group_by(Organisation.id, Organisation.name)
                 .order_by(Organisation.name, Organisation.id))
        if pharmacy_id is not None:
            query = query.where(Organisation.id == pharmacy_id)
        return [ConsigneeRow(int(row[0]), row[1], row[2], bool(row[3]))
                for row in self.session.execute(query)]

    def responders(self, recall_id: int) -> set[int]:
        """The organisations whose staff took the recall's `respond` step as a pharmacy."""
        return {int(organisation) for organisation in self.session.execute(
            select(User.organisation_id).distinct().select_from(RecallStep)
            .join(User, User.username == RecallStep.username)
            .where(RecallStep.recall_id == recall_id, RecallStep.transition == "respond",
                   RecallStep.role == "pharmacy")
        ).scalars() if organisation is not None}

    # -- units ---------------------------------------------------------------------------------

    def returned(self, recall_id: int, pharmacy_id: int | None) -> int:
        query = select(func.coalesce(func.sum(RecallReturn.quantity), 0)).where(
            RecallReturn.recall_id == recall_id)
        if pharmacy_id is not None:
            query = query.where(RecallReturn.pharmacy_id == pharmacy_id)
        return int(self.session.execute(query).scalar_one())

    def on_hand(self, lot_ids: Collection[int], pharmacy_id: int | None) -> int:
        """Units of these lots in stock anywhere (or at one pharmacy)."""
        wanted = sorted(set(lot_ids))
        total = 0
        for start in range(0, len(wanted), CHUNK):
            query = select(func.coalesce(func.sum(Stock.quantity), 0)).where(
                Stock.lot_id.in_(wanted[start:start + CHUNK]))
            if pharmacy_id is not None:
                query = query.where(Stock.pharmacy_id == pharmacy_id)
            total += int(self.session.execute(query).scalar_one())
        return total

    def add_return(self, row: RecallReturn) -> RecallReturn:
        return self.add(row)

    # -- patients ------------------------------------------------------------------------------

    def notice_counts(self, recall_id: int, pharmacy_id: int | None) -> dict[str, int]:
        """The recall's patient notices by state, and "delivered": those e-mailed whose
        message was delivered (and not acknowledged yet)."""
        delivered = and_(RecallPatientNotice.state == "queued",
                         OutboxMessage.status == "delivered")
        query = (select(RecallPatientNotice.state, delivered, func.count())
                 .select_from(RecallPatientNotice)
                 .outerjoin(OutboxMessage,
                            OutboxMessage.id == RecallPatientNotice.outbox_message_id)
                 .where(_notices_of(recall_id, pharmacy_id))
                 .group_by(RecallPatientNotice.state, delivered))
        found: dict[str, int] = {}
        for state, was_delivered, n in self.session.execute(query):
            found[state] = found.get(state, 0) + int(n)
            if was_delivered:
                found["delivered"] = found.get("delivered", 0) + int(n)
        return found

    def told_patients(self, recall_id: int) -> list[int]:
        """The patients the recall told (e-mail, letter, acknowledged)."""
        return [int(p) for p in self.session.execute(
            select(RecallPatientNotice.patient_id)
            .where(RecallPatientNotice.recall_id == recall_id,
                   RecallPatientNotice.state.in_(TOLD_STATES))).scalars()]

    def switched(self, recall_id: int, pharmacy_id: int | None) -> int:
        """Patients whose care review the prescriber decided (a switch or another lot)."""
        query = select(func.count()).select_from(CareReview).where(
            CareReview.recall_id == recall_id, CareReview.state.in_(DECIDED_REVIEWS))
        if pharmacy_id is not None:
            query = query.where(CareReview.patient_id.in_(_patients_of(recall_id,
                                                                        pharmacy_id)))
        return int(self.session.execute(query).scalar_one())

    def in_monitoring(self, recall_id: int, pharmacy_id: int | None) -> int:
        query = select(func.count(distinct(MonitoringPlan.patient_id))).where(
            _plans_of(recall_id, pharmacy_id), MonitoringPlan.state == "active")
        return int(self.session.execute(query).scalar_one())

    def open_alerts(self, recall_id: int, pharmacy_id: int | None) -> tuple[int, int, int]:
        """(open alerts, of them urgent, patients with one) of the recall's plans."""
        urgent = func.coalesce(func.sum(case((CareAlert.severity == "urgent", 1), else_=0)), 0)
        row = self.session.execute(
            select(func.count(CareAlert.id), urgent, func.count(distinct(CareAlert.patient_id)))
            .select_from(CareAlert)
            .join(MonitoringPlan, MonitoringPlan.id == CareAlert.plan_id)
            .where(_plans_of(recall_id, pharmacy_id), CareAlert.resolved_at.is_(None))).one()
        return int(row[0]), int(row[1]), int(row[2])

    def overdue_check_ins(self, recall_id: int, pharmacy_id: int | None,
                          today: date) -> tuple[int, int]:
        """(missed and not followed up, still due after their day) of the recall's
        active plans."""
        missed = func.coalesce(func.sum(case(
            (and_(MonitoringCheckIn.state == "missed",
                  MonitoringCheckIn.followed_up_at.is_(None)), 1), else_=0)), 0)
        late = func.coalesce(func.sum(case(
            (and_(MonitoringCheckIn.state == "due", MonitoringCheckIn.due_on < today), 1),
            else_=0)), 0)
        row = self.session.execute(
            select(missed, late).select_from(MonitoringCheckIn)
            .join(MonitoringPlan, MonitoringPlan.id == MonitoringCheckIn.plan_id)
            .where(_plans_of(recall_id, pharmacy_id), MonitoringPlan.state == "active",
                   MonitoringCheckIn.state.in_(("missed", "due")))).one()
        return int(row[0]), int(row[1])

    def open_phone_calls(self, recall_id: int, pharmacy_id: int | None) -> int:
        query = select(func.count()).select_from(RecallTask).where(
            RecallTask.recall_id == recall_id, RecallTask.done_at.is_(None))
        if pharmacy_id is not None:
            query = query.where(RecallTask.pharmacy_id == pharmacy_id)
        return int(self.session.execute(query).scalar_one())

    # -- the effectiveness-check sample --------------------------------------------------------

    def drawn(self, recall_id: int) -> dict[str, set[int]]:
        """The subjects drawn so far, by kind."""
        found: dict[str, set[int]] = {}
        for kind, subject in self.session.execute(
                select(RecallEffectivenessCheck.subject_kind,
                       RecallEffectivenessCheck.subject_id)
                .where(RecallEffectivenessCheck.recall_id == recall_id)):
            found.setdefault(kind, set()).add(int(subject))
        return found

    def add_checks(self, rows: Sequence[RecallEffectivenessCheck]) -> None:
        self.session.add_all(rows)
        self.session.flush()

    def check(self, check_id: int) -> RecallEffectivenessCheck | None:
        return self.session.get(RecallEffectivenessCheck, check_id)

    def check_counts(self, recall_id: int) -> list[tuple[str, str | None, int]]:
        """(kind, outcome or None while unchecked, how many) of the recall's checks."""
        return [(kind, outcome, int(n)) for kind, outcome, n in self.session.execute(
            select(RecallEffectivenessCheck.subject_kind, RecallEffectivenessCheck.outcome,
                   func.count())
            .where(RecallEffectivenessCheck.recall_id == recall_id)
            .group_by(RecallEffectivenessCheck.subject_kind,
                      RecallEffectivenessCheck.outcome))]

    def checks(self, recall_id: int, *, check_id: int | None = None,
               limit: int | None = None) -> list[CheckRow]:
        """The recall's checks in the order drawn (consignees first), each with what
        names its subject."""
        consignee = aliased(Organisation)
        pharmacy = aliased(Organisation)
        check = RecallEffectivenessCheck
        query: Select[RecallEffectivenessCheck, str | None, str | None, int | None,
                      str | None] = (
            select(check, consignee.name, Patient.pseudonym, RecallPatientNotice.pharmacy_id,
                   pharmacy.name)
            .select_from(check)
            .outerjoin(consignee, and_(check.subject_kind == "consignee",
                                       consignee.id == check.subject_id))
            .outerjoin(Patient, and_(check.subject_kind == "patient",
                                     Patient.id == check.subject_id))
            .outerjoin(RecallPatientNotice,
                       and_(check.subject_kind == "patient",
                            RecallPatientNotice.recall_id == check.recall_id,
                            RecallPatientNotice.patient_id == check.subject_id))
            .outerjoin(pharmacy, pharmacy.id == RecallPatientNotice.pharmacy_id)
            .where(check.recall_id == recall_id)
            .order_by(check.subject_kind, check.id))
        if check_id is not None:
            query = query.where(check.id == check_id)
        if limit is not None:
            query = query.limit(limit)
        return [CheckRow(row[0], row[1], row[2], row[3], row[4])
                for row in self.session.execute(query)]


def _notices_of(recall_id: int, pharmacy_id: int | None) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = RecallPatientNotice.recall_id == recall_id
    if pharmacy_id is not None:
        clause = and_(clause, RecallPatientNotice.pharmacy_id == pharmacy_id)
    return clause


def _patients_of(recall_id: int, pharmacy_id: int) -> Select[int]:
    """The patients whose notice of this recall the pharmacy holds."""
    return select(RecallPatientNotice.patient_id).where(_notices_of(recall_id, pharmacy_id))


def _plans_of(recall_id: int, pharmacy_id: int | None) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = MonitoringPlan.recall_id == recall_id
    if pharmacy_id is not None:
        clause = and_(clause, MonitoringPlan.patient_id.in_(_patients_of(recall_id,
                                                                          pharmacy_id)))
    return clause

