"""Prescriptions: physicians prescribe for their own patients and stop with a reason."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, as_json, text_query
from medsafe.supply import prescriptions
from medsafe.supply.prescriptions import NewPrescription, PrescriptionView, StopPrescription

router = APIRouter(prefix="/prescriptions", tags=["prescriptions"])


@router.get("", response_model=Page[PrescriptionView])
def list_prescriptions(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    patient: Annotated[str | None, text_query(40, "a pseudonym")] = None,
    status: Annotated[Literal["active", "stopped", "completed"] | None, Query()] = None,
) -> Page[PrescriptionView]:
    with app.uow() as uow:
        items, total = prescriptions.list_prescriptions(
            uow, caller, app.catalog, patient=patient, status=status, offset=paging.offset,
            limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("", response_model=PrescriptionView, status_code=201)
def prescribe(request: Request, body: NewPrescription, app: ContainerDep,
              caller: CurrentPrincipal) -> JSONResponse:
    """A physician prescribes for one of its patients. Honours Idempotency-Key."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: prescriptions.prescribe(uow, caller, app.catalog, body), as_json)


@router.get("/{prescription_id}", response_model=PrescriptionView)
def read_prescription(prescription_id: Id, app: ContainerDep,
                      caller: CurrentPrincipal) -> PrescriptionView:
    with app.uow() as uow:
        return prescriptions.read_prescription(uow, caller, app.catalog, prescription_id)


@router.post("/{prescription_id}/stop", response_model=PrescriptionView)
def stop_prescription(prescription_id: Id, body: StopPrescription, app: ContainerDep,
                      caller: CurrentPrincipal) -> PrescriptionView:
    """Stop an active prescription; the reason is required and audited."""
    with app.uow() as uow:
        return prescriptions.stop_prescription(uow, caller, app.catalog, prescription_id,
                                               body)
