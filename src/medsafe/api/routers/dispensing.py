"""Dispensing records, and the recall question: which patients received a lot?"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, as_json, id_query, text_query
from medsafe.supply import dispensing
from medsafe.supply.dispensing import DispensingView, NewDispensing, RecipientView

router = APIRouter(prefix="/dispensings", tags=["dispensing"])


@router.get("", response_model=Page[DispensingView])
def list_dispensings(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    patient: Annotated[str | None, text_query(40, "a pseudonym")] = None,
    lot_id: Annotated[int | None, id_query()] = None,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
) -> Page[DispensingView]:
    """Newest first: what the caller may see."""
    with app.uow() as uow:
        items, total = dispensing.list_dispensings(uow, caller, patient=patient,
                                                   lot_id=lot_id, since=since, until=until,
                                                   offset=paging.offset,
                                                   limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("", response_model=DispensingView, status_code=201)
def record_dispensing(request: Request, body: NewDispensing, app: ContainerDep,
                      caller: CurrentPrincipal) -> JSONResponse:
    """A pharmacist dispenses from its pharmacy's stock (decremented in the same
    transaction). A lot under an open recall is refused (409 naming the recall and the
    lot) unless `override_reason` says why it must be dispensed anyway (audited). Honours
    Idempotency-Key: a retried request never dispenses twice."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: dispensing.record_dispensing(uow, caller, body), as_json)


@router.get("/recipients", response_model=Page[RecipientView])
def lot_recipients(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    lot_id: Annotated[int | None, id_query()] = None,
    product_code: Annotated[str | None, text_query(40, "with lot_number")] = None,
    lot_number: Annotated[str | None, text_query(60, "with product_code")] = None,
) -> Page[RecipientView]:
    """The distinct patients who received a lot (by `lot_id`, or by `product_code` and
    `lot_number`) that the caller may see, by pseudonym."""
    with app.uow() as uow:
        items, total = dispensing.lot_recipients(uow, caller, lot_id=lot_id,
                                                 product_code=product_code,
                                                 lot_number=lot_number, offset=paging.offset,
                                                 limit=paging.page_size)
    return page_of(items, total, paging)


@router.get("/{dispensing_id}", response_model=DispensingView)
def read_dispensing(dispensing_id: Id, app: ContainerDep,
                    caller: CurrentPrincipal) -> DispensingView:
    with app.uow() as uow:
        return dispensing.read_dispensing(uow, caller, dispensing_id)
