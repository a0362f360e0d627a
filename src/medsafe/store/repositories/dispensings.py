"""Dispensings, and the recall question "which patients received lot X?"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import ColumnElement, Row, Select, select
from sqlalchemy.orm import aliased

from medsafe.store.repositories.base import Repository, count
from medsafe.store.schema import Dispensing, Lot, Organisation, Patient, Product, User

Joined = Row[Dispensing, Patient, Product, Lot, Organisation, str | None]
"""A dispensing with its patient, product, lot, pharmacy and prescriber's username."""


class DispensingRepository(Repository):
    def get_visible(self, dispensing_id: int, visible: ColumnElement[bool]) -> Joined | None:
        return self.session.execute(_joined().where(
            Dispensing.id == dispensing_id, visible)).first()

    def list_visible(self, visible: ColumnElement[bool], *, patient: str | None,
                     lot_id: int | None, since: date | None, until: date | None,
                     offset: int, limit: int) -> tuple[Sequence[Joined], int]:
        """Newest first."""
        query = _joined().where(visible)
        if patient is not None:
            query = query.where(Patient.pseudonym == patient)
        if lot_id is not None:
            query = query.where(Dispensing.lot_id == lot_id)
        if since is not None:
            query = query.where(Dispensing.dispensed_on >= since)
        if until is not None:
            query = query.where(Dispensing.dispensed_on <= until)
        return self._page(query, (Dispensing.dispensed_on.desc(), Dispensing.id.desc()),
                          offset, limit)

    def recipients(self, lot_ids: list[int], visible: ColumnElement[bool], *, offset: int,
                   limit: int) -> tuple[list[tuple[str, bool]], int]:
        """The distinct patients (pseudonym, synthetic) who received any of the lots,
        ordered for stable pages.

        DISTINCT patient_id WHERE lot_id = ? is answered from the (lot_id, patient_id)
        index; only the page's patients are then read."""
        ids = (select(Dispensing.patient_id)
               .where(Dispensing.lot_id.in_(lot_ids), visible)
               .distinct())
        total = count(self.session, ids)
        page = self.session.execute(ids.order_by(Dispensing.patient_id).offset(offset)
                                    .limit(limit)).scalars().all()
        if not page:
            return [], total
        patients = self.session.execute(
            select(Patient.pseudonym, Patient.synthetic).where(Patient.id.in_(page))
            .order_by(Patient.id)).all()
        return [(pseudonym, synthetic) for pseudonym, synthetic in patients], total


def _joined() -> Select[Dispensing, Patient, Product, Lot, Organisation, str | None]:
    prescriber = aliased(User)
    return (select(Dispensing, Patient, Product, Lot, Organisation, prescriber.username)
            .join(Patient, Patient.id == Dispensing.patient_id)
            .join(Product, Product.id == Dispensing.product_id)
            .join(Lot, Lot.id == Dispensing.lot_id)
            .join(Organisation, Organisation.id == Dispensing.pharmacy_id)
            .outerjoin(prescriber, prescriber.id == Dispensing.prescriber_id))
