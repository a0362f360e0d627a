"""Patients: registration, the clinical record the assessment engine needs, contact
details kept apart, and the care relationships that decide who sees whom.

Who may do what (a role outside the list gets 403; a patient the caller may not see is a
404, whatever the action):

| action                                  | roles                                      |
|-----------------------------------------|--------------------------------------------|
| list / read a patient, assess it        | admin regulator pharmacist physician patient |
| register a patient                      | admin pharmacist physician                 |
| read / update contact details           | admin pharmacist physician patient         |
| conditions, observations                | admin physician                            |
| allergies                               | admin physician pharmacist                 |
| medicines taken (self-reported too)     | admin physician pharmacist patient         |
| preferences and pregnancy               | admin physician pharmacist patient         |
| care team (link a physician or pharmacy)| admin physician                            |

Regulators and manufacturers never see contact details: that is a 403 by role, decided
before any lookup, so it reveals nothing about the patient. Manufacturers see no patients.
Regulators see clinical data pseudonymously: the birth year, never the birth date.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import Field, StringConstraints

from medsafe.assessment.engine import Assessment, assess
from medsafe.assessment.patient import (
    AllergyEntry,
    Coding,
    Concept,
    ConditionEntry,
    LabKind,
    LabResult,
    MedicationEntry,
    PatientRecord,
    Preferences,
    implausibility,
)
from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.records import (
    Day,
    Input,
    View,
    aware,
    check_day,
    now,
    require_role,
    visible_patient,
)
from medsafe.security import audit
from medsafe.security.permissions import sees_contacts, visible_patients
from medsafe.security.principal import Principal
from medsafe.store.schema import (
    CareRelationship,
    Organisation,
    Patient,
    PatientAllergy,
    PatientCondition,
    PatientContact,
    PatientMedication,
    PatientObservation,
    User,
)
from medsafe.store.uow import UnitOfWork

READERS = ("admin", "regulator", "pharmacist", "physician", "patient")
REGISTRARS = ("admin", "pharmacist", "physician")
CONDITION_WRITERS = ("admin", "physician")
OBSERVATION_WRITERS = ("admin", "physician")
ALLERGY_WRITERS = ("admin", "physician", "pharmacist")
MEDICATION_WRITERS = ("admin", "physician", "pharmacist", "patient")
PREFERENCE_WRITERS = ("admin", "physician", "pharmacist", "patient")
CARE_WRITERS = ("admin", "physician")

# Crockford's base32 without I, L, O, U: pseudonyms are read aloud and typed by hand.
PSEUDONYM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PSEUDONYM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"

Sex = Literal["female", "male", "other", "unknown"]
SeverityText = Literal["mild", "moderate", "severe"]
Route = Literal["oral", "injection"]
ObservationKind = Literal["egfr", "crcl", "creatinine", "alt", "ast", "bilirubin", "child-pugh"]
V = TypeVar("V", bound=View)
LAB_KINDS: dict[str, LabKind] = {kind: kind for kind in get_args(LabKind)}
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,39}$")]
SideEffect = Annotated[str, StringConstraints(min_length=1, max_length=80)]


# -- inputs -----------------------------------------------------------------------------------

class ContactDetails(Input):
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254,
                              pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 ()./-]{2,38}$")
    address: str | None = Field(default=None, min_length=1, max_length=1000)


class NewPatient(Input):
    birth_date: Day | None = None
    sex: Sex | None = None
    synthetic: bool = False
    pregnant: bool | None = None
    contact: ContactDetails | None = None


class NewCondition(Input):
    text: Text200
    code_system: Literal["snomed", "icd10", "other"] | None = None
    code: Code | None = None
    severity: SeverityText | None = None


class NewAllergy(Input):
    text: Text200
    code_system: Literal["rxnorm", "snomed", "other"] | None = None
    code: Code | None = None
    reaction: str | None = Field(default=None, min_length=1, max_length=200)


class NewObservation(Input):
    kind: ObservationKind
    value: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    unit: str | None = Field(default=None, min_length=1, max_length=30)
    upper_limit: float | None = Field(default=None, gt=0, le=100_000, allow_inf_nan=False)
    category: str | None = Field(default=None, pattern=r"^[A-Ca-c]$",
                                 description="Child-Pugh class A, B or C")
    observed_on: Day


class NewMedication(Input):
    text: Text200
    rxnorm: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")


class PreferenceSettings(Input):
    route: Route | None = None
    avoid_side_effects: list[SideEffect] = Field(default_factory=list, max_length=20)
    symptom_severity: SeverityText | None = None
    pregnant: bool | None = None


class NewCareLink(Input):
    physician: str | None = Field(default=None, min_length=1, max_length=80,
                                  description="username of a physician")
    pharmacy_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


# -- views ------------------------------------------------------------------------------------

class ContactView(View):
    pseudonym: str
    full_name: str | None
    email: str | None
    phone: str | None
    address: str | None


class ConditionView(View):
    id: int
    text: str
    code_system: str | None
    code: str | None
    severity: str | None
    active: bool


class AllergyView(View):
    id: int
    text: str
    code_system: str | None
    code: str | None
    reaction: str | None


class ObservationView(View):
    id: int
    kind: str
    value: float | None
    unit: str | None
    upper_limit: float | None
    category: str | None
    observed_on: date


class MedicationView(View):
    id: int
    text: str
    rxnorm: str | None
    active: bool


class PreferencesView(View):
    route: str | None
    avoid_side_effects: list[str]
    symptom_severity: str | None
    pregnant: bool | None


class ActivePrescriptionView(View):
    id: int
    ingredient_id: str
    product_id: int | None
    dose_text: str
    start_date: date
    prescriber: str


class CareLinkView(View):
    id: int
    physician: str | None
    physician_name: str | None
    pharmacy_id: int | None
    pharmacy_name: str | None


class PatientSummary(View):
    pseudonym: str
    birth_year: int | None
    birth_date: date | None = Field(description="null for callers who do not see "
                                                "identities (regulators)")
    sex: str | None
    synthetic: bool
    conditions: list[str]


class PatientDetail(View):
    pseudonym: str
    birth_year: int | None
    birth_date: date | None
    sex: str | None
    synthetic: bool
    created_at: datetime
    preferences: PreferencesView
    conditions: list[ConditionView]
    allergies: list[AllergyView]
    observations: list[ObservationView]
    medications: list[MedicationView]
    prescriptions: list[ActivePrescriptionView]
    care_team: list[CareLinkView]


# -- registering and reading -----------------------------------------------------------------

def register_patient(uow: UnitOfWork, principal: Principal, new: NewPatient) -> PatientDetail:
    """A new patient with a fresh pseudonym. A physician or pharmacist who registers a
    patient becomes part of its care team, or they could not see what they created."""
    require_role(principal, REGISTRARS, "register patients")
    if principal.role == "pharmacist" and principal.organisation_id is None:
        raise Forbidden("this pharmacist account belongs to no pharmacy")
    if new.birth_date is not None:
        check_day(new.birth_date, "birth_date")
    patient = Patient(pseudonym=_new_pseudonym(uow), birth_date=new.birth_date, sex=new.sex,
                      pregnant=new.pregnant, avoid_side_effects=[], synthetic=new.synthetic,
                      created_at=now())
    uow.patients.add(patient)
    if principal.role == "physician":
        uow.patients.add(CareRelationship(patient_id=patient.id,
                                          physician_id=principal.user_id), flush=False)
    elif principal.role == "pharmacist":
        uow.patients.add(CareRelationship(patient_id=patient.id,
                                          pharmacy_id=principal.organisation_id), flush=False)
    if new.contact is not None:
        uow.patients.add(PatientContact(patient_id=patient.id, **new.contact.model_dump()),
                         flush=False)
    audit.record(uow, principal, "patient.register", "patient", patient.pseudonym, {
        "birth_year": new.birth_date.year if new.birth_date else None, "sex": new.sex,
        "synthetic": new.synthetic, "pregnant": new.pregnant,
        "contact": sorted(k for k, v in (new.contact or ContactDetails()).model_dump().items()
                          if v is not None),
    })
    view = _detail(uow, principal, patient)
    uow.created.append(view)
    uow.commit()
    return view


def _new_pseudonym(uow: UnitOfWork) -> str:
    while True:
        candidate = "PT-" + "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(10))
        if not uow.patients.pseudonym_taken(candidate):
            return candidate


def read_patient(uow: UnitOfWork, principal: Principal, pseudonym: str) -> PatientDetail:
    require_role(principal, READERS, "read patient records")
    return _detail(uow, principal, visible_patient(uow, principal, pseudonym))


def list_patients(uow: UnitOfWork, principal: Principal, *, pseudonym: str | None = None,
                  condition: str | None = None, offset: int = 0, limit: int = 50
                  ) -> tuple[list[PatientSummary], int]:
    """The patients the caller may see, oldest registration first; `pseudonym` and
    `condition` match any part of the text, ignoring case."""
    require_role(principal, READERS, "list patients")
    patients, total = uow.patients.list_visible(
        visible_patients(principal), pseudonym=pseudonym, condition=condition,
        offset=offset, limit=limit)
    # One query for the whole page, not one per patient.
    conditions = uow.patients.active_condition_texts([p.id for p in patients])
    summaries = [
        PatientSummary(pseudonym=p.pseudonym,
                       birth_year=p.birth_date.year if p.birth_date else None,
                       birth_date=p.birth_date if principal.sees_identities else None,
                       sex=p.sex, synthetic=p.synthetic, conditions=conditions[p.id])
        for p in patients
    ]
    return summaries, total


def _detail(uow: UnitOfWork, principal: Principal, patient: Patient) -> PatientDetail:
    records = uow.patients
    conditions = records.active_conditions(patient.id)
    allergies = records.allergies(patient.id)
    observations = records.observations(patient.id)
    medications = records.active_medications(patient.id)
    prescriptions = uow.prescriptions.active_for_patient(patient.id)
    return PatientDetail(
        pseudonym=patient.pseudonym,
        birth_year=patient.birth_date.year if patient.birth_date else None,
        birth_date=patient.birth_date if principal.sees_identities else None,
        sex=patient.sex,
        synthetic=patient.synthetic,
        created_at=aware(patient.created_at),
        preferences=_preferences(patient),
        conditions=[_condition_view(c) for c in conditions],
        allergies=[_allergy_view(a) for a in allergies],
        observations=[_observation_view(o) for o in observations],
        medications=[_medication_view(m) for m in medications],
        prescriptions=[
            ActivePrescriptionView(id=p.id, ingredient_id=p.ingredient_id,
                                   product_id=p.product_id, dose_text=p.dose_text,
                                   start_date=p.start_date, prescriber=username)
            for p, username in prescriptions
        ],
        care_team=_care_team(uow, patient.id),
    )


def _preferences(patient: Patient) -> PreferencesView:
    return PreferencesView(route=patient.preferred_route,
                           avoid_side_effects=list(patient.avoid_side_effects or []),
                           symptom_severity=patient.symptom_severity, pregnant=patient.pregnant)


def _condition_view(row: PatientCondition) -> ConditionView:
    return ConditionView(id=row.id, text=row.text, code_system=row.code_system, code=row.code,
                         severity=row.severity, active=row.active)


def _allergy_view(row: PatientAllergy) -> AllergyView:
    return AllergyView(id=row.id, text=row.text, code_system=row.code_system, code=row.code,
                       reaction=row.reaction)


def _observation_view(row: PatientObservation) -> ObservationView:
    return ObservationView(id=row.id, kind=row.kind, value=row.value, unit=row.unit,
                           upper_limit=row.upper_limit, category=row.category,
                           observed_on=row.observed_on)


def _medication_view(row: PatientMedication) -> MedicationView:
    return MedicationView(id=row.id, text=row.text, rxnorm=row.rxnorm, active=row.active)


def _care_team(uow: UnitOfWork, patient_id: int) -> list[CareLinkView]:
    rows = uow.patients.care_team(patient_id)
    return [_care_view(link, username, name, pharmacy) for link, username, name, pharmacy in rows]


def _care_view(link: CareRelationship, username: str | None, name: str | None,
               pharmacy: str | None) -> CareLinkView:
    return CareLinkView(id=link.id, physician=username, physician_name=name,
                        pharmacy_id=link.pharmacy_id, pharmacy_name=pharmacy)


# -- contact details ---------------------------------------------------------------------------

def _contact_reader(principal: Principal) -> None:
    # Refused by role before any lookup, so the 403 says nothing about the patient.
    if not sees_contacts(principal):
        raise Forbidden(f"a {principal.role} never sees patients' contact details")


def read_contacts(uow: UnitOfWork, principal: Principal, pseudonym: str) -> ContactView:
    _contact_reader(principal)
    patient = visible_patient(uow, principal, pseudonym)
    row = uow.patients.contact(patient.id)
    return _contact_view(patient.pseudonym, row)


def update_contacts(uow: UnitOfWork, principal: Principal, pseudonym: str,
                    details: ContactDetails) -> ContactView:
    """Replace the contact details. The audit event names the changed fields with masked
    before/after values: the trail is append-only and readable by regulators, so clear
    contact details must never enter it."""
    _contact_reader(principal)
    patient = visible_patient(uow, principal, pseudonym)
    row = uow.patients.contact(patient.id)
    before = _contact_fields(row)
    if row is None:
        row = uow.patients.add(PatientContact(patient_id=patient.id), flush=False)
    after = details.model_dump()
    for name, value in after.items():
        setattr(row, name, value)
    changed = {name: [_mask(name, before[name]), _mask(name, after[name])]
               for name in after if before[name] != after[name]}
    audit.record(uow, principal, "patient.contacts.update", "patient_contact",
                 patient.pseudonym, changed)
    view = _contact_view(patient.pseudonym, row)
    uow.commit()
    return view


def _contact_fields(row: PatientContact | None) -> dict[str, str | None]:
    if row is None:
        return dict.fromkeys(("full_name", "email", "phone", "address"))
    return {"full_name": row.full_name, "email": row.email, "phone": row.phone,
            "address": row.address}


def _contact_view(pseudonym: str, row: PatientContact | None) -> ContactView:
    return ContactView(pseudonym=pseudonym, **_contact_fields(row))


def _mask(field: str, value: str | None) -> str | None:
    """Enough to tell values apart in a review, too little to contact anyone."""
    if value is None:
        return None
    if field == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if field == "phone":
        return "***" + "".join(ch for ch in value if ch.isdigit())[-2:]
    if field == "full_name":
        return " ".join(f"{word[:1]}." for word in value.split())
    return "***"


# -- clinical data -----------------------------------------------------------------------------

def add_condition(uow: UnitOfWork, principal: Principal, pseudonym: str,
                  new: NewCondition) -> ConditionView:
    require_role(principal, CONDITION_WRITERS, "record conditions")
    patient = visible_patient(uow, principal, pseudonym)
    _coded(new.code_system, new.code)
    row = PatientCondition(patient_id=patient.id, text=new.text, code_system=new.code_system,
                           code=new.code, severity=new.severity, active=True)
    uow.patients.add(row)
    audit.record(uow, principal, "patient.condition.add", "patient_condition", row.id,
                 {"patient": patient.pseudonym, **new.model_dump()})
    return _created(uow, _condition_view(row))


def remove_condition(uow: UnitOfWork, principal: Principal, pseudonym: str,
                     condition_id: int, reason: str | None = None) -> None:
    """Marks the condition inactive: the history stays, the engine stops seeing it."""
    require_role(principal, CONDITION_WRITERS, "record conditions")
    patient = visible_patient(uow, principal, pseudonym)
    row = uow.patients.active_condition(patient.id, condition_id)
    if row is None:
        raise NotFound(f"patient '{pseudonym}' has no active condition {condition_id}")
    row.active = False
    audit.record(uow, principal, "patient.condition.remove", "patient_condition", row.id,
                 {"patient": patient.pseudonym, "text": row.text, "active": [True, False]},
                 reason=reason)
    uow.commit()


def add_allergy(uow: UnitOfWork, principal: Principal, pseudonym: str,
                new: NewAllergy) -> AllergyView:
    require_role(principal, ALLERGY_WRITERS, "record allergies")
    patient = visible_patient(uow, principal, pseudonym)
    _coded(new.code_system, new.code)
    row = PatientAllergy(patient_id=patient.id, text=new.text, code_system=new.code_system,
                         code=new.code, reaction=new.reaction)
    uow.patients.add(row)
    audit.record(uow, principal, "patient.allergy.add", "patient_allergy", row.id,
                 {"patient": patient.pseudonym, **new.model_dump()})
    return _created(uow, _allergy_view(row))


def remove_allergy(uow: UnitOfWork, principal: Principal, pseudonym: str, allergy_id: int,
                   reason: str | None = None) -> None:
    require_role(principal, ALLERGY_WRITERS, "record allergies")
    patient = visible_patient(uow, principal, pseudonym)
    row = uow.patients.allergy(patient.id, allergy_id)
    if row is None:
        raise NotFound(f"patient '{pseudonym}' has no allergy {allergy_id}")
    before = _allergy_view(row).model_dump(exclude={"id"})
    uow.patients.delete(row)
    audit.record(uow, principal, "patient.allergy.remove", "patient_allergy", allergy_id,
                 {"patient": patient.pseudonym, **audit.diff(before, {})}, reason=reason)
    uow.commit()


def add_observation(uow: UnitOfWork, principal: Principal, pseudonym: str,
                    new: NewObservation) -> ObservationView:
    """A measurement, checked as the FHIR reader checks one: a value must be plausible
    for its kind (eGFR 0–250 mL/min/1.73m², …), a Child-Pugh result is a class."""
    require_role(principal, OBSERVATION_WRITERS, "record observations")
    patient = visible_patient(uow, principal, pseudonym)
    check_day(new.observed_on, "observed_on")
    kind: LabKind = new.kind
    category: str | None = None
    if kind == "child-pugh":
        if new.category is None:
            raise Invalid("a Child-Pugh observation needs its class A, B or C",
                          where="category")
        if new.value is not None:
            raise Invalid("give the Child-Pugh class in 'category', not a score",
                          where="value")
        category = new.category.upper()
    else:
        if new.value is None:
            raise Invalid(f"a {kind} observation needs a value", where="value")
        if new.category is not None:
            raise Invalid(f"a {kind} observation has a value, not a category",
                          where="category")
        problem = implausibility(kind, new.value)
        if problem is not None:
            raise Invalid(problem, where="value")
    row = PatientObservation(patient_id=patient.id, kind=kind, value=new.value, unit=new.unit,
                             upper_limit=new.upper_limit, category=category,
                             observed_on=new.observed_on)
    uow.patients.add(row)
    audit.record(uow, principal, "patient.observation.add", "patient_observation", row.id,
                 {"patient": patient.pseudonym, **new.model_dump(), "category": category})
    return _created(uow, _observation_view(row))


def remove_observation(uow: UnitOfWork, principal: Principal, pseudonym: str,
                       observation_id: int, reason: str | None = None) -> None:
    """Deletes an observation entered in error (the audit event keeps what it was)."""
    require_role(principal, OBSERVATION_WRITERS, "record observations")
    patient = visible_patient(uow, principal, pseudonym)
    row = uow.patients.observation(patient.id, observation_id)
    if row is None:
        raise NotFound(f"patient '{pseudonym}' has no observation {observation_id}")
    before = _observation_view(row).model_dump(exclude={"id"})
    uow.patients.delete(row)
    audit.record(uow, principal, "patient.observation.remove", "patient_observation",
                 observation_id, {"patient": patient.pseudonym, **audit.diff(before, {})},
                 reason=reason)
    uow.commit()


def add_medication(uow: UnitOfWork, principal: Principal, pseudonym: str,
                   new: NewMedication) -> MedicationView:
    """A medicine the patient takes that medsafe did not prescribe (other prescribers,
    over the counter); patients may record their own."""
    require_role(principal, MEDICATION_WRITERS, "record medicines")
    patient = visible_patient(uow, principal, pseudonym)
    row = PatientMedication(patient_id=patient.id, text=new.text, rxnorm=new.rxnorm,
                            active=True)
    uow.patients.add(row)
    audit.record(uow, principal, "patient.medication.add", "patient_medication", row.id,
                 {"patient": patient.pseudonym, **new.model_dump()})
    return _created(uow, _medication_view(row))


def remove_medication(uow: UnitOfWork, principal: Principal, pseudonym: str,
                      medication_id: int, reason: str | None = None) -> None:
    require_role(principal, MEDICATION_WRITERS, "record medicines")
    patient = visible_patient(uow, principal, pseudonym)
    row = uow.patients.active_medication(patient.id, medication_id)
    if row is None:
        raise NotFound(f"patient '{pseudonym}' has no current medicine {medication_id}")
    row.active = False
    audit.record(uow, principal, "patient.medication.remove", "patient_medication", row.id,
                 {"patient": patient.pseudonym, "text": row.text, "active": [True, False]},
                 reason=reason)
    uow.commit()


def set_preferences(uow: UnitOfWork, principal: Principal, pseudonym: str,
                    settings: PreferenceSettings) -> PreferencesView:
    """Replace the patient's preferences (route, side effects to avoid, how bad the
    symptoms are) and pregnancy status, all of which the engine weighs."""
    require_role(principal, PREFERENCE_WRITERS, "set preferences")
    patient = visible_patient(uow, principal, pseudonym)
    before = _preferences(patient).model_dump()
    avoid = sorted({s.casefold() for s in settings.avoid_side_effects})
    patient.preferred_route = settings.route
    patient.avoid_side_effects = avoid
    patient.symptom_severity = settings.symptom_severity
    patient.pregnant = settings.pregnant
    view = _preferences(patient)
    audit.record(uow, principal, "patient.preferences.set", "patient", patient.pseudonym,
                 audit.diff(before, view.model_dump()))
    uow.commit()
    return view


def _coded(system: str | None, code: str | None) -> None:
    if (system is None) != (code is None):
        raise Invalid("give a code together with its code_system, or neither",
                      where="code" if code is None else "code_system")


def _created(uow: UnitOfWork, view: V) -> V:
    """Hand a created record's view to the caller (and the idempotency helper), commit."""
    uow.created.append(view)
    uow.commit()
    return view


# -- the care team ----------------------------------------------------------------------------

def link_care(uow: UnitOfWork, principal: Principal, pseudonym: str,
              new: NewCareLink) -> CareLinkView:
    """Name a physician or a pharmacy as caring for the patient: they then see it."""
    require_role(principal, CARE_WRITERS, "change care teams")
    patient = visible_patient(uow, principal, pseudonym)
    if (new.physician is None) == (new.pharmacy_id is None):
        raise Invalid("name either a physician or a pharmacy_id", where="physician")
    physician: User | None = None
    pharmacy: Organisation | None = None
    if new.physician is not None:
        physician = uow.users.by_username(new.physician)
        if physician is None or physician.role != "physician" or not physician.active:
            raise Invalid(f"'{new.physician}' is not an active physician's username",
                          where="physician")
    else:
        pharmacy = uow.organisations.get(new.pharmacy_id)
        if pharmacy is None or pharmacy.kind != "pharmacy":
            raise Invalid(f"organisation {new.pharmacy_id} is not a pharmacy",
                          where="pharmacy_id")
    if uow.patients.has_care_link(patient.id,
                                  physician_id=physician.id if physician else None,
                                  pharmacy_id=pharmacy.id if pharmacy else None):
        raise Conflict("this care relationship exists already")
    link = CareRelationship(patient_id=patient.id,
                            physician_id=physician.id if physician else None,
                            pharmacy_id=pharmacy.id if pharmacy else None)
    uow.patients.add(link)
    audit.record(uow, principal, "patient.care.link", "care_relationship", link.id,
                 {"patient": patient.pseudonym, "physician": new.physician,
                  "pharmacy_id": new.pharmacy_id})
    return _created(uow, _care_view(link, physician.username if physician else None,
                                    physician.display_name if physician else None,
                                    pharmacy.name if pharmacy else None))


def unlink_care(uow: UnitOfWork, principal: Principal, pseudonym: str, link_id: int,
                reason: str | None = None) -> None:
    require_role(principal, CARE_WRITERS, "change care teams")
    patient = visible_patient(uow, principal, pseudonym)
    link = uow.patients.care_link(patient.id, link_id)
    if link is None:
        raise NotFound(f"patient '{pseudonym}' has no care relationship {link_id}")
    uow.patients.delete(link)
    audit.record(uow, principal, "patient.care.unlink", "care_relationship", link_id,
                 {"patient": patient.pseudonym,
                  "physician_id": [link.physician_id, None],
                  "pharmacy_id": [link.pharmacy_id, None]}, reason=reason)
    uow.commit()


# -- the engine's view of a stored patient -----------------------------------------------------

def patient_record(uow: UnitOfWork, principal: Principal, pseudonym: str,
                   catalog: Catalog | None = None) -> PatientRecord:
    """The assessment engine's input built from the stored record: active conditions
    (with the patient's symptom severity), medicines taken plus active prescriptions (by
    ingredient name), allergies, observations, preferences and pregnancy."""
    require_role(principal, READERS, "read patient records")
    catalog = catalog or Catalog.load()
    patient = visible_patient(uow, principal, pseudonym)
    detail = _detail(uow, principal, patient)
    conditions = tuple(
        ConditionEntry(concept=_concept(c.text, c.code_system, c.code),
                       severity=_severity(c.severity))
        for c in detail.conditions
    )
    medicines: list[MedicationEntry] = [
        MedicationEntry(concept=_concept(m.text, "rxnorm" if m.rxnorm else None, m.rxnorm),
                        source="statement", status="active")
        for m in detail.medications
    ]
    for prescription in detail.prescriptions:
        ingredient = catalog.ingredients.get(prescription.ingredient_id)
        name = ingredient.name if ingredient else prescription.ingredient_id
        medicines.append(MedicationEntry(concept=Concept(text=name), source="request",
                                         status="active", dose_text=prescription.dose_text))
    allergies = tuple(
        AllergyEntry(concept=_concept(a.text, a.code_system, a.code),
                     reactions=(a.reaction,) if a.reaction else ())
        for a in detail.allergies
    )
    labs = tuple(
        LabResult(kind=_lab_kind(o.kind), value=o.value, unit=o.unit,
                  upper_limit=o.upper_limit, category=o.category, effective=o.observed_on)
        for o in detail.observations
    )
    route = detail.preferences.route
    return PatientRecord(
        id=patient.pseudonym,
        birth_date=patient.birth_date,
        sex=patient.sex,
        conditions=conditions,
        medications=tuple(medicines),
        allergies=allergies,
        labs=labs,
        pregnant=patient.pregnant,
        preferences=Preferences(
            route="oral" if route == "oral" else "injection" if route == "injection" else None,
            avoid_side_effects=tuple(detail.preferences.avoid_side_effects)),
        symptom_severity=_severity(detail.preferences.symptom_severity),
    )


def assess_patient(uow: UnitOfWork, principal: Principal, catalog: Catalog, pseudonym: str,
                   *, today: date, drugs: Sequence[str] | None = None) -> Assessment:
    """The engine on the stored patient (nothing is written)."""
    check_day(today, "as_of", not_after=date(2200, 12, 31))
    record = patient_record(uow, principal, pseudonym, catalog)
    return assess(record, catalog, today=today, drugs=drugs)


def _concept(text: str, system: str | None, code: str | None) -> Concept:
    codings = (Coding(system=system, code=code),) if system and code else ()
    return Concept(codings=codings, text=text)


def _severity(value: Any) -> SeverityText | None:
    if value == "mild":
        return "mild"
    if value == "moderate":
        return "moderate"
    if value == "severe":
        return "severe"
    return None


def _lab_kind(value: str) -> LabKind:
    kind = LAB_KINDS.get(value)
    if kind is None:
        raise Invalid(f"stored observation kind '{value}' is unknown")
    return kind
