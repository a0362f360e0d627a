"""Organisations: administrators create them; every authenticated user reads them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, as_json, text_query
from medsafe.records import organisations
from medsafe.records.organisations import NewOrganisation, OrganisationKind, OrganisationView

router = APIRouter(prefix="/organisations", tags=["organisations"])


@router.get("", response_model=Page[OrganisationView])
def list_organisations(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    kind: Annotated[OrganisationKind | None, Query()] = None,
    name: Annotated[str | None, text_query(200, "part of the name")] = None,
) -> Page[OrganisationView]:
    with app.uow() as uow:
        items, total = organisations.list_organisations(
            uow, caller, kind=kind, name=name, offset=paging.offset, limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("", response_model=OrganisationView, status_code=201)
def create_organisation(request: Request, body: NewOrganisation, app: ContainerDep,
                        caller: CurrentPrincipal) -> JSONResponse:
    """Administrators only. Honours Idempotency-Key."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: organisations.create_organisation(uow, caller, body), as_json)


@router.get("/{organisation_id}", response_model=OrganisationView)
def read_organisation(organisation_id: Id, app: ContainerDep,
                      caller: CurrentPrincipal) -> OrganisationView:
    with app.uow() as uow:
        return organisations.read_organisation(uow, caller, organisation_id)
