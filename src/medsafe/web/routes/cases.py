"""Case pages: report a side effect, the case inbox, one case, and its workflow steps.

- `/report`: patients report in plain words (`report.html`); health professionals, and
  the safety staff taking a report down, use the fuller form (`report_clinician.html`,
  also at `/report?form=clinician`). A form with mistakes comes back with them listed and
  what was typed kept (422); a received report shows its worldwide case id.
- `/cases?queue=…`: the inbox, one tab per queue with its count, paged like the patient
  list; managers (admin, regulator, manufacturer) see the workload per status on top.
- `/cases/{id}`: one case: summary, patient, reactions, drugs, causality, narrative,
  expectedness, versions, submissions, the audit trail for the roles that may read it,
  and a button per workflow step the caller may take (`POST /cases/{id}/steps/{step}`).

Thin: the forms are `medsafe.cases.forms`, everything else `medsafe.cases.service`, which
decides who sees what (a case the caller may not see is a 404) and de-identifies.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import date
from itertools import zip_longest
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from medsafe.cases import forms, service
from medsafe.cases.intake import form_worldwide_id
from medsafe.cases.model import CaseReport
from medsafe.cases.rules import seriousness_criteria
from medsafe.cases.service import SAFETY_TEAM, CaseDetail
from medsafe.cases.terminology import LAY_LEXICON, LayLexicon, terminology_registry
from medsafe.cases.workflow import TRANSITIONS, is_locked
from medsafe.errors import Invalid, KnowledgeError
from medsafe.records import AUDIT_READERS, AuditEventView, list_audit_events, now, require_role
from medsafe.records import patients as records
from medsafe.security.principal import Principal
from medsafe.web import queries
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
SUBMISSION = re.compile(r"[A-Za-z0-9_-]{16,64}")
AUDIT_SHOWN = 100
REACTION_ROWS = 3
DRUG_ROWS = 3
FORM_TEXT = 25_000
"""Longest value any one form field may carry; the form models bound each field exactly."""

CLINICIAN_FORM_ROLES = ("admin", "regulator", "manufacturer", "pharmacist", "physician")
TABS: tuple[str, ...] = ("new", "invalid", "serious", "due_soon", "overdue", "all",
                         "external")
"""Every queue of `service.QUEUES`, in the order a safety team works them."""
QueueName = Literal["all", "new", "invalid", "serious", "due_soon", "overdue", "external"]
StepName = Literal["accept", "start_review", "return", "approve", "submit"]
FormKind = Literal["patient", "clinician"]
CaseRef = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$",
                              description="medsafe's case id or the worldwide case id")]
Text = Annotated[str, Form(max_length=FORM_TEXT)]
Many = Annotated[list[str] | None, Form()]


# -- words for the pages -----------------------------------------------------------------

QUEUE_LABEL = {"new": "New", "invalid": "Invalid", "serious": "Serious",
               "due_soon": "Due soon", "overdue": "Overdue", "all": "All",
               "external": "National databases"}
STATUS = {"triage": "Triage", "data_entry": "Data entry", "medical_review": "Medical review",
          "ready_to_submit": "Ready to submit", "submitted": "Submitted",
          "external": "External (national database)"}
STEP = {"accept": "Accept for data entry", "start_review": "Start medical review",
        "return": "Return to data entry", "approve": "Approve for submission",
        "submit": "Mark as submitted"}
CRITERION = {"death": "Death", "life_threatening": "Life-threatening",
             "hospitalisation": "Hospitalisation (caused or prolonged)",
             "disability": "Persistent or significant disability",
             "congenital_anomaly": "Congenital anomaly",
             "other_medically_important": "Other medically important condition",
             "required_intervention": "Required intervention (FDA)"}
OUTCOME = {"recovered": "Recovered", "recovering": "Recovering",
           "not_recovered": "Not recovered", "recovered_with_sequelae":
           "Recovered with sequelae", "fatal": "Fatal", "unknown": "Unknown"}
QUALIFICATION = {"physician": "Physician", "pharmacist": "Pharmacist",
                 "other_health_professional": "Other health professional",
                 "lawyer": "Lawyer", "consumer": "Consumer or patient"}
ROLE = {"suspect": "Suspect", "concomitant": "Concomitant", "interacting": "Interacting",
        "not_administered": "Not administered"}
ACTION = {"withdrawn": "Withdrawn", "dose_reduced": "Dose reduced",
          "dose_increased": "Dose increased", "dose_not_changed": "Dose not changed",
          "unknown": "Unknown", "not_applicable": "Not applicable"}
CHALLENGE = {"positive": "Positive", "negative": "Negative", "unknown": "Unknown",
             "not_applicable": "Not applicable"}
AGE_UNIT = {"year": "years", "month": "months", "week": "weeks", "day": "days",
            "hour": "hours", "decade": "decades"}
SEX = {"female": "Female", "male": "Male", "unknown": "Unknown"}
WORDS = {"queue": QUEUE_LABEL, "status": STATUS, "step": STEP, "criterion": CRITERION,
         "outcome": OUTCOME, "qualification": QUALIFICATION, "role": ROLE,
         "action": ACTION, "challenge": CHALLENGE, "age_unit": AGE_UNIT, "sex": SEX,
         "causality": forms.CAUSALITY}

PATIENT_FIELDS = {"medicine": "Which medicine", "lot": "Lot number",
                  "what_happened": "What happened", "side_effects": "Side effects",
                  "started_on": "When it started", "how_it_ended": "How it is now",
                  "age": "Age", "sex": "Sex", "country": "Country"}
CLINICIAN_FIELDS = {"qualification": "Your qualification", "country": "Country",
                    "initials": "Patient initials", "age": "Age", "age_unit": "Age unit",
                    "sex": "Sex", "weight_kg": "Weight", "reactions": "Reaction",
                    "drugs": "Drug", "narrative": "Narrative", "causality": "Causality",
                    "term": "term", "onset": "onset", "outcome": "outcome",
                    "seriousness": "seriousness", "role": "role", "name": "name",
                    "lot": "lot", "dose": "dose", "route": "route",
                    "action_taken": "action taken", "dechallenge": "dechallenge",
                    "rechallenge": "rechallenge"}


def today() -> date:
    return now().date()


def lay_lexicon() -> LayLexicon:
    found = terminology_registry.get(LAY_LEXICON)
    if not isinstance(found, LayLexicon):
        raise KnowledgeError(f"the terminology registered as {LAY_LEXICON!r} is not the lay "
                             "lexicon")
    return found


def problems_of(error: ValidationError | Invalid, labels: Mapping[str, str]) -> list[str]:
    """A form's mistakes in words: "Age: Input should be less than or equal to 130",
    "Reaction 2 onset: …"."""
    if isinstance(error, Invalid):
        return [f"{_where(str(error.where or ''), labels)}: {error.reason}"]
    found = []
    for item in error.errors():
        where = _where(".".join(str(part) for part in item["loc"]), labels)
        message = str(item["msg"]).removeprefix("Value error, ")
        found.append(f"{where}: {message}" if where else message)
    return found


def _where(path: str, labels: Mapping[str, str]) -> str:
    """`reactions.1.onset` or `reactions[1].onset` as "Reaction 2 onset"."""
    words = []
    for part in path.replace("[", ".").replace("]", "").split("."):
        if part.isdigit():
            words.append(str(int(part) + 1))
        elif part:
            words.append(labels.get(part, part))
    return " ".join(words)


def _optional(text: str) -> str | None:
    return text.strip() or None


def _number(text: str, kind: type[int] | type[float]) -> int | float | str | None:
    """A number typed into a form; text that is not one is passed on as text, for the form
    model to refuse with its own message."""
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        return text


# -- reporting ---------------------------------------------------------------------------

def _patient_defaults(request: Request, principal: Principal) -> dict[str, Any]:
    """A blank patient form; a signed-in patient's age and sex come from their record."""
    values: dict[str, Any] = {"medicine": "", "lot": "", "what_happened": "",
                              "side_effects": [], "started_on": "", "how_it_ended": "unknown",
                              "went_to_hospital": False, "life_threatening": False,
                              "disability": False, "age": "", "sex": "", "country": "US"}
    if principal.role != "patient":
        return values
    with container_of(request).uow() as uow:
        me = queries.whoami(uow, principal)
        if me.own_pseudonym is None:
            return values
        record = records.read_patient(uow, principal, me.own_pseudonym)
    if record.birth_date is not None:
        day = today()
        born = record.birth_date
        values["age"] = str(day.year - born.year - ((day.month, day.day)
                                                    < (born.month, born.day)))
    if record.sex in ("female", "male"):
        values["sex"] = record.sex
    return values


def _clinician_defaults(principal: Principal) -> dict[str, Any]:
    qualification = principal.role if principal.role in ("physician", "pharmacist") else ""
    return {"qualification": qualification, "country": "US", "initials": "", "age": "",
            "age_unit": "year", "sex": "", "weight_kg": "", "narrative": "",
            "causality": "", "reactions": [], "drugs": []}


def _patient_page(request: Request, values: Mapping[str, Any], *,
                  problems: Sequence[str] = (), status: int = 200) -> Response:
    return render(request, "report.html", {
        "values": {**values, "submission": values.get("submission") or new_submission()},
        "problems": problems, "choices": forms.SIDE_EFFECT_CHOICES,
        "how_it_ended": forms.HOW_IT_ENDED, "today": today(), "received": None,
    }, status=status)


def _clinician_page(request: Request, values: Mapping[str, Any], *,
                    problems: Sequence[str] = (), status: int = 200) -> Response:
    reactions = list(values["reactions"])
    reactions += [{"term": "", "onset": "", "outcome": "unknown", "seriousness": []}] * max(
        0, REACTION_ROWS - len(reactions))
    drugs = list(values["drugs"])
    while len(drugs) < DRUG_ROWS:
        # The first drug is usually the suspect, the others taken alongside it.
        drugs.append({"role": "concomitant" if drugs else "suspect", "name": "", "lot": "",
                      "dose": "", "route": "", "action_taken": "", "dechallenge": "",
                      "rechallenge": ""})
    return render(request, "report_clinician.html", {
        "values": {**values, "submission": values.get("submission") or new_submission()},
        "reaction_rows": reactions, "drug_rows": drugs,
        "problems": problems, "criteria": forms.CRITERIA, "words": WORDS,
        "today": today(), "received": None,
    }, status=status)


@router.get("/report")
def report_form(request: Request, caller: SignedIn,
                form: Annotated[FormKind | None, Query()] = None) -> Response:
    principal = caller.principal
    kind = form or ("patient" if principal.role == "patient" else "clinician")
    if kind == "clinician":
        require_role(principal, CLINICIAN_FORM_ROLES, "use the health professional's form")
        return _clinician_page(request, _clinician_defaults(principal))
    return _patient_page(request, _patient_defaults(request, principal))


def new_submission() -> str:
    """A one-time token for a form: the worldwide id of what it reports is derived from it."""
    return secrets.token_urlsafe(18)


def _worldwide_id(request: Request, principal: Principal, submission: str,
                  country: str) -> str | None:
    if not SUBMISSION.fullmatch(submission):
        return None  # an old or tampered form: a fresh id, as if no token were sent
    return form_worldwide_id(container_of(request).settings.secret_key, principal.user_id,
                             submission, country)


def _received(request: Request, principal: Principal, case: CaseReport,
              template: str) -> Response:
    container = container_of(request)
    with container.uow() as uow:
        stored = service.report_case(uow, principal, container.catalog, case, source="form",
                                        region=container.settings.case_region)
    return render(request, template, {"received": stored, "case": case, "words": WORDS})


@router.post("/report")
def submit_patient_report(
        request: Request, caller: SignedIn, medicine: Text = "", lot: Text = "",
        what_happened: Text = "", side_effects: Many = None, started_on: Text = "",
        how_it_ended: Text = "unknown", went_to_hospital: Text = "",
        life_threatening: Text = "", disability: Text = "", age: Text = "", sex: Text = "",
        country: Text = "US", submission: Text = "") -> Response:
    """The patient's plain-language form."""
    values: dict[str, Any] = {
        "submission": submission,
        "medicine": medicine, "lot": lot, "what_happened": what_happened,
        "side_effects": list(side_effects or []), "started_on": started_on,
        "how_it_ended": how_it_ended, "went_to_hospital": bool(went_to_hospital),
        "life_threatening": bool(life_threatening), "disability": bool(disability),
        "age": age, "sex": sex, "country": country}
    try:
        report = forms.PatientReport.model_validate({
            "medicine": medicine.strip(), "lot": _optional(lot),
            "what_happened": _optional(what_happened),
            "side_effects": values["side_effects"],
            "started_on": _optional(started_on), "how_it_ended": how_it_ended,
            "went_to_hospital": values["went_to_hospital"],
            "life_threatening": values["life_threatening"],
            "disability": values["disability"], "age": _number(age, int),
            "sex": _optional(sex), "country": country.strip().upper() or "US"})
        case = forms.patient_case(report, lay_lexicon(), today=today(),
                                  worldwide_id=_worldwide_id(request, caller.principal,
                                                             submission, report.country))
    except (ValidationError, Invalid) as error:
        return _patient_page(request, values, problems=problems_of(error, PATIENT_FIELDS),
                             status=422)
    return _received(request, caller.principal, case, "report.html")


@router.post("/report/clinician")
def submit_clinician_report(
        request: Request, caller: SignedIn, qualification: Text = "", country: Text = "US",
        initials: Text = "", age: Text = "", age_unit: Text = "year", sex: Text = "",
        weight_kg: Text = "", narrative: Text = "", causality: Text = "",
        reaction_term: Many = None, reaction_onset: Many = None,
        reaction_outcome: Many = None, reaction_serious: Many = None,
        drug_role: Many = None, drug_name: Many = None, drug_lot: Many = None,
        drug_dose: Many = None, drug_route: Many = None, drug_action: Many = None,
        drug_dechallenge: Many = None, drug_rechallenge: Many = None,
        submission: Text = "") -> Response:
    """The health professional's form: reactions and drugs come as parallel lists, one
    entry per row; a seriousness box sends "row:criterion"."""
    require_role(caller.principal, CLINICIAN_FORM_ROLES, "use the health professional's form")
    serious, bad_boxes = _boxes(reaction_serious or [])
    reactions = _rows(("term", "onset", "outcome"),
                      (reaction_term, reaction_onset, reaction_outcome),
                      blank=("term", "onset"))
    for position, row in reactions:
        row["seriousness"] = serious.pop(position, [])
    bad_boxes += [f"Seriousness: ticked on reaction row {position + 1}, which names no "
                  "reaction" for position in sorted(serious)]
    drugs = _rows(("role", "name", "lot", "dose", "route", "action_taken", "dechallenge",
                   "rechallenge"),
                  (drug_role, drug_name, drug_lot, drug_dose, drug_route, drug_action,
                   drug_dechallenge, drug_rechallenge),
                  blank=("name", "lot", "dose", "route"))
    values: dict[str, Any] = {
        "submission": submission, "qualification": qualification, "country": country,
        "initials": initials,
        "age": age, "age_unit": age_unit, "sex": sex, "weight_kg": weight_kg,
        "narrative": narrative, "causality": causality,
        "reactions": [row for _, row in reactions], "drugs": [row for _, row in drugs]}
    try:
        report = forms.ClinicianReport.model_validate({
            "qualification": qualification, "country": country.strip().upper() or "US",
            "initials": _optional(initials), "age": _number(age, int), "age_unit": age_unit,
            "sex": _optional(sex), "weight_kg": _number(weight_kg, float),
            "narrative": _optional(narrative), "causality": _optional(causality),
            "reactions": [{"term": row["term"].strip(), "onset": _optional(row["onset"]),
                           "outcome": row["outcome"] or "unknown",
                           "seriousness": row["seriousness"]} for _, row in reactions],
            "drugs": [{key: (value.strip() if key in ("name", "role")
                             else _optional(value)) for key, value in row.items()}
                      for _, row in drugs]})
        case = forms.clinician_case(report, lay_lexicon(), today=today(),
                                    worldwide_id=_worldwide_id(request, caller.principal,
                                                               submission, report.country))
    except (ValidationError, Invalid) as error:
        problems = [*bad_boxes, *problems_of(error, CLINICIAN_FIELDS)]
        return _clinician_page(request, values, problems=problems, status=422)
    if bad_boxes:
        return _clinician_page(request, values, problems=bad_boxes, status=422)
    return _received(request, caller.principal, case, "report_clinician.html")


def _rows(keys: Sequence[str], columns: Sequence[list[str] | None], *,
          blank: Sequence[str]) -> list[tuple[int, dict[str, Any]]]:
    """The form's rows as dicts, with their position on the form; rows left empty are
    dropped (the form always offers a few spare ones)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for position, cells in enumerate(zip_longest(*(column or [] for column in columns),
                                                 fillvalue="")):
        row: dict[str, Any] = dict(zip(keys, cells, strict=True))
        if any(str(row[key]).strip() for key in blank):
            rows.append((position, row))
    return rows


def _boxes(values: Sequence[str]) -> tuple[dict[int, list[str]], list[str]]:
    """Seriousness boxes, "row:criterion", by row; a box that names no row is a mistake
    to report, never to drop."""
    by_row: dict[int, list[str]] = {}
    bad: list[str] = []
    for value in values:
        row, _, criterion = value.partition(":")
        if not row.isdigit() or not criterion:
            bad.append(f"Seriousness: {value!r} names no reaction row")
            continue
        by_row.setdefault(int(row), []).append(criterion)
    return by_row, bad


# -- the inbox ---------------------------------------------------------------------------

@router.get("/cases")
def inbox(request: Request, caller: SignedIn, queue: Annotated[QueueName, Query()] = "all",
          page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    container = container_of(request)
    principal = caller.principal
    size = min(PAGE_SIZE, container.settings.page_size_max)
    day = today()
    with container.uow() as uow:
        cases, total = service.list_cases(uow, principal, queue=queue, today=day,
                                          offset=(page - 1) * size, limit=size)
        counts = {tab: total if tab == queue else
                  service.list_cases(uow, principal, queue=tab, today=day, limit=0)[1]
                  for tab in TABS}
        load = (service.workload(uow, principal, today=day)
                if principal.role in service.MANAGERS else None)
    first = (page - 1) * size + 1
    return render(request, "cases.html", {
        "cases": cases, "total": total, "page": page, "queue": queue, "tabs": TABS,
        "counts": counts, "workload": load, "pages": max(1, math.ceil(total / size)),
        "first": first, "last": first + len(cases) - 1, "today": day, "words": WORDS,
        "due_soon_days": service.DUE_SOON_DAYS,
        "reviews_duplicates": principal.role in SAFETY_TEAM,
    })


# -- one case ----------------------------------------------------------------------------

def steps_for(principal: Principal, detail: CaseDetail) -> list[tuple[str, str | None]]:
    """The workflow steps the caller may take now, each with why it is not possible yet
    (None when it is). The service decides again when a step is taken."""
    case = detail.case
    if (principal.role not in SAFETY_TEAM or case.status == "external"
            or case.merged_into is not None):
        return []
    if (is_locked(case.status) and principal.role != "admin"
            and detail.locked_by not in (None, principal.username)):
        return []
    return [(step, "fix the case's validity problems first"
             if transition.needs_valid and not case.valid else None)
            for step, transition in TRANSITIONS.items() if transition.source == case.status]


@router.get("/cases/{reference}")
def case_page(request: Request, caller: SignedIn, reference: CaseRef) -> Response:
    container = container_of(request)
    principal = caller.principal
    with container.uow() as uow:
        detail = service.read_case(uow, principal, container.catalog, reference)
        trail: list[AuditEventView] | None = None
        trail_total = 0
        if principal.role in AUDIT_READERS:
            trail, trail_total = list_audit_events(uow, principal, entity="case",
                                                   entity_id=str(detail.case.id),
                                                   limit=AUDIT_SHOWN)
    report = detail.report
    return render(request, "case.html", {
        "d": detail, "c": detail.case, "r": report, "words": WORDS, "today": today(),
        "drugs": {drug.id: drug for drug in report.drugs},
        "reactions": {reaction.id: reaction for reaction in report.reactions},
        "criteria": seriousness_criteria(report),
        "steps": steps_for(principal, detail), "trail": trail, "trail_total": trail_total,
        "withheld": service.WITHHELD,
    })


@router.post("/cases/{reference}/steps/{step}")
def take_step(request: Request, caller: SignedIn, reference: CaseRef,
              step: Annotated[StepName, Path()],
              reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """One workflow step (its CSRF token was checked by the route before this runs)."""
    with container_of(request).uow() as uow:
        moved = service.advance(uow, caller.principal, reference, step,
                                reason=_optional(reason))
    return RedirectResponse(f"/cases/{moved.id}", status_code=303)
