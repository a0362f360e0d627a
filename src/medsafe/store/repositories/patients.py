"""Patients and what hangs off them: conditions, allergies, observations, medicines
taken, contact details and care relationships."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, exists, select

from medsafe.store.repositories.base import Order, Repository
from medsafe.store.schema import (
    CareRelationship,
    Organisation,
    Patient,
    PatientAllergy,
    PatientCondition,
    PatientContact,
    PatientMedication,
    PatientObservation,
    User,
)

Entry = TypeVar("Entry", PatientCondition, PatientAllergy, PatientObservation,
                PatientMedication, CareRelationship)
CareRow = Row[CareRelationship, str | None, str | None, str | None]
"""A care relationship with its physician's username and name and its pharmacy's name."""


class PatientRepository(Repository):
    def get_visible(self, pseudonym: str, visible: ColumnElement[bool]) -> Patient | None:
        return self.session.execute(
            select(Patient).where(Patient.pseudonym == pseudonym, visible)
        ).scalar_one_or_none()

    def pseudonym_of(self, patient_id: int) -> str | None:
        """A patient's pseudonym by id (for a caller's own record: no visibility rule)."""
        patient = self.session.get(Patient, patient_id)
        return patient.pseudonym if patient is not None else None

    def pseudonym_taken(self, pseudonym: str) -> bool:
        return self.session.execute(
            select(Patient.id).where(Patient.pseudonym == pseudonym)).first() is not None

    def list_visible(self, visible: ColumnElement[bool], *, pseudonym: str | None,
                     condition: str | None, offset: int, limit: int
                     ) -> tuple[list[Patient], int]:
        """Oldest registration first; `pseudonym` and `condition` (an active one) match
        any part of the text, ignoring case."""
        query = select(Patient).where(visible)
        if pseudonym:
            query = query.where(Patient.pseudonym.icontains(pseudonym, autoescape=True))
        if condition:
            query = query.where(exists(
                select(PatientCondition.id).where(
                    PatientCondition.patient_id == Patient.id, PatientCondition.active,
                    PatientCondition.text.icontains(condition, autoescape=True))))
        return self._scalar_page(query, (Patient.id,), offset, limit)

    def active_condition_texts(self, patient_ids: Sequence[int]) -> dict[int, list[str]]:
        """The active conditions' texts of each patient, in one query for them all."""
        texts: dict[int, list[str]] = {patient_id: [] for patient_id in patient_ids}
        if texts:
            rows = self.session.execute(
                select(PatientCondition.patient_id, PatientCondition.text)
                .where(PatientCondition.patient_id.in_(texts), PatientCondition.active)
                .order_by(PatientCondition.id))
            for patient_id, text in rows:
                texts[patient_id].append(text)
        return texts

    # -- the stored record ------------------------------------------------------------------

    def active_conditions(self, patient_id: int) -> list[PatientCondition]:
        return self._entries(PatientCondition, patient_id, PatientCondition.active)

    def allergies(self, patient_id: int) -> list[PatientAllergy]:
        return self._entries(PatientAllergy, patient_id)

    def observations(self, patient_id: int) -> list[PatientObservation]:
        """Newest first."""
        return self._entries(PatientObservation, patient_id, order=(
            PatientObservation.observed_on.desc(), PatientObservation.id.desc()))

    def active_medications(self, patient_id: int) -> list[PatientMedication]:
        return self._entries(PatientMedication, patient_id, PatientMedication.active)

    def care_team(self, patient_id: int) -> Sequence[CareRow]:
        return self.session.execute(
            select(CareRelationship, User.username, User.display_name, Organisation.name)
            .outerjoin(User, User.id == CareRelationship.physician_id)
            .outerjoin(Organisation, Organisation.id == CareRelationship.pharmacy_id)
            .where(CareRelationship.patient_id == patient_id)
            .order_by(CareRelationship.id)).all()

    def contact(self, patient_id: int) -> PatientContact | None:
        return self.session.get(PatientContact, patient_id)

    # -- one entry of a patient's record ----------------------------------------------------

    def active_condition(self, patient_id: int, condition_id: int) -> PatientCondition | None:
        return self._entry(PatientCondition, patient_id, condition_id,
                           PatientCondition.active)

    def allergy(self, patient_id: int, allergy_id: int) -> PatientAllergy | None:
        return self._entry(PatientAllergy, patient_id, allergy_id)

    def observation(self, patient_id: int, observation_id: int) -> PatientObservation | None:
        return self._entry(PatientObservation, patient_id, observation_id)

    def active_medication(self, patient_id: int,
                          medication_id: int) -> PatientMedication | None:
        return self._entry(PatientMedication, patient_id, medication_id,
                           PatientMedication.active)

    def care_link(self, patient_id: int, link_id: int) -> CareRelationship | None:
        return self._entry(CareRelationship, patient_id, link_id)

    def has_care_link(self, patient_id: int, *, physician_id: int | None = None,
                      pharmacy_id: int | None = None) -> bool:
        """Whether the physician (or else the pharmacy) cares for the patient already."""
        same = (CareRelationship.physician_id == physician_id if physician_id is not None
                else CareRelationship.pharmacy_id == pharmacy_id)
        return self.session.execute(select(CareRelationship.id).where(
            CareRelationship.patient_id == patient_id, same)).first() is not None

    def _entries(self, model: type[Entry], patient_id: int, *conditions: Any,
                 order: Sequence[Order] = ()) -> list[Entry]:
        """The patient's entries, in the order given (by default as entered)."""
        return list(self.session.execute(
            select(model).where(model.patient_id == patient_id, *conditions)
            .order_by(*(order or (model.id,)))).scalars())

    def _entry(self, model: type[Entry], patient_id: int, entry_id: int,
               *conditions: Any) -> Entry | None:
        """The patient's entry with this id: an id of another patient's entry is none."""
        return self.session.execute(
            select(model).where(model.id == entry_id, model.patient_id == patient_id,
                                *conditions)).scalar_one_or_none()
