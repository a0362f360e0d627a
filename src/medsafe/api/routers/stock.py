"""Stock per pharmacy and lot. Pharmacists set their own pharmacy's quantities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, id_query
from medsafe.supply import stock
from medsafe.supply.stock import StockLevel, StockView

router = APIRouter(prefix="/stock", tags=["stock"])


@router.get("", response_model=Page[StockView])
def list_stock(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    pharmacy_id: Annotated[int | None, id_query()] = None,
    lot_id: Annotated[int | None, id_query()] = None,
    product_id: Annotated[int | None, id_query()] = None,
) -> Page[StockView]:
    with app.uow() as uow:
        items, total = stock.list_stock(uow, caller, pharmacy_id=pharmacy_id, lot_id=lot_id,
                                        product_id=product_id, offset=paging.offset,
                                        limit=paging.page_size)
    return page_of(items, total, paging)


@router.put("/{pharmacy_id}/{lot_id}", response_model=StockView)
def set_stock(pharmacy_id: Id, lot_id: Id, body: StockLevel, app: ContainerDep,
              caller: CurrentPrincipal) -> StockView:
    """Set the units of a lot a pharmacy holds (a count, not a delta: repeating it is
    harmless)."""
    with app.uow() as uow:
        return stock.set_stock(uow, caller, pharmacy_id, lot_id, body)
