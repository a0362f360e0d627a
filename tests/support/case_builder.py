"""Case reports for tests: a valid, serious baclofen case, and small variations."""

from __future__ import annotations

from datetime import date
from typing import Any

from medsafe.cases.model import (
    CaseReport,
    Coded,
    Drug,
    PatientInfo,
    PrimarySource,
    Reaction,
    Seriousness,
)


def reaction(term: str, *, key: str = "r1", serious: bool = True, outcome: str = "recovering",
             start: str = "2026-10-02") -> Reaction:
    return Reaction.model_validate({
        "id": key, "verbatim": term.lower(),
        "coded": Coded(term=term, terminology="MedDRA", version="25.0"),
        "seriousness": Seriousness(hospitalisation=serious), "outcome": outcome,
        "start": start})


def case_report(worldwide_id: str = "US-TEST-0001", *, received: date = date(2026, 10, 5),
                latest: date | None = None, reactions: tuple[Reaction, ...] | None = None,
                product: str = "Baclofen 10 mg", product_id: int | None = None,
                lots: tuple[str, ...] = ("LOT-1",), **changes: Any) -> CaseReport:
    report = CaseReport(
        sender_report_id=f"S-{worldwide_id}", worldwide_id=worldwide_id,
        first_received=received, latest_received=latest or received,
        occurrence_country="US",
        primary_sources=(PrimarySource(given_name="Dora", family_name="Physician",
                                       qualification="physician", country="US",
                                       regulatory=True),),
        patient=PatientInfo(initials="JD", age=54, age_unit="year", sex="female",
                            birth_date="1972-03-01"),
        reactions=reactions or (reaction("Seizure"),),
        drugs=(Drug(id="d1", role="suspect", product_name=product, product_id=product_id,
                    lot_numbers=lots, dose_text="10 mg three times a day", route="oral"),
               Drug(id="d2", role="concomitant", product_name="Metformin 500 mg")),
        narrative="A 54-year-old woman, JD, had a seizure two days after a new pack.")
    return report.model_copy(update=changes) if changes else report
