"""Who a recall has told, and what is left to do: the patient notices (proposed, declined,
queued, letter, acknowledged), the pharmacies' phone-call tasks, the recall messages
already in the outbox, and the contacts the notices are addressed with.

The notices themselves are `outbox_messages` rows (`uow.outbox`); this repository reads
them only to know who was already written to (the idempotence of
`recalls.notifying.queue`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Row, Select, func, select, true, update
from sqlalchemy.orm import InstrumentedAttribute

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import (
    Organisation,
    OutboxMessage,
    Patient,
    PatientContact,
    Product,
    RecallPatientNotice,
    RecallRow,
    RecallTask,
    User,
)

CHUNK = 5000  # ids per IN list: far below either database's limit of bound parameters
T = TypeVar("T")
NoticeRow = Row[RecallPatientNotice, str, str | None, str]
"""A patient notice with the patient's pseudonym, the recall's number and the pharmacy's
name."""
TaskRow = Row[RecallTask, str, str | None, str]


class RecallNoticeRepository(Repository):
    # -- who was told already --------------------------------------------------------------

    def told(self, topic: str, audiences: Collection[str]) -> set[tuple[str, str]]:
        """(audience, recipient) of every message of `topic` already in the outbox."""
        rows = self.session.execute(
            select(OutboxMessage.audience, OutboxMessage.recipient)
            .where(OutboxMessage.topic == topic, OutboxMessage.audience.in_(audiences)))
        return {(audience, recipient) for audience, recipient in rows}

    def noticed_patients(self, recall_id: int) -> set[int]:
        """The patients this recall has a notice for, in any state."""
        return set(self.session.execute(
            select(RecallPatientNotice.patient_id)
            .where(RecallPatientNotice.recall_id == recall_id)).scalars())

    def consignee_messages(self, topic: str, audiences: Collection[str], recipient: str
                           ) -> list[tuple[datetime, datetime | None]]:
        """(written, acknowledged) of the messages of `topic` to this consignee address,
        oldest first."""
        rows = self.session.execute(
            select(OutboxMessage.created_at, OutboxMessage.acknowledged_at)
            .where(OutboxMessage.topic == topic, OutboxMessage.audience.in_(audiences),
                   OutboxMessage.recipient == recipient)
            .order_by(OutboxMessage.id))
        return [(written, acknowledged) for written, acknowledged in rows]

    def standing(self, recall_id: int, pharmacy_id: int) -> dict[str, int]:
        """How many of the recall's patient notices of this pharmacy are in each state
        (and "by_letter": those sent on paper, acknowledged or not), and how many of its
        tasks are open ("tasks_open") and done ("tasks_done")."""
        found: dict[str, int] = {}
        for state, by_email, n in self.session.execute(
                select(RecallPatientNotice.state,
                       RecallPatientNotice.outbox_message_id.is_not(None), func.count())
                .where(RecallPatientNotice.recall_id == recall_id,
                       RecallPatientNotice.pharmacy_id == pharmacy_id)
                .group_by(RecallPatientNotice.state,
                          RecallPatientNotice.outbox_message_id.is_not(None))):
            found[state] = found.get(state, 0) + int(n)
            if not by_email and state in ("letter", "acknowledged"):
                found["by_letter"] = found.get("by_letter", 0) + int(n)
        for done, n in self.session.execute(
                select(RecallTask.done_at.is_not(None), func.count())
                .where(RecallTask.recall_id == recall_id, RecallTask.pharmacy_id == pharmacy_id)
                .group_by(RecallTask.done_at.is_not(None))):
            found["tasks_done" if done else "tasks_open"] = int(n)
        return found

    # -- contacts --------------------------------------------------------------------------

    def organisations(self, ids: Iterable[int]) -> dict[int, Organisation]:
        return {row.id: row for row in self._by_ids(Organisation, Organisation.id, ids)}

    def users(self, ids: Iterable[int]) -> dict[int, User]:
        return {row.id: row for row in self._by_ids(User, User.id, ids)}

    def patient_contacts(self, patient_ids: Iterable[int]) -> dict[int, PatientContact]:
        return {row.patient_id: row for row in self._by_ids(
            PatientContact, PatientContact.patient_id, patient_ids)}

    def products(self, ids: Iterable[int]) -> dict[int, Product]:
        return {row.id: row for row in self._by_ids(Product, Product.id, ids)}

    def _by_ids(self, model: type[T], column: InstrumentedAttribute[int],
                ids: Iterable[int]) -> list[T]:
        wanted = sorted(set(ids))
        found: list[T] = []
        for start in range(0, len(wanted), CHUNK):
            found.extend(self.session.execute(
                select(model).where(column.in_(wanted[start:start + CHUNK]))).scalars())
        return found

    # -- patient notices -------------------------------------------------------------------

    def patient_notice(self, notice_id: int) -> RecallPatientNotice | None:
        return self.session.get(RecallPatientNotice, notice_id)

    def patient_notices(self, *, recall_id: int | None, pharmacy_id: int | None,
                        state: str | None, offset: int, limit: int
                        ) -> tuple[Sequence[NoticeRow], int]:
        """Patient notices with pseudonym, recall number and pharmacy name: by recall,
        then pharmacy name, then pseudonym."""
        query = _notices().where(_filters(RecallPatientNotice.recall_id, recall_id,
                                          RecallPatientNotice.pharmacy_id, pharmacy_id))
        if state is not None:
            query = query.where(RecallPatientNotice.state == state)
        return self._page(query, (RecallPatientNotice.recall_id, Organisation.name,
                                  Patient.pseudonym), offset, limit)

    def patient_notice_row(self, notice_id: int) -> NoticeRow | None:
        """One patient notice as `patient_notices` lists it."""
        return self.session.execute(
            _notices().where(RecallPatientNotice.id == notice_id)).one_or_none()

    def acknowledged(self, outbox_message_id: int, at: datetime) -> int:
        """The patient notice e-mailed as this outbox message is acknowledged (its link
        was used); how many notices that changed (0 or 1)."""
        result = self.session.execute(
            update(RecallPatientNotice)
            .where(RecallPatientNotice.outbox_message_id == outbox_message_id,
                   RecallPatientNotice.state == "queued")
            .values(state="acknowledged", acknowledged_at=at)
            .execution_options(synchronize_session="fetch"))
        return int(getattr(result, "rowcount", 0) or 0)

    # -- tasks -----------------------------------------------------------------------------

    def task(self, task_id: int) -> RecallTask | None:
        return self.session.get(RecallTask, task_id)

    def tasks(self, *, recall_id: int | None, pharmacy_id: int | None, open_only: bool,
              offset: int, limit: int) -> tuple[Sequence[TaskRow], int]:
        """Tasks with pseudonym, recall number and pharmacy name: open ones first, oldest
        first."""
        query = _tasks().where(_filters(RecallTask.recall_id, recall_id,
                                        RecallTask.pharmacy_id, pharmacy_id))
        if open_only:
            query = query.where(RecallTask.done_at.is_(None))
        return self._page(query, (RecallTask.done_at.is_not(None), RecallTask.id), offset,
                          limit)

    def task_row(self, task_id: int) -> TaskRow | None:
        """One task as `tasks` lists it."""
        return self.session.execute(_tasks().where(RecallTask.id == task_id)).one_or_none()



def _notices() -> Select[RecallPatientNotice, str, str | None, str]:
    return (select(RecallPatientNotice, Patient.pseudonym, RecallRow.recall_number,
                   Organisation.name)
            .join(Patient, Patient.id == RecallPatientNotice.patient_id)
            .join(RecallRow, RecallRow.id == RecallPatientNotice.recall_id)
            .join(Organisation, Organisation.id == RecallPatientNotice.pharmacy_id))


def _tasks() -> Select[RecallTask, str, str | None, str]:
    return (select(RecallTask, Patient.pseudonym, RecallRow.recall_number, Organisation.name)
            .join(Patient, Patient.id == RecallTask.patient_id)
            .join(RecallRow, RecallRow.id == RecallTask.recall_id)
            .join(Organisation, Organisation.id == RecallTask.pharmacy_id))


def _filters(recall_column: InstrumentedAttribute[int], recall_id: int | None,
             pharmacy_column: InstrumentedAttribute[int], pharmacy_id: int | None
             ) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = true()
    if recall_id is not None:
        clause = clause & (recall_column == recall_id)
    if pharmacy_id is not None:
        clause = clause & (pharmacy_column == pharmacy_id)
    return clause
