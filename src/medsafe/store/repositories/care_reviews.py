"""Care reviews: the alternatives proposed for each affected patient of a recall, and the
prescriber's decision (docs/care.md).

Besides the reviews themselves, this repository reads what proposing needs for many
patients at once: the recall's patient notices, each patient's stored clinical record
(`clinical`), the stock of their pharmacies and their active prescriptions. Each is one
query per batch of patient ids (a few for more than `CHUNK` ids), never one per patient:
proposing runs for every affected patient of a recall, ten thousand in the benchmark.
Rows come back as plain tuples, not ORM objects: they are read once and turned into the
engine's values, and building ten thousand ORM objects per table cost more than the
queries.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, insert, select, update

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import (
    CareRelationship,
    CareReview,
    Dispensing,
    Lot,
    MonitoringPlan,
    Organisation,
    Patient,
    PatientAllergy,
    PatientCondition,
    PatientContact,
    PatientMedication,
    PatientObservation,
    Prescription,
    Product,
    RecallPatientNotice,
    RecallRow,
    Stock,
    User,
)

CHUNK = 5000  # ids per IN list: far below either database's limit of bound parameters

ReviewRow = Row[CareReview, str, str | None, int | None, int | None]
"""A review with its patient's pseudonym, its recall's number, the pharmacy of its
notice (None: none) and the id of the monitoring plan its decision started (None: none)."""


@dataclass(frozen=True, slots=True)
class TargetRow:
    """An affected patient of a recall, as its patient notice names them."""

    notice_id: int
    patient_id: int
    pseudonym: str
    pharmacy_id: int


@dataclass(slots=True)
class ClinicalRows:
    """One patient's stored record, as the engine's `PatientRecord` is built from it
    (`records.patients.patient_record` builds the same for one patient through views):
    active conditions, allergies and active medicines in the order entered, observations
    newest first, active prescriptions in the order written."""

    patient_id: int
    pseudonym: str
    birth_date: date | None
    sex: str | None
    pregnant: bool | None
    preferred_route: str | None
    avoid_side_effects: list[str]
    symptom_severity: str | None
    # (text, code_system, code, severity)
    conditions: list[tuple[str, str | None, str | None, str | None]] = field(
        default_factory=list)
    # (text, code_system, code, reaction)
    allergies: list[tuple[str, str | None, str | None, str | None]] = field(
        default_factory=list)
    # (kind, value, unit, upper_limit, category, observed_on)
    observations: list[tuple[str, float | None, str | None, float | None, str | None,
                             date]] = field(default_factory=list)
    medications: list[tuple[str, str | None]] = field(default_factory=list)  # text, rxnorm
    prescriptions: list[PrescriptionRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PrescriptionRow:
    id: int
    ingredient_id: str
    product_id: int | None
    dose_text: str
    start_date: date
    prescriber_id: int


@dataclass(frozen=True, slots=True)
class StockRow:
    """Units of one lot on a pharmacy's shelf."""

    pharmacy_id: int
    lot_id: int
    lot_number: str
    product_id: int
    ingredient_id: str
    strength: str | None
    route: str | None
    expiry: date | None
    quantity: int


@dataclass(frozen=True, slots=True)
class StoredReview:
    """What a re-run of proposing compares against (no ORM object: ten thousand of them)."""

    id: int
    patient_id: int
    state: str
    notice_id: int | None
    prescription_id: int | None
    medicine: str
    proposals: list[dict[str, object]]


class CareReviewRepository(Repository):
    def get(self, review_id: int) -> CareReview | None:
        return self.session.get(CareReview, review_id)

    # -- who a recall reached --------------------------------------------------------------

    def has_notices(self, recall_id: int) -> bool:
        return self.session.execute(
            select(RecallPatientNotice.id).where(RecallPatientNotice.recall_id == recall_id)
            .limit(1)).first() is not None

    def targets(self, recall_id: int, *, pharmacy_id: int | None = None,
                physician_id: int | None = None, patient_id: int | None = None
                ) -> list[TargetRow]:
        """The recall's patient notices, by patient id: all of them, or those of one
        pharmacy, of the patients one physician cares for, or of one patient."""
        query = (select(RecallPatientNotice.id, RecallPatientNotice.patient_id,
                        Patient.pseudonym, RecallPatientNotice.pharmacy_id)
                 .join(Patient, Patient.id == RecallPatientNotice.patient_id)
                 .where(RecallPatientNotice.recall_id == recall_id))
        if pharmacy_id is not None:
            query = query.where(RecallPatientNotice.pharmacy_id == pharmacy_id)
        if physician_id is not None:
            query = query.where(RecallPatientNotice.patient_id.in_(
                select(CareRelationship.patient_id)
                .where(CareRelationship.physician_id == physician_id)))
        if patient_id is not None:
            query = query.where(RecallPatientNotice.patient_id == patient_id)
        return [TargetRow(notice_id=row[0], patient_id=row[1], pseudonym=row[2],
                          pharmacy_id=row[3])
                for row in self.session.execute(query.order_by(RecallPatientNotice.patient_id))]

    # -- the records proposing reads, for many patients at once ----------------------------

    def clinical(self, patient_ids: Iterable[int]) -> dict[int, ClinicalRows]:
        """Each patient's stored record (see `ClinicalRows`): six queries per `CHUNK`."""
        wanted = sorted(set(patient_ids))
        found: dict[int, ClinicalRows] = {}
        for start in range(0, len(wanted), CHUNK):
            self._clinical(wanted[start:start + CHUNK], found)
        return found

    def _clinical(self, ids: list[int], found: dict[int, ClinicalRows]) -> None:
        execute = self.session.execute
        for p in execute(select(Patient.id, Patient.pseudonym, Patient.birth_date,
                                Patient.sex, Patient.pregnant, Patient.preferred_route,
                                Patient.avoid_side_effects, Patient.symptom_severity)
                         .where(Patient.id.in_(ids))):
            found[p[0]] = ClinicalRows(
                patient_id=p[0], pseudonym=p[1], birth_date=p[2], sex=p[3], pregnant=p[4],
                preferred_route=p[5], avoid_side_effects=list(p[6] or []),
                symptom_severity=p[7])
        for c in execute(select(PatientCondition.patient_id, PatientCondition.text,
                                PatientCondition.code_system, PatientCondition.code,
                                PatientCondition.severity)
                         .where(PatientCondition.patient_id.in_(ids), PatientCondition.active)
                         .order_by(PatientCondition.id)):
            found[c[0]].conditions.append((c[1], c[2], c[3], c[4]))
        for a in execute(select(PatientAllergy.patient_id, PatientAllergy.text,
                                PatientAllergy.code_system, PatientAllergy.code,
                                PatientAllergy.reaction)
                         .where(PatientAllergy.patient_id.in_(ids))
                         .order_by(PatientAllergy.id)):
            found[a[0]].allergies.append((a[1], a[2], a[3], a[4]))
        for o in execute(select(PatientObservation.patient_id, PatientObservation.kind,
                                PatientObservation.value, PatientObservation.unit,
                                PatientObservation.upper_limit, PatientObservation.category,
                                PatientObservation.observed_on)
                         .where(PatientObservation.patient_id.in_(ids))
                         .order_by(PatientObservation.observed_on.desc(),
                                   PatientObservation.id.desc())):
            found[o[0]].observations.append((o[1], o[2], o[3], o[4], o[5], o[6]))
        for m in execute(select(PatientMedication.patient_id, PatientMedication.text,
                                PatientMedication.rxnorm)
                         .where(PatientMedication.patient_id.in_(ids), PatientMedication.active)
                         .order_by(PatientMedication.id)):
            found[m[0]].medications.append((m[1], m[2]))
        for rx in execute(select(Prescription.patient_id, Prescription.id,
                                 Prescription.ingredient_id, Prescription.product_id,
                                 Prescription.dose_text, Prescription.start_date,
                                 Prescription.prescriber_id)
                          .where(Prescription.patient_id.in_(ids),
                                 Prescription.status == "active")
                          .order_by(Prescription.id)):
            found[rx[0]].prescriptions.append(PrescriptionRow(
                id=rx[1], ingredient_id=rx[2], product_id=rx[3], dose_text=rx[4],
                start_date=rx[5], prescriber_id=rx[6]))

    def stock(self, pharmacy_ids: Iterable[int], ingredient_ids: Iterable[str]
              ) -> dict[int, list[StockRow]]:
        """The lots of these ingredients each of these pharmacies has units of, by lot."""
        pharmacies = sorted(set(pharmacy_ids))
        ingredients = sorted(set(ingredient_ids))
        found: dict[int, list[StockRow]] = {}
        if not ingredients:
            return found
        for start in range(0, len(pharmacies), CHUNK):
            rows = self.session.execute(
                select(Stock.pharmacy_id, Stock.lot_id, Lot.lot_number, Lot.product_id,
                       Product.ingredient_id, Product.strength, Product.route, Lot.expiry,
                       Stock.quantity)
                .join(Lot, Lot.id == Stock.lot_id)
                .join(Product, Product.id == Lot.product_id)
                .where(Stock.pharmacy_id.in_(pharmacies[start:start + CHUNK]),
                       Product.ingredient_id.in_(ingredients), Stock.quantity > 0)
                .order_by(Stock.pharmacy_id, Stock.lot_id))
            for row in rows:
                found.setdefault(row[0], []).append(StockRow(*row))
        return found

    def lot_id(self, product_id: int, lot_number: str) -> int | None:
        return self.session.execute(
            select(Lot.id).where(Lot.product_id == product_id, Lot.lot_number == lot_number)
        ).scalar_one_or_none()

    # -- reviews, many at once --------------------------------------------------------------

    def stored(self, recall_id: int, patient_ids: Iterable[int]) -> dict[int, StoredReview]:
        """The recall's reviews of these patients, by patient id."""
        wanted = sorted(set(patient_ids))
        found: dict[int, StoredReview] = {}
        for start in range(0, len(wanted), CHUNK):
            for row in self.session.execute(
                    select(CareReview.id, CareReview.patient_id, CareReview.state,
                           CareReview.notice_id, CareReview.prescription_id,
                           CareReview.medicine, CareReview.proposals)
                    .where(CareReview.recall_id == recall_id,
                           CareReview.patient_id.in_(wanted[start:start + CHUNK]))):
                found[row[1]] = StoredReview(*row)
        return found

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """New reviews in one statement per `CHUNK` (an executemany)."""
        for start in range(0, len(rows), CHUNK):
            self.session.execute(insert(CareReview), list(rows[start:start + CHUNK]))

    def refresh_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Replace the proposals of undecided reviews (each dict: id and the new columns).
        The state is checked again in the statement: a review decided since it was read is
        left alone. How many rows changed."""
        changed = 0
        for values in rows:
            result = self.session.execute(
                update(CareReview)
                .where(CareReview.id == values["id"], CareReview.state == "proposed")
                .values({k: v for k, v in values.items() if k != "id"})
                .execution_options(synchronize_session=False))
            changed += int(getattr(result, "rowcount", 0) or 0)
        return changed

    # -- reading reviews --------------------------------------------------------------------

    def review_row(self, review_id: int, visible: ColumnElement[bool]) -> ReviewRow | None:
        return self.session.execute(_reviews().where(CareReview.id == review_id, visible)
                                    ).one_or_none()

    def review_rows(self, visible: ColumnElement[bool], *, recall_id: int | None,
                    state: str | None, offset: int, limit: int
                    ) -> tuple[Sequence[ReviewRow], int]:
        """By recall, then pseudonym."""
        query = _reviews().where(visible)
        if recall_id is not None:
            query = query.where(CareReview.recall_id == recall_id)
        if state is not None:
            query = query.where(CareReview.state == state)
        return self._page(query, (CareReview.recall_id, Patient.pseudonym), offset, limit)

    # -- who is told about a decision --------------------------------------------------------

    def physicians_of(self, patient_id: int) -> list[User]:
        """The active physicians caring for the patient, in the order they were linked."""
        return list(self.session.execute(
            select(User).join(CareRelationship, CareRelationship.physician_id == User.id)
            .where(CareRelationship.patient_id == patient_id, User.role == "physician",
                   User.active)
            .order_by(CareRelationship.id)).scalars())

    def received_lots(self, recall_id: int, patient_id: int) -> list[str]:
        """The recalled lot numbers the recall's notice to this patient lists."""
        received = self.session.execute(
            select(RecallPatientNotice.received).where(
                RecallPatientNotice.recall_id == recall_id,
                RecallPatientNotice.patient_id == patient_id)).scalar_one_or_none()
        return sorted({str(lot) for lot, _ in received or []})

    def latest_dispensed(self, patient_id: int, lot_numbers: Collection[str]
                         ) -> tuple[int, int] | None:
        """(lot id, product id) of the patient's latest dispensing of one of these lots."""
        found = self.session.execute(
            select(Dispensing.lot_id, Dispensing.product_id)
            .join(Lot, Lot.id == Dispensing.lot_id)
            .where(Dispensing.patient_id == patient_id,
                   Lot.lot_number.in_(sorted(lot_numbers)))
            .order_by(Dispensing.dispensed_on.desc(), Dispensing.id.desc())
            .limit(1)).one_or_none()
        return None if found is None else (int(found[0]), int(found[1]))

    def physicians_of_record(self, patient_ids: Collection[int]) -> dict[int, User]:
        """Each patient's physician of record: the first active physician linked (later
        links are colleagues taking over, such as the demo's Dora)."""
        found: dict[int, User] = {}
        for patient_id, user in self.session.execute(
                select(CareRelationship.patient_id, User)
                .join(User, CareRelationship.physician_id == User.id)
                .where(CareRelationship.patient_id.in_(sorted(set(patient_ids))),
                       User.role == "physician", User.active)
                .order_by(CareRelationship.id)).all():
            found.setdefault(patient_id, user)
        return found

    def contact(self, patient_id: int) -> PatientContact | None:
        return self.session.get(PatientContact, patient_id)

    def organisation(self, organisation_id: int) -> Organisation | None:
        return self.session.get(Organisation, organisation_id)

    def user(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def recall(self, recall_id: int) -> RecallRow | None:
        return self.session.get(RecallRow, recall_id)


def _reviews() -> Select[CareReview, str, str | None, int | None, int | None]:
    return (select(CareReview, Patient.pseudonym, RecallRow.recall_number,
                   RecallPatientNotice.pharmacy_id, MonitoringPlan.id)
            .join(Patient, Patient.id == CareReview.patient_id)
            .join(RecallRow, RecallRow.id == CareReview.recall_id)
            .outerjoin(RecallPatientNotice, RecallPatientNotice.id == CareReview.notice_id)
            .outerjoin(MonitoringPlan, MonitoringPlan.review_id == CareReview.id))
