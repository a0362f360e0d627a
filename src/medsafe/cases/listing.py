"""Periodic line listings: one CSV row per case about a product or ingredient first
received in a period (ICH E2C(R2) and 21 CFR 314.80(c)(2) ask for such listings in
periodic reports). Nullified and merged cases are left out; each case appears with its
current version. De-identified like every case view for whoever may not see identities.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlalchemy import select

from medsafe.cases.model import CaseReport
from medsafe.cases.service import READERS, de_identified, sees_identities
from medsafe.errors import Invalid
from medsafe.records import require_role
from medsafe.security.permissions import visible_cases
from medsafe.security.principal import Principal
from medsafe.store.schema import Case, CaseDrug, CaseVersion
from medsafe.store.uow import UnitOfWork

COLUMNS = ("case_id", "worldwide_id", "version", "first_received", "latest_received",
           "report_type", "qualification", "country", "age", "sex", "reactions",
           "serious", "criteria", "outcomes", "suspect_drugs", "lots", "concomitant_drugs",
           "status", "expedited", "due_on")


def line_listing(uow: UnitOfWork, principal: Principal, *, start: date, end: date,
                 ingredient_id: str | None = None, product_id: int | None = None) -> str:
    """The CSV text (with a header row) of the cases first received from `start` to
    `end` inclusive, about `ingredient_id` or `product_id` as a suspect."""
    require_role(principal, READERS, "see line listings")
    if end < start:
        raise Invalid(f"the period ends ({end}) before it starts ({start})", where="end")
    drug = select(CaseDrug.case_id).where(CaseDrug.role.in_(("suspect", "interacting")))
    if ingredient_id is not None:
        drug = drug.where(CaseDrug.ingredient_id == ingredient_id)
    if product_id is not None:
        drug = drug.where(CaseDrug.product_id == product_id)
    rows = uow.session.execute(
        select(Case, CaseVersion.payload)
        .join(CaseVersion, (CaseVersion.case_id == Case.id)
              & (CaseVersion.version == Case.version))
        .where(visible_cases(principal), Case.id.in_(drug), Case.nullified.is_(False),
               Case.merged_into_id.is_(None), Case.first_received >= start,
               Case.first_received <= end)
        .order_by(Case.first_received, Case.id)).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for case, payload in rows:
        report = CaseReport.model_validate_json(payload)
        if not sees_identities(principal, case):
            report = de_identified(report)
        writer.writerow(_row(case, report))
    return out.getvalue()


def _row(case: Case, report: CaseReport) -> list[object]:
    age = report.patient.age_in_years()
    return [
        case.id, case.worldwide_id, case.version, case.first_received.isoformat(),
        case.latest_received.isoformat(), report.report_type, case.qualification,
        report.occurrence_country or "", f"{age:.0f}" if age is not None else "",
        report.patient.sex or "", "; ".join(r.term for r in report.reactions),
        "yes" if case.serious else "no",
        "; ".join(sorted({c for r in report.reactions for c in r.seriousness.criteria()})),
        "; ".join(r.outcome for r in report.reactions),
        "; ".join(d.product_name for d in report.suspects),
        "; ".join(lot for d in report.suspects for lot in d.lot_numbers),
        "; ".join(d.product_name for d in report.drugs if d.role == "concomitant"),
        case.status, "yes" if case.expedited else "no",
        case.due_on.isoformat() if case.due_on else "",
    ]
