"""The demo population's synthetic adverse-event reports, as cases.

The generator makes report rows (who, which product and lot, which reaction, when, who
reported); this turns each into an E2B-shaped `CaseReport` and stores it through case
intake like any other report, so the story cluster on two baclofen lots is found by the
same queries as real cases. Every such case is marked synthetic, and its narrative says
so first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select

from medsafe.cases.intake import ImportTally, Receipt, store_reports
from medsafe.cases.model import (
    CaseReport,
    Coded,
    Drug,
    PatientInfo,
    PrimarySource,
    Qualification,
    Reaction,
    Seriousness,
)
from medsafe.knowledge.catalog import Catalog
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import Lot, Patient, Product
from medsafe.store.uow import UnitOfWork

REPORT_COLUMNS = ("number", "patient_id", "product_id", "lot_id", "ingredient_id",
                  "reaction", "preferred_term", "serious", "onset_on", "received_on",
                  "reporter", "narrative")
"""The generator's report rows, in this order."""
QUALIFICATIONS: dict[str, Qualification] = {
    "patient": "consumer", "physician": "physician", "pharmacist": "pharmacist"}
TERMINOLOGY = "medsafe lay lexicon -> FAERS preferred term"


def worldwide_id(seed: int, number: int) -> str:
    return f"US-MEDSAFE-SYN{seed}-{number:06d}"


def store_synthetic_reports(uow: UnitOfWork, catalog: Catalog, seed: int,
                            rows: Sequence[Sequence[Any]]) -> ImportTally:
    """Store the generator's report rows as cases (not committed: the caller's load is
    one transaction)."""
    if not rows:
        return ImportTally()
    patients = _patients(uow, {row[1] for row in rows})
    products = _products(uow, {row[2] for row in rows})
    lots = _lots(uow, {row[3] for row in rows})
    reports = [_report(seed, row, patients[row[1]], products[row[2]], lots[row[3]])
               for row in rows]
    receipt = Receipt(source="population", synthetic=True,
                      patients={r.worldwide_id: row[1] for r, row in
                                zip(reports, rows, strict=True)})
    return store_reports(uow, SYSTEM, catalog, reports, receipt)


def _report(seed: int, row: Sequence[Any], patient: tuple[date | None, str | None],
            product: tuple[str, str | None], lot_number: str) -> CaseReport:
    (number, _, product_id, _, ingredient_id, lay, term, serious, onset, received,
     reporter, narrative) = row
    birth, sex = patient
    age = None if birth is None else (received - birth).days // 365
    name, strength = product
    reaction = Reaction(
        id="r1", verbatim=lay, coded=Coded(term=term, terminology=TERMINOLOGY),
        start=onset.isoformat(), seriousness=Seriousness(other_medically_important=serious))
    drug = Drug(id="d1", role="suspect", product_name=name, ingredient_id=ingredient_id,
                product_id=product_id, lot_numbers=(lot_number,),
                dose_text=f"{strength} tablets" if strength else None, route="oral")
    return CaseReport(
        sender_report_id=f"SYN{seed}-{number:06d}", worldwide_id=worldwide_id(seed, number),
        first_received=received, latest_received=received, occurrence_country="US",
        primary_sources=(PrimarySource(qualification=QUALIFICATIONS[reporter], country="US",
                                       regulatory=True),),
        patient=PatientInfo(age=age, age_unit="year" if age is not None else None,
                            sex="female" if sex == "female" else "male" if sex == "male"
                            else None),
        reactions=(reaction,), drugs=(drug,), narrative=narrative)


def _patients(uow: UnitOfWork, ids: set[int]) -> dict[int, tuple[date | None, str | None]]:
    rows = uow.session.execute(select(Patient.id, Patient.birth_date, Patient.sex)
                               .where(Patient.id.in_(ids))).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def _products(uow: UnitOfWork, ids: set[int]) -> dict[int, tuple[str, str | None]]:
    rows = uow.session.execute(select(Product.id, Product.name, Product.strength)
                               .where(Product.id.in_(ids))).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def _lots(uow: UnitOfWork, ids: set[int]) -> dict[int, str]:
    rows = uow.session.execute(select(Lot.id, Lot.lot_number).where(Lot.id.in_(ids))).all()
    return {row[0]: row[1] for row in rows}
