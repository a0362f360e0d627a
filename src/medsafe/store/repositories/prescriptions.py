"""Prescriptions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Row, Select, select

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import Patient, Prescription, User


class PrescriptionRepository(Repository):
    def get(self, prescription_id: int) -> Prescription | None:
        return self.session.get(Prescription, prescription_id)

    def get_visible(self, prescription_id: int, visible_patients: ColumnElement[bool]
                    ) -> tuple[Prescription, str, str] | None:
        """The prescription with its patient's pseudonym and its prescriber's username,
        if `visible_patients` admits its patient."""
        found = self.session.execute(_joined(visible_patients).where(
            Prescription.id == prescription_id)).first()
        return None if found is None else (found[0], found[1], found[2])

    def list_visible(self, visible_patients: ColumnElement[bool], *, patient: str | None,
                     status: str | None, offset: int, limit: int
                     ) -> tuple[Sequence[Row[Prescription, str, str]], int]:
        """Newest first, with pseudonym and prescriber as `get_visible`."""
        query = _joined(visible_patients)
        if patient is not None:
            query = query.where(Patient.pseudonym == patient)
        if status is not None:
            query = query.where(Prescription.status == status)
        return self._page(query, (Prescription.start_date.desc(), Prescription.id.desc()),
                          offset, limit)

    def active_for_patient(self, patient_id: int) -> Sequence[Row[Prescription, str]]:
        """The patient's active prescriptions, each with its prescriber's username."""
        return self.session.execute(
            select(Prescription, User.username).join(User, User.id == Prescription.prescriber_id)
            .where(Prescription.patient_id == patient_id, Prescription.status == "active")
            .order_by(Prescription.id)).all()


def _joined(visible_patients: ColumnElement[bool]) -> Select[Prescription, str, str]:
    return (select(Prescription, Patient.pseudonym, User.username)
            .join(Patient, Patient.id == Prescription.patient_id)
            .join(User, User.id == Prescription.prescriber_id)
            .where(visible_patients))
