"""Object-level rules: who may see which record. Enforced in the services (never only in
routes), and a record the caller may not see is reported as not found, so its existence
does not leak.

- admin: every record, with identities.
- regulator: every record, pseudonymous (no contact details).
- manufacturer: its own products, lots and their stock; no patients, no dispensing.
- pharmacist: its pharmacy's patients (care relationship or dispensing), stock and
  dispensing, with contact details.
- physician: its own patients (care relationship) and their dispensing, with contacts.
- patient: itself, its dispensing, its contacts.

Signals (statistics over the whole case store) are for admins and regulators, and for a
manufacturer those about its own products: its ingredients, products and lots.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from medsafe.security.principal import Principal
from medsafe.store.repositories.signals import AXES, lot_label
from medsafe.store.schema import (
    CareRelationship,
    Case,
    CaseDrug,
    Dispensing,
    Lot,
    Patient,
    Product,
    Signal,
    Stock,
)


def visible_patients(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on `Patient` selecting the patients this principal may see."""
    if principal.role in ("admin", "regulator"):
        return true()
    if principal.role == "patient":
        return Patient.id == principal.patient_id if principal.patient_id else false()
    if principal.role == "physician":
        return Patient.id.in_(select(CareRelationship.patient_id)
                              .where(CareRelationship.physician_id == principal.user_id))
    if principal.role == "pharmacist" and principal.organisation_id is not None:
        return or_(
            Patient.id.in_(select(CareRelationship.patient_id)
                           .where(CareRelationship.pharmacy_id == principal.organisation_id)),
            Patient.id.in_(select(Dispensing.patient_id)
                           .where(Dispensing.pharmacy_id == principal.organisation_id)),
        )
    return false()


def sees_contacts(principal: Principal) -> bool:
    """Contacts are shown only to the patient and their own carers (and admins); callers
    must also have passed `visible_patients` for that patient."""
    return principal.role in ("admin", "patient", "physician", "pharmacist")


def visible_products(principal: Principal) -> ColumnElement[bool]:
    if principal.role == "manufacturer":
        if principal.organisation_id is None:
            return false()
        return Product.manufacturer_id == principal.organisation_id
    return true()


def visible_stock(principal: Principal) -> ColumnElement[bool]:
    if principal.role in ("admin", "regulator"):
        return true()
    if principal.role == "pharmacist" and principal.organisation_id is not None:
        return Stock.pharmacy_id == principal.organisation_id
    if principal.role == "manufacturer" and principal.organisation_id is not None:
        return Stock.lot_id.in_(select(Lot.id).join(Product, Product.id == Lot.product_id)
                                .where(Product.manufacturer_id == principal.organisation_id))
    return false()


def visible_dispensings(principal: Principal) -> ColumnElement[bool]:
    if principal.role in ("admin", "regulator"):
        return true()
    if principal.role == "pharmacist" and principal.organisation_id is not None:
        return Dispensing.pharmacy_id == principal.organisation_id
    if principal.role == "physician":
        return Dispensing.patient_id.in_(select(CareRelationship.patient_id)
                                         .where(CareRelationship.physician_id
                                                == principal.user_id))
    if principal.role == "patient" and principal.patient_id is not None:
        return Dispensing.patient_id == principal.patient_id
    return false()


def visible_cases(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on `Case`: admins and regulators see every case; everyone the cases
    they reported; a manufacturer also the cases naming one of its products as a suspect
    (de-identified by the service); clinicians and patients also the cases about the
    patients they may see."""
    if principal.role in ("admin", "regulator"):
        return true()
    mine = Case.reported_by_id == principal.user_id
    if principal.role == "manufacturer":
        if principal.organisation_id is None:
            return mine
        return or_(mine, Case.id.in_(
            select(CaseDrug.case_id).join(Product, Product.id == CaseDrug.product_id)
            .where(Product.manufacturer_id == principal.organisation_id,
                   CaseDrug.role.in_(("suspect", "interacting")))))
    return or_(mine, Case.patient_id.in_(select(Patient.id).where(visible_patients(principal))))


def visible_signals(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on `Signal`: every signal for admins and regulators; for a
    manufacturer the signals whose drug is one of its ingredients, products or lots, on
    that axis. Other roles see none (the service refuses them first)."""
    if principal.role in ("admin", "regulator"):
        return true()
    if principal.role != "manufacturer" or principal.organisation_id is None:
        return false()
    return or_(*(and_(Signal.axis == axis, Signal.drug.in_(made_by(principal, axis)))
                 for axis in AXES))


def visible_pair_drugs(principal: Principal, axis: str,
                       drug: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """The same rule for the pairs of a run on `axis`, on their `drug` column."""
    if principal.role in ("admin", "regulator"):
        return true()
    if principal.role != "manufacturer" or principal.organisation_id is None \
            or axis not in AXES:
        return false()
    return drug.in_(made_by(principal, axis))


def made_by(principal: Principal, axis: str) -> Select[str]:
    """The names, on `axis`, of what a manufacturer makes (as `store.repositories.signals`
    names drugs)."""
    own = Product.manufacturer_id == principal.organisation_id
    if axis == "ingredient":
        return select(Product.ingredient_id).where(own)
    if axis == "product":
        return select(Product.name).where(own)
    return (select(lot_label(Product.name, Lot.lot_number))
            .join(Lot, Lot.product_id == Product.id).where(own))
