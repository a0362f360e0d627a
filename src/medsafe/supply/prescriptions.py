"""Prescriptions: a physician prescribes an ingredient of the knowledge base (optionally a
specific product) for one of its own patients, and stops it with a reason.

Active prescriptions are part of the patient's current medicines when the engine
assesses a stored patient. Who sees prescriptions: whoever sees the patient
(manufacturers never: 403).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import Field

from medsafe.errors import Invalid, InvalidTransition, NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.records import Day, Input, View, check_day, now, require_role, visible_patient
from medsafe.security import audit
from medsafe.security.permissions import visible_patients
from medsafe.security.principal import Principal
from medsafe.store.schema import Prescription
from medsafe.store.uow import UnitOfWork
from medsafe.supply.products import visible_product

PRESCRIBERS = ("physician",)
READERS = ("admin", "regulator", "pharmacist", "physician", "patient")
# A prescription may be written ahead of its start, but not for a distant future.
MAX_START_AHEAD = timedelta(days=366)


class NewPrescription(Input):
    patient: str = Field(min_length=1, max_length=40, description="the patient's pseudonym")
    ingredient: str = Field(min_length=1, max_length=80,
                            description="ingredient id, name or brand in the knowledge base")
    product_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    dose_text: str = Field(min_length=1, max_length=200)
    start_date: Day | None = Field(default=None, description="default: today")


class StopPrescription(Input):
    reason: str = Field(min_length=1, max_length=1000)


class PrescriptionView(View):
    id: int
    patient: str
    prescriber: str
    ingredient_id: str
    ingredient_name: str
    product_id: int | None
    dose_text: str
    status: Literal["active", "stopped", "completed"]
    start_date: date
    end_date: date | None
    reason: str | None


def prescribe(uow: UnitOfWork, principal: Principal, catalog: Catalog,
              new: NewPrescription) -> PrescriptionView:
    require_role(principal, PRESCRIBERS, "prescribe")
    patient = visible_patient(uow, principal, new.patient)
    try:
        ingredient = catalog.ingredient(new.ingredient)
    except NotFound:
        raise Invalid(f"'{new.ingredient}' is not an ingredient in the knowledge base",
                      where="ingredient") from None
    if new.product_id is not None:
        product = visible_product(uow, principal, new.product_id)
        if product.ingredient_id != ingredient.id:
            raise Invalid(f"product {product.id} contains {product.ingredient_id}, not "
                          f"{ingredient.id}", where="product_id")
    today = now().date()
    start = new.start_date or today
    check_day(start, "start_date", not_after=today + MAX_START_AHEAD)
    row = uow.prescriptions.add(Prescription(
        patient_id=patient.id, prescriber_id=principal.user_id, ingredient_id=ingredient.id,
        product_id=new.product_id, dose_text=new.dose_text, status="active",
        start_date=start))
    audit.record(uow, principal, "prescription.create", "prescription", row.id, {
        "patient": patient.pseudonym, "ingredient_id": ingredient.id,
        "product_id": new.product_id, "dose_text": new.dose_text, "start_date": start})
    view = _view(catalog, row, patient.pseudonym, principal.username)
    uow.created.append(view)
    uow.commit()
    return view


def stop_prescription(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                      prescription_id: int, stop: StopPrescription) -> PrescriptionView:
    """Stop an active prescription; the reason is required and kept."""
    require_role(principal, PRESCRIBERS, "stop prescriptions")
    row, pseudonym, prescriber = _find(uow, principal, prescription_id)
    if row.status != "active":
        raise InvalidTransition(f"prescription {prescription_id} is {row.status}, not active")
    row.status = "stopped"
    row.end_date = now().date()
    row.reason = stop.reason
    audit.record(uow, principal, "prescription.stop", "prescription", row.id,
                 {"patient": pseudonym, "status": ["active", "stopped"],
                  "end_date": [None, row.end_date]}, reason=stop.reason)
    view = _view(catalog, row, pseudonym, prescriber)
    uow.commit()
    return view


def read_prescription(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                      prescription_id: int) -> PrescriptionView:
    require_role(principal, READERS, "see prescriptions")
    return _view(catalog, *_find(uow, principal, prescription_id))


def list_prescriptions(uow: UnitOfWork, principal: Principal, catalog: Catalog, *,
                       patient: str | None = None, status: str | None = None,
                       offset: int = 0, limit: int = 50
                       ) -> tuple[list[PrescriptionView], int]:
    """Newest first, for the patients the caller may see."""
    require_role(principal, READERS, "see prescriptions")
    rows, total = uow.prescriptions.list_visible(
        visible_patients(principal), patient=patient, status=status, offset=offset,
        limit=limit)
    return [_view(catalog, row[0], row[1], row[2]) for row in rows], total


def _find(uow: UnitOfWork, principal: Principal,
          prescription_id: int) -> tuple[Prescription, str, str]:
    found = uow.prescriptions.get_visible(prescription_id, visible_patients(principal))
    if found is None:
        raise NotFound(f"no prescription {prescription_id}")
    return found


def _view(catalog: Catalog, row: Prescription, pseudonym: str,
          prescriber: str) -> PrescriptionView:
    ingredient = catalog.ingredients.get(row.ingredient_id)
    status: Literal["active", "stopped", "completed"] = (
        "active" if row.status == "active" else "completed" if row.status == "completed"
        else "stopped")
    return PrescriptionView(id=row.id, patient=pseudonym, prescriber=prescriber,
                            ingredient_id=row.ingredient_id,
                            ingredient_name=ingredient.name if ingredient else row.ingredient_id,
                            product_id=row.product_id, dose_text=row.dose_text, status=status,
                            start_date=row.start_date, end_date=row.end_date,
                            reason=row.reason)
