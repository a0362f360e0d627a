"""Patient pages: the list a caller may see, one record, and the treatment assessment.

Thin: each page calls the records services (`medsafe.records.patients`,
`medsafe.supply.dispensing`), which enforce who sees what. A patient the caller may not
see is a 404 page, worded as if it did not exist; contact details are asked for only
when the caller's role may see them.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from medsafe.assessment.engine import Option
from medsafe.knowledge.model import Source
from medsafe.records import patients as records
from medsafe.security.permissions import sees_contacts
from medsafe.security.principal import Principal
from medsafe.supply import dispensing
from medsafe.web import queries
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
RECENT_DISPENSINGS = 20
Pseudonym = Annotated[str, Path(min_length=1, max_length=40,
                                pattern=records.PSEUDONYM_PATTERN)]


def today() -> date:
    return datetime.now(UTC).date()


def age(birth_date: date | None, birth_year: int | None = None) -> str:
    """Age in years; 'born 1970' when only the year may be shown (regulators)."""
    if birth_date is None:
        return f"born {birth_year}" if birth_year else "—"
    day = today()
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return str(day.year - birth_date.year - before_birthday)


def scope(principal: Principal, organisation: str | None) -> str:
    """What the list holds, in the words of the permission rules."""
    return {
        "admin": "All patients, with contact details.",
        "regulator": "All patients, pseudonymous: contact details and birth dates are not "
                     "shown to regulators.",
        "pharmacist": f"Patients of {organisation or 'your pharmacy'}: in its care or "
                      "dispensed to by it.",
        "physician": "The patients in your care.",
        "patient": "Your own record.",
    }.get(principal.role, "")


@router.get("/patients")
def patient_list(request: Request, caller: SignedIn,
                 page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    container = container_of(request)
    size = min(PAGE_SIZE, container.settings.page_size_max)
    with container.uow() as uow:
        lines, total = records.list_patients(uow, caller.principal,
                                             offset=(page - 1) * size, limit=size)
        me = queries.whoami(uow, caller.principal)
    first = (page - 1) * size + 1
    return render(request, "patients.html", {
        "lines": lines, "total": total, "page": page,
        "pages": max(1, math.ceil(total / size)), "first": first,
        "last": first + len(lines) - 1, "age": age,
        "scope": scope(caller.principal, me.organisation),
    })


@router.get("/patients/{pseudonym}")
def patient_page(request: Request, caller: SignedIn, pseudonym: Pseudonym) -> Response:
    container = container_of(request)
    principal = caller.principal
    with container.uow() as uow:
        detail = records.read_patient(uow, principal, pseudonym)
        contacts = (records.read_contacts(uow, principal, pseudonym)
                    if sees_contacts(principal) else None)
        dispensed, dispensed_total = dispensing.list_dispensings(
            uow, principal, patient=pseudonym, limit=RECENT_DISPENSINGS)
    return render(request, "patient.html", {
        "p": detail, "age": age, "catalog": container.catalog,
        "contacts": contacts, "may_see_contacts": sees_contacts(principal),
        "dispensed": dispensed, "dispensed_total": dispensed_total,
    })


def dose_source(option: Option) -> Source | None:
    """The cited regimen a dose plan was drawn from, so the page can cite it in full."""
    dose = option.dose
    if dose is None:
        return None
    for regimen in option.candidate.ingredient.dosing:
        if (regimen.route, regimen.use, regimen.start) == (dose.route, dose.use, dose.start):
            return regimen.source
    return None


@router.get("/patients/{pseudonym}/assess")
def assessment_page(request: Request, caller: SignedIn, pseudonym: Pseudonym) -> Response:
    container = container_of(request)
    catalog = container.catalog
    day = today()
    with container.uow() as uow:
        detail = records.read_patient(uow, caller.principal, pseudonym)
        result = records.assess_patient(uow, caller.principal, catalog, pseudonym, today=day)
    return render(request, "assess.html", {
        "p": detail, "assessment": result, "ctx": result.context, "catalog": catalog,
        "today": day, "dose_source": dose_source,
    })
