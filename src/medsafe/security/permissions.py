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
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true

from medsafe.security.principal import Principal
from medsafe.store.schema import (
    CareRelationship,
    Case,
    CaseDrug,
    Dispensing,
    Lot,
    Patient,
    Product,
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
