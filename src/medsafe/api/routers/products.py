"""Products and their lots. Manufacturers see and create only their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, as_json, text_query
from medsafe.supply import products
from medsafe.supply.products import LotView, NewLot, NewProduct, ProductView

router = APIRouter(prefix="/products", tags=["products"])


@router.get("", response_model=Page[ProductView])
def list_products(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    ingredient_id: Annotated[str | None, text_query(60, "e.g. baclofen")] = None,
    code: Annotated[str | None, text_query(40, "NDC, GTIN or other code")] = None,
    name: Annotated[str | None, text_query(200, "part of the name")] = None,
) -> Page[ProductView]:
    with app.uow() as uow:
        items, total = products.list_products(uow, caller, ingredient_id=ingredient_id,
                                              code=code, name=name, offset=paging.offset,
                                              limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("", response_model=ProductView, status_code=201)
def create_product(request: Request, body: NewProduct, app: ContainerDep,
                   caller: CurrentPrincipal) -> JSONResponse:
    """The ingredient must be in the knowledge base. Honours Idempotency-Key."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: products.create_product(uow, caller, app.catalog, body), as_json)


@router.get("/{product_id}", response_model=ProductView)
def read_product(product_id: Id, app: ContainerDep, caller: CurrentPrincipal) -> ProductView:
    with app.uow() as uow:
        return products.read_product(uow, caller, product_id)


@router.get("/{product_id}/lots", response_model=Page[LotView])
def list_lots(product_id: Id, app: ContainerDep, caller: CurrentPrincipal,
              paging: Paging) -> Page[LotView]:
    with app.uow() as uow:
        items, total = products.list_lots(uow, caller, product_id, offset=paging.offset,
                                          limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("/{product_id}/lots", response_model=LotView, status_code=201)
def create_lot(request: Request, product_id: Id, body: NewLot, app: ContainerDep,
               caller: CurrentPrincipal) -> JSONResponse:
    """Honours Idempotency-Key."""
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: products.create_lot(uow, caller, product_id, body), as_json)
