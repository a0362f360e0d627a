"""Monitoring: plans, check-ins, diary entries and the alerts their rules raise
(docs/care.md).

Visibility is the caller's: every read that may cross patients takes the WHERE clause on
`Patient` of `security.permissions.visible_patients`, so a plan, entry or alert of a
patient the caller may not see is simply not found. The bulk methods serve the diary's
bulk ingestion and the daily follow-up, a handful of queries however many rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Row, insert, select, update

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import (
    CareAlert,
    Case,
    DiaryEntry,
    Lot,
    MonitoringCheckIn,
    MonitoringPlan,
    OutboxMessage,
    Patient,
    PatientContact,
    Product,
    User,
)

PlanRow = Row[MonitoringPlan, str]
"""A plan with its patient's pseudonym."""
AlertRow = Row[CareAlert, str]
"""An alert with its patient's pseudonym."""


class MonitoringRepository(Repository):
    # -- plans -----------------------------------------------------------------------------

    def plan(self, plan_id: int) -> MonitoringPlan | None:
        return self.session.get(MonitoringPlan, plan_id)

    def visible_plan(self, plan_id: int, visible: ColumnElement[bool]) -> PlanRow | None:
        return self.session.execute(
            select(MonitoringPlan, Patient.pseudonym)
            .join(Patient, Patient.id == MonitoringPlan.patient_id)
            .where(MonitoringPlan.id == plan_id, visible)).first()

    def plans_of(self, patient_id: int) -> list[MonitoringPlan]:
        """A patient's plans, newest first."""
        return list(self.session.execute(
            select(MonitoringPlan).where(MonitoringPlan.patient_id == patient_id)
            .order_by(MonitoringPlan.started_on.desc(), MonitoringPlan.id.desc())).scalars())

    def active_plans(self, visible: ColumnElement[bool]) -> list[tuple[MonitoringPlan, str]]:
        return list(self.session.execute(
            select(MonitoringPlan, Patient.pseudonym)
            .join(Patient, Patient.id == MonitoringPlan.patient_id)
            .where(MonitoringPlan.state == "active", visible)
            .order_by(MonitoringPlan.started_on, MonitoringPlan.id)).all())

    def active_plan_like(self, patient_id: int, medicine_from: str,
                         medicine_to: str) -> MonitoringPlan | None:
        return self.session.execute(
            select(MonitoringPlan).where(
                MonitoringPlan.patient_id == patient_id, MonitoringPlan.state == "active",
                MonitoringPlan.medicine_from == medicine_from,
                MonitoringPlan.medicine_to == medicine_to).limit(1)).scalar_one_or_none()

    def plans_by_id(self, plan_ids: Collection[int]) -> dict[int, MonitoringPlan]:
        if not plan_ids:
            return {}
        return {plan.id: plan for plan in self.session.execute(
            select(MonitoringPlan).where(MonitoringPlan.id.in_(plan_ids))).scalars()}

    def plans_past_end(self, today: date) -> list[MonitoringPlan]:
        """Active plans whose last day is behind `today` and with no check-in still due."""
        still_due = select(MonitoringCheckIn.plan_id).where(MonitoringCheckIn.state == "due")
        return list(self.session.execute(
            select(MonitoringPlan).where(MonitoringPlan.state == "active",
                                         MonitoringPlan.ends_on < today,
                                         MonitoringPlan.id.not_in(still_due))).scalars())

    def end_plans(self, plan_ids: Sequence[int]) -> None:
        if plan_ids:
            self.session.execute(update(MonitoringPlan)
                                 .where(MonitoringPlan.id.in_(plan_ids))
                                 .values(state="ended"))

    # -- check-ins -------------------------------------------------------------------------

    def check_ins(self, plan_ids: Collection[int]) -> list[MonitoringCheckIn]:
        if not plan_ids:
            return []
        return list(self.session.execute(
            select(MonitoringCheckIn).where(MonitoringCheckIn.plan_id.in_(plan_ids))
            .order_by(MonitoringCheckIn.plan_id, MonitoringCheckIn.due_on)).scalars())

    def due_check_ins(self, plan_ids: Collection[int]) -> list[MonitoringCheckIn]:
        if not plan_ids:
            return []
        return list(self.session.execute(
            select(MonitoringCheckIn).where(MonitoringCheckIn.plan_id.in_(plan_ids),
                                            MonitoringCheckIn.state == "due")
            .order_by(MonitoringCheckIn.plan_id, MonitoringCheckIn.due_on)).scalars())

    def due_before(self, day: date) -> list[tuple[MonitoringCheckIn, MonitoringPlan]]:
        """Check-ins of active plans still due on a day before `day` (the follow-up's
        candidates), with their plans; the state+due index answers it."""
        return [(c, p) for c, p in self.session.execute(
            select(MonitoringCheckIn, MonitoringPlan)
            .join(MonitoringPlan, MonitoringPlan.id == MonitoringCheckIn.plan_id)
            .where(MonitoringCheckIn.state == "due", MonitoringCheckIn.due_on < day,
                   MonitoringPlan.state == "active")
            .order_by(MonitoringCheckIn.plan_id, MonitoringCheckIn.due_on))]

    def mark_check_ins(self, values: Sequence[Mapping[str, Any]]) -> None:
        """Update check-ins by id in one executemany (each mapping holds `id`)."""
        if values:
            self.session.execute(update(MonitoringCheckIn), list(values))

    # -- diary entries ---------------------------------------------------------------------

    def entries(self, plan_ids: Collection[int]) -> list[DiaryEntry]:
        """The plans' entries, oldest first (by the day they describe, then as entered)."""
        if not plan_ids:
            return []
        return list(self.session.execute(
            select(DiaryEntry).where(DiaryEntry.plan_id.in_(plan_ids))
            .order_by(DiaryEntry.plan_id, DiaryEntry.recorded_on, DiaryEntry.id)).scalars())

    def entries_of_patient(self, patient_id: int) -> list[DiaryEntry]:
        return list(self.session.execute(
            select(DiaryEntry).where(DiaryEntry.patient_id == patient_id)
            .order_by(DiaryEntry.recorded_on, DiaryEntry.id)).scalars())

    def entry_days(self, plan_ids: Collection[int]) -> dict[int, list[date]]:
        if not plan_ids:
            return {}
        days: dict[int, list[date]] = {}
        for plan_id, day in self.session.execute(
                select(DiaryEntry.plan_id, DiaryEntry.recorded_on)
                .where(DiaryEntry.plan_id.in_(plan_ids))
                .order_by(DiaryEntry.plan_id, DiaryEntry.recorded_on)):
            days.setdefault(plan_id, []).append(day)
        return days

    def visible_entry(self, entry_id: int, visible: ColumnElement[bool]
                      ) -> Row[DiaryEntry, MonitoringPlan, Patient] | None:
        return self.session.execute(
            select(DiaryEntry, MonitoringPlan, Patient)
            .join(MonitoringPlan, MonitoringPlan.id == DiaryEntry.plan_id)
            .join(Patient, Patient.id == DiaryEntry.patient_id)
            .where(DiaryEntry.id == entry_id, visible)).first()

    def insert_entries(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert entry rows in one multi-row INSERT … RETURNING; their ids in order."""
        if not rows:
            return []
        result = self.session.execute(
            insert(DiaryEntry).returning(DiaryEntry.id, sort_by_parameter_order=True),
            list(rows))
        return [row[0] for row in result]

    def link_case(self, entry_id: int, case_id: int) -> bool:
        """Point the entry at the case it became, unless it already names one (two clicks
        at once: only the first wins). Whether this call set it."""
        result = cast(CursorResult[Any], self.session.execute(
            update(DiaryEntry).where(DiaryEntry.id == entry_id, DiaryEntry.case_id.is_(None))
            .values(case_id=case_id).execution_options(synchronize_session=False)))
        return result.rowcount == 1

    def case_of_entry(self, entry_id: int) -> int | None:
        return self.session.execute(
            select(DiaryEntry.case_id).where(DiaryEntry.id == entry_id)).scalar_one_or_none()

    def worldwide_id(self, case_id: int) -> str | None:
        return self.session.execute(
            select(Case.worldwide_id).where(Case.id == case_id)).scalar_one_or_none()

    # -- alerts ----------------------------------------------------------------------------

    def insert_alerts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(CareAlert), list(rows))

    def alerts(self, plan_ids: Collection[int], *, open_only: bool = False) -> list[CareAlert]:
        if not plan_ids:
            return []
        query = select(CareAlert).where(CareAlert.plan_id.in_(plan_ids))
        if open_only:
            query = query.where(CareAlert.resolved_at.is_(None))
        return list(self.session.execute(query.order_by(CareAlert.id)).scalars())

    def alerts_of_entry(self, entry_id: int) -> list[CareAlert]:
        return list(self.session.execute(
            select(CareAlert).where(CareAlert.diary_entry_id == entry_id)
            .order_by(CareAlert.id)).scalars())

    def visible_alert(self, alert_id: int, visible: ColumnElement[bool]) -> AlertRow | None:
        return self.session.execute(
            select(CareAlert, Patient.pseudonym)
            .join(Patient, Patient.id == CareAlert.patient_id)
            .where(CareAlert.id == alert_id, visible)).first()

    # -- what the plan names -----------------------------------------------------------------

    def product(self, product_id: int) -> Product | None:
        return self.session.get(Product, product_id)

    def lot(self, lot_id: int) -> Lot | None:
        return self.session.get(Lot, lot_id)

    # -- who is told -----------------------------------------------------------------------

    def emails_of_users(self, user_ids: Collection[int]) -> dict[int, str | None]:
        if not user_ids:
            return {}
        return dict(self.session.execute(
            select(User.id, User.email).where(User.id.in_(user_ids))).all())

    def usernames(self, user_ids: Collection[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        return dict(self.session.execute(
            select(User.id, User.username).where(User.id.in_(user_ids))).all())

    def patient_emails(self, patient_ids: Collection[int]) -> dict[int, str | None]:
        if not patient_ids:
            return {}
        return dict(self.session.execute(
            select(PatientContact.patient_id, PatientContact.email)
            .where(PatientContact.patient_id.in_(patient_ids))).all())

    def outbox_ids(self, header: str, topics: Collection[str]) -> dict[str, int]:
        """The outbox messages of these topics that carry `header`, by its value: how a
        bulk write (one multi-row INSERT, no ids back) finds the message of each alert."""
        found: dict[str, int] = {}
        ordered = sorted(topics)
        for start in range(0, len(ordered), 1000):  # well inside every driver's limits
            for message_id, headers in self.session.execute(
                    select(OutboxMessage.id, OutboxMessage.headers)
                    .where(OutboxMessage.topic.in_(ordered[start:start + 1000]))):
                if header in headers:
                    found[headers[header]] = message_id
        return found

    def pseudonyms(self, patient_ids: Collection[int]) -> dict[int, str]:
        if not patient_ids:
            return {}
        return dict(self.session.execute(
            select(Patient.id, Patient.pseudonym).where(Patient.id.in_(patient_ids))).all())
