"""Patients: registration, the clinical record, contact details, the care team, and the
assessment engine on a stored patient. Rules live in `medsafe.records.patients`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, Pseudonym, as_json, text_query
from medsafe.assessment.report import assessment_document
from medsafe.records import patients
from medsafe.records.patients import (
    AllergyView,
    CareLinkView,
    ConditionView,
    ContactDetails,
    ContactView,
    MedicationView,
    NewAllergy,
    NewCareLink,
    NewCondition,
    NewMedication,
    NewObservation,
    NewPatient,
    ObservationView,
    PatientDetail,
    PatientSummary,
    PreferenceSettings,
    PreferencesView,
)

router = APIRouter(prefix="/patients", tags=["patients"])

Reason = Annotated[str | None, text_query(500, "why (kept in the audit trail)")]


@router.get("", response_model=Page[PatientSummary])
def list_patients(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    pseudonym: Annotated[str | None, text_query(40, "part of the pseudonym")] = None,
    condition: Annotated[str | None, text_query(200, "part of a condition's text")] = None,
) -> Page[PatientSummary]:
    """The patients the caller may see."""
    with app.uow() as uow:
        items, total = patients.list_patients(uow, caller, pseudonym=pseudonym,
                                              condition=condition, offset=paging.offset,
                                              limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("", response_model=PatientDetail, status_code=201)
def register_patient(request: Request, body: NewPatient, app: ContainerDep,
                     caller: CurrentPrincipal) -> JSONResponse:
    """Register a patient; medsafe assigns its pseudonym. Honours Idempotency-Key."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: patients.register_patient(uow, caller, body), as_json)


@router.get("/{pseudonym}", response_model=PatientDetail)
def read_patient(pseudonym: Pseudonym, app: ContainerDep,
                 caller: CurrentPrincipal) -> PatientDetail:
    """The clinical summary: conditions, allergies, observations, preferences and
    pregnancy, current medicines, active prescriptions, care team."""
    with app.uow() as uow:
        return patients.read_patient(uow, caller, pseudonym)


@router.get("/{pseudonym}/contacts", response_model=ContactView)
def read_contacts(pseudonym: Pseudonym, app: ContainerDep,
                  caller: CurrentPrincipal) -> ContactView:
    """Contact details: the patient and its own carers only (regulators and
    manufacturers: 403)."""
    with app.uow() as uow:
        return patients.read_contacts(uow, caller, pseudonym)


@router.put("/{pseudonym}/contacts", response_model=ContactView)
def update_contacts(pseudonym: Pseudonym, body: ContactDetails, app: ContainerDep,
                    caller: CurrentPrincipal) -> ContactView:
    """Replace the contact details (audited with masked before/after values)."""
    with app.uow() as uow:
        return patients.update_contacts(uow, caller, pseudonym, body)


@router.put("/{pseudonym}/preferences", response_model=PreferencesView)
def set_preferences(pseudonym: Pseudonym, body: PreferenceSettings, app: ContainerDep,
                    caller: CurrentPrincipal) -> PreferencesView:
    """Replace route preference, side effects to avoid, symptom severity, pregnancy."""
    with app.uow() as uow:
        return patients.set_preferences(uow, caller, pseudonym, body)


@router.post("/{pseudonym}/conditions", response_model=ConditionView, status_code=201)
def add_condition(request: Request, pseudonym: Pseudonym, body: NewCondition,
                  app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: patients.add_condition(uow, caller, pseudonym, body), as_json)


@router.delete("/{pseudonym}/conditions/{condition_id}", status_code=204)
def remove_condition(pseudonym: Pseudonym, condition_id: Id, app: ContainerDep,
                     caller: CurrentPrincipal, reason: Reason = None) -> None:
    """Mark a condition inactive (its history stays)."""
    with app.uow() as uow:
        patients.remove_condition(uow, caller, pseudonym, condition_id, reason)


@router.post("/{pseudonym}/allergies", response_model=AllergyView, status_code=201)
def add_allergy(request: Request, pseudonym: Pseudonym, body: NewAllergy,
                app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: patients.add_allergy(uow, caller, pseudonym, body), as_json)


@router.delete("/{pseudonym}/allergies/{allergy_id}", status_code=204)
def remove_allergy(pseudonym: Pseudonym, allergy_id: Id, app: ContainerDep,
                   caller: CurrentPrincipal, reason: Reason = None) -> None:
    with app.uow() as uow:
        patients.remove_allergy(uow, caller, pseudonym, allergy_id, reason)


@router.post("/{pseudonym}/observations", response_model=ObservationView, status_code=201)
def add_observation(request: Request, pseudonym: Pseudonym, body: NewObservation,
                    app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    """A lab result (eGFR, creatinine clearance, creatinine, ALT, AST, bilirubin) or a
    Child-Pugh class; impossible values are refused (eGFR 0–250, …)."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: patients.add_observation(uow, caller, pseudonym, body), as_json)


@router.delete("/{pseudonym}/observations/{observation_id}", status_code=204)
def remove_observation(pseudonym: Pseudonym, observation_id: Id, app: ContainerDep,
                       caller: CurrentPrincipal, reason: Reason = None) -> None:
    with app.uow() as uow:
        patients.remove_observation(uow, caller, pseudonym, observation_id, reason)


@router.post("/{pseudonym}/medications", response_model=MedicationView, status_code=201)
def add_medication(request: Request, pseudonym: Pseudonym, body: NewMedication,
                   app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    """A medicine the patient takes that medsafe did not prescribe."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: patients.add_medication(uow, caller, pseudonym, body), as_json)


@router.delete("/{pseudonym}/medications/{medication_id}", status_code=204)
def remove_medication(pseudonym: Pseudonym, medication_id: Id, app: ContainerDep,
                      caller: CurrentPrincipal, reason: Reason = None) -> None:
    with app.uow() as uow:
        patients.remove_medication(uow, caller, pseudonym, medication_id, reason)


@router.post("/{pseudonym}/care-team", response_model=CareLinkView, status_code=201)
def link_care(request: Request, pseudonym: Pseudonym, body: NewCareLink,
              app: ContainerDep, caller: CurrentPrincipal) -> JSONResponse:
    """Name a physician (by username) or a pharmacy as caring for the patient."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: patients.link_care(uow, caller, pseudonym, body), as_json)


@router.delete("/{pseudonym}/care-team/{link_id}", status_code=204)
def unlink_care(pseudonym: Pseudonym, link_id: Id, app: ContainerDep,
                caller: CurrentPrincipal, reason: Reason = None) -> None:
    with app.uow() as uow:
        patients.unlink_care(uow, caller, pseudonym, link_id, reason)


@router.get("/{pseudonym}/assessment")
def assess_patient(
    pseudonym: Pseudonym, app: ContainerDep, caller: CurrentPrincipal,
    drug: Annotated[list[str] | None, Query(max_length=20, description="only these drugs")]
    = None,
    as_of: Annotated[date | None, Query(description="the day to compute age on; "
                                                    "default today")] = None,
) -> dict[str, Any]:
    """Rank the candidate medicines for the stored patient: the same document as
    `medsafe assess --format json`."""
    with app.uow() as uow:
        result = patients.assess_patient(uow, caller, app.catalog, pseudonym,
                                         today=as_of or date.today(), drugs=drug)
    return assessment_document(result)
