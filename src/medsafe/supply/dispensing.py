"""Dispensing: a pharmacist hands a patient units of one lot from its pharmacy's stock.

The dispensing record, the stock decrement and the audit event are one transaction: a
dispensing either happened completely or not at all. These records answer the recall
question "which patients received lot X?" through the (lot_id, patient_id) index.

A lot under an open recall is refused (`recalls.lot_check`: a recall or correction not yet
completed or terminated), with a Conflict naming the recall and the lot. The pharmacist may
dispense it anyway by giving `override_reason`; the override is its own audit event
(`dispensing.recall_override`, with the recalls and the reason).

Who sees dispensings: administrators and regulators all (regulators by pseudonym only,
as everywhere), a pharmacist its pharmacy's, a physician its patients', a patient its
own. Manufacturers never see who received what (403).
"""

from __future__ import annotations

from datetime import date

from pydantic import Field
from sqlalchemy import Row

from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.recalls.lot_check import covering_recalls, named, ndc_code
from medsafe.records import Day, Input, View, check_day, now, require_role, visible_patient
from medsafe.security import audit
from medsafe.security.permissions import visible_dispensings, visible_products
from medsafe.security.principal import Principal
from medsafe.store.schema import Dispensing, Lot, Organisation, Patient, Product
from medsafe.store.uow import UnitOfWork
from medsafe.supply.products import visible_lot

DISPENSERS = ("pharmacist",)
READERS = ("admin", "regulator", "pharmacist", "physician", "patient")
MAX_UNITS = 100_000


class NewDispensing(Input):
    patient: str = Field(min_length=1, max_length=40, description="the patient's pseudonym")
    lot_id: int = Field(ge=1, le=2**31 - 1)
    product_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                   description="if given, the lot must be of this product")
    quantity: int = Field(ge=1, le=MAX_UNITS)
    dispensed_on: Day | None = Field(default=None, description="default: today")
    prescription_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    override_reason: str | None = Field(
        default=None, min_length=1, max_length=1000,
        description="dispense a lot under an open recall anyway, and why (audited)")


class DispensingView(View):
    id: int
    patient: str
    product_id: int
    product_code: str
    product_name: str
    lot_id: int
    lot_number: str
    quantity: int
    dispensed_on: date
    pharmacy_id: int
    pharmacy_name: str
    prescriber: str | None
    prescription_id: int | None


class RecipientView(View):
    pseudonym: str
    synthetic: bool


def record_dispensing(uow: UnitOfWork, principal: Principal,
                      new: NewDispensing) -> DispensingView:
    require_role(principal, DISPENSERS, "dispense")
    pharmacy_id = principal.organisation_id
    if pharmacy_id is None:
        raise Forbidden("this pharmacist account belongs to no pharmacy")
    patient = visible_patient(uow, principal, new.patient)
    lot, product = visible_lot(uow, principal, new.lot_id)
    if new.product_id is not None and new.product_id != product.id:
        raise Invalid(f"lot {lot.id} is a lot of product {product.id}, not of product "
                      f"{new.product_id}", where="lot_id")
    day = new.dispensed_on or now().date()
    check_day(day, "dispensed_on")
    if lot.expiry is not None and lot.expiry < day:
        raise Invalid(f"lot {lot.lot_number} expired on {lot.expiry.isoformat()}",
                      where="lot_id")
    maker = uow.organisations.get(product.manufacturer_id)
    recalls = covering_recalls(uow, ndc_code(product.code_system, product.code),
                               lot.lot_number, lot.expiry,
                               None if maker is None else maker.name)
    if recalls and new.override_reason is None:
        raise Conflict(f"lot {lot.lot_number} of {product.name} is under {named(recalls)}: do "
                       "not dispense it; quarantine it. A pharmacist who must dispense it "
                       "gives override_reason, which is audited")
    prescriber_id = None
    if new.prescription_id is not None:
        prescriber_id = _prescriber(uow, new.prescription_id, patient.id, product)
    stock = uow.stock.for_update(pharmacy_id, lot.id)
    on_hand = stock.quantity if stock is not None else 0
    if stock is None or stock.quantity < new.quantity:
        raise Conflict(f"quantity: the pharmacy holds {on_hand} units of lot "
                       f"{lot.lot_number}, fewer than {new.quantity}")
    stock.quantity -= new.quantity
    stock.updated_at = now()
    row = uow.dispensings.add(Dispensing(
        patient_id=patient.id, product_id=product.id, lot_id=lot.id, quantity=new.quantity,
        dispensed_on=day, pharmacy_id=pharmacy_id, prescriber_id=prescriber_id,
        prescription_id=new.prescription_id))
    audit.record(uow, principal, "dispensing.create", "dispensing", row.id, {
        "patient": patient.pseudonym, "product_id": product.id, "lot_id": lot.id,
        "quantity": new.quantity, "dispensed_on": day, "pharmacy_id": pharmacy_id,
        "prescription_id": new.prescription_id, "stock": [on_hand, stock.quantity]})
    if recalls:
        audit.record(uow, principal, "dispensing.recall_override", "dispensing", row.id, {
            "lot_id": lot.id, "lot_number": lot.lot_number, "patient": patient.pseudonym,
            "recalls": [r.recall_number for r in recalls]}, reason=new.override_reason)
    view = _read(uow, principal, row.id)
    uow.created.append(view)
    uow.commit()
    return view


def _prescriber(uow: UnitOfWork, prescription_id: int, patient_id: int,
                product: Product) -> int:
    prescription = uow.prescriptions.get(prescription_id)
    if prescription is None or prescription.patient_id != patient_id:
        raise Invalid(f"no prescription {prescription_id} for this patient",
                      where="prescription_id")
    if prescription.status != "active":
        raise Invalid(f"prescription {prescription_id} is {prescription.status}",
                      where="prescription_id")
    if prescription.ingredient_id != product.ingredient_id:
        raise Invalid(f"prescription {prescription_id} is for {prescription.ingredient_id}, "
                      f"the lot is {product.ingredient_id}", where="prescription_id")
    return prescription.prescriber_id


def _view(found: Row[Dispensing, Patient, Product, Lot, Organisation, str | None]
          ) -> DispensingView:
    row, patient, product, lot, pharmacy, prescriber = (
        found[0], found[1], found[2], found[3], found[4], found[5])
    return DispensingView(id=row.id, patient=patient.pseudonym, product_id=product.id,
                          product_code=product.code, product_name=product.name, lot_id=lot.id,
                          lot_number=lot.lot_number, quantity=row.quantity,
                          dispensed_on=row.dispensed_on, pharmacy_id=pharmacy.id,
                          pharmacy_name=pharmacy.name, prescriber=prescriber,
                          prescription_id=row.prescription_id)


def _read(uow: UnitOfWork, principal: Principal, dispensing_id: int) -> DispensingView:
    found = uow.dispensings.get_visible(dispensing_id, visible_dispensings(principal))
    if found is None:
        raise NotFound(f"no dispensing {dispensing_id}")
    return _view(found)


def read_dispensing(uow: UnitOfWork, principal: Principal,
                    dispensing_id: int) -> DispensingView:
    require_role(principal, READERS, "see dispensing records")
    return _read(uow, principal, dispensing_id)


def list_dispensings(uow: UnitOfWork, principal: Principal, *, patient: str | None = None,
                     lot_id: int | None = None, since: date | None = None,
                     until: date | None = None, offset: int = 0, limit: int = 50
                     ) -> tuple[list[DispensingView], int]:
    """Newest first."""
    require_role(principal, READERS, "see dispensing records")
    rows, total = uow.dispensings.list_visible(
        visible_dispensings(principal), patient=patient, lot_id=lot_id, since=since,
        until=until, offset=offset, limit=limit)
    return [_view(row) for row in rows], total


def lot_recipients(uow: UnitOfWork, principal: Principal, *, lot_id: int | None = None,
                   product_code: str | None = None, lot_number: str | None = None,
                   offset: int = 0, limit: int = 50) -> tuple[list[RecipientView], int]:
    """The distinct patients who received a lot (by id, or by product code and lot
    number), that the caller may see; pseudonyms only, ordered for stable pages."""
    require_role(principal, READERS, "see who received a lot")
    lots = _lots(uow, principal, lot_id, product_code, lot_number)
    patients, total = uow.dispensings.recipients(lots, visible_dispensings(principal),
                                                 offset=offset, limit=limit)
    return [RecipientView(pseudonym=p, synthetic=s) for p, s in patients], total


def _lots(uow: UnitOfWork, principal: Principal, lot_id: int | None,
          product_code: str | None, lot_number: str | None) -> list[int]:
    if lot_id is not None:
        if product_code is not None or lot_number is not None:
            raise Invalid("give either lot_id or product_code with lot_number", where="lot_id")
        return [visible_lot(uow, principal, lot_id)[0].id]
    if product_code is None or lot_number is None:
        raise Invalid("give lot_id, or product_code together with lot_number",
                      where="lot_number" if product_code else "product_code")
    # A code may exist in two code systems (an NDC and an 'other' code alike): every
    # matching lot counts.
    found = uow.products.visible_lot_ids(product_code, lot_number,
                                         visible_products(principal))
    if not found:
        raise NotFound(f"no lot '{lot_number}' of a product with code '{product_code}'")
    return found
