"""The signed-in home page: who you are, what your role can do here, where to go."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from medsafe.web import queries
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@dataclass(frozen=True, slots=True)
class RoleGuide:
    who: str
    can: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Link:
    title: str
    href: str
    text: str


MEDICINES = "Read every medicine's facts, each with its source."

# What each role can do in these pages today, stated from the permission rules in
# security/permissions.py. Later issues add their own lines as they add pages.
GUIDES: dict[str, RoleGuide] = {
    "admin": RoleGuide(
        "You administer this medsafe installation.",
        ("See every patient record, with contact details.",
         "Assess treatment options for any patient.", MEDICINES)),
    "regulator": RoleGuide(
        "You oversee medication safety across the market.",
        ("See every patient record, pseudonymously: contact details are never shown to you.",
         "Assess treatment options on any record.", MEDICINES)),
    "manufacturer": RoleGuide(
        "You represent a manufacturer.",
        (MEDICINES,
         "Patient records are never shown to manufacturers.")),
    "pharmacist": RoleGuide(
        "You work at a pharmacy.",
        ("See your pharmacy's patients (in its care or dispensed to by it): their medicines, "
         "conditions, observations, dispensing and contact details.",
         "Assess treatment options for each of them.", MEDICINES)),
    "physician": RoleGuide(
        "You look after your own patients.",
        ("See the patients in your care: their medicines, conditions, observations, "
         "dispensing and contact details.",
         "Assess treatment options for each of them, every finding with its source.",
         MEDICINES)),
    "patient": RoleGuide(
        "This is your own space in medsafe.",
        ("See your own record: your medicines, conditions, observations and contact details.",
         "See how medsafe ranks treatment options for you, to discuss with your physician or "
         "pharmacist. Never stop a medicine on your own: some, such as baclofen, are "
         "dangerous to stop abruptly.",
         MEDICINES)),
}

PATIENT_LIST_ROLES = frozenset({"admin", "regulator", "pharmacist", "physician"})
CASE_INBOX_ROLES = frozenset({"admin", "regulator", "manufacturer"})
CARE_ROLES = frozenset({"admin", "physician", "pharmacist"})
REPORT_LINKS = {
    "patient": Link("Report a side effect", "/report",
                    "Tell us about a problem you think a medicine caused, in your own words."),
    "physician": Link("Report a side effect", "/report",
                      "Report an adverse event: reactions, drugs and lots, your causality "
                      "opinion."),
    "pharmacist": Link("Report a side effect", "/report",
                       "Report an adverse event: reactions, drugs and lots, your causality "
                       "opinion."),
}


def record_path(pseudonym: str) -> str:
    return f"/patients/{quote(pseudonym, safe='')}"


@router.get("/home")
def home(request: Request, caller: SignedIn) -> Response:
    principal = caller.principal
    with container_of(request).uow() as uow:
        me = queries.whoami(uow, principal)
    links: list[Link] = []
    if principal.role in PATIENT_LIST_ROLES:
        links.append(Link("Patients", "/patients", "The patient records you may see, and "
                                                   "their treatment assessments."))
    if me.own_pseudonym is not None:
        links.append(Link("My record", record_path(me.own_pseudonym),
                          "Your medicines, conditions and observations."))
        links.append(Link("My care", "/my-care", "Recall notices about your medicines, "
                                                 "your plan and your symptom and sleep "
                                                 "diary."))
    if principal.role in CARE_ROLES:
        links.append(Link("Care", "/care", "Patients a recall touched: alternatives to "
                                           "decide, monitoring plans, diaries and alerts."))
    if principal.role in REPORT_LINKS:
        links.append(REPORT_LINKS[principal.role])
    if principal.role in CASE_INBOX_ROLES:
        links.append(Link("Case inbox", "/cases", "Adverse-event cases by queue, with their "
                                                  "deadlines and workload."))
    links.append(Link("Medicines", "/drugs", "Every medicine, with its sources."))
    return render(request, "home.html", {"me": me, "guide": GUIDES[principal.role],
                                         "links": links})


@router.get("/my-record")
def my_record(request: Request, caller: SignedIn) -> Response:
    """A patient's own record; everyone else goes home."""
    with container_of(request).uow() as uow:
        me = queries.whoami(uow, caller.principal)
    target = record_path(me.own_pseudonym) if me.own_pseudonym else "/home"
    return RedirectResponse(target, status_code=303)
