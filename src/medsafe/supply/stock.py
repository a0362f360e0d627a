"""Stock: how many units of each lot a pharmacy holds.

Pharmacists set their own pharmacy's quantities (a count after a delivery or a stock
take); administrators set any pharmacy's. Dispensing decrements stock itself, in the
dispensing's own transaction (see `supply.dispensing`). Who sees stock: administrators
and regulators all of it, a pharmacist its pharmacy's, a manufacturer the stock of its
own lots (it must know where its lots are for a recall); physicians and patients none.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field
from sqlalchemy.exc import IntegrityError

from medsafe.errors import Conflict, Forbidden, NotFound
from medsafe.records import Input, View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.permissions import visible_stock
from medsafe.security.principal import Principal
from medsafe.store.schema import Lot, Organisation, Product, Stock
from medsafe.store.uow import UnitOfWork
from medsafe.supply.products import visible_lot

SETTERS = ("admin", "pharmacist")
READERS = ("admin", "regulator", "manufacturer", "pharmacist")
MAX_QUANTITY = 10_000_000


class StockLevel(Input):
    quantity: int = Field(ge=0, le=MAX_QUANTITY, description="units on hand")


class StockView(View):
    pharmacy_id: int
    pharmacy_name: str
    lot_id: int
    lot_number: str
    expiry: date | None
    product_id: int
    product_code: str
    product_name: str
    quantity: int
    updated_at: datetime


def set_stock(uow: UnitOfWork, principal: Principal, pharmacy_id: int, lot_id: int,
              level: StockLevel) -> StockView:
    require_role(principal, SETTERS, "set stock")
    if principal.role == "pharmacist" and principal.organisation_id != pharmacy_id:
        raise Forbidden("a pharmacist sets only its own pharmacy's stock")
    pharmacy = uow.organisations.get(pharmacy_id)
    if pharmacy is None or pharmacy.kind != "pharmacy":
        raise NotFound(f"no pharmacy {pharmacy_id}")
    lot, product = visible_lot(uow, principal, lot_id)
    row = uow.stock.for_update(pharmacy_id, lot_id)
    before = row.quantity if row is not None else None
    if row is None:
        row = uow.stock.add(Stock(pharmacy_id=pharmacy_id, lot_id=lot_id,
                                  quantity=level.quantity, updated_at=now()), flush=False)
    else:
        row.quantity = level.quantity
        row.updated_at = now()
    try:
        uow.flush()
    except IntegrityError:
        # Two first counts for the same pharmacy and lot raced; the other one won.
        raise Conflict("this stock level was changed at the same moment; retry") from None
    audit.record(uow, principal, "stock.set", "stock", f"{pharmacy_id}/{lot_id}",
                 {"quantity": [before, level.quantity]})
    view = stock_view(row, pharmacy, lot, product)
    uow.commit()
    return view


def list_stock(uow: UnitOfWork, principal: Principal, *, pharmacy_id: int | None = None,
               lot_id: int | None = None, product_id: int | None = None, offset: int = 0,
               limit: int = 50) -> tuple[list[StockView], int]:
    require_role(principal, READERS, "see stock")
    rows, total = uow.stock.list_visible(
        visible_stock(principal), pharmacy_id=pharmacy_id, lot_id=lot_id,
        product_id=product_id, offset=offset, limit=limit)
    return [stock_view(s, o, lot, p) for s, o, lot, p in rows], total


def stock_view(row: Stock, pharmacy: Organisation, lot: Lot, product: Product) -> StockView:
    return StockView(pharmacy_id=pharmacy.id, pharmacy_name=pharmacy.name, lot_id=lot.id,
                     lot_number=lot.lot_number, expiry=lot.expiry, product_id=product.id,
                     product_code=product.code, product_name=product.name,
                     quantity=row.quantity, updated_at=aware(row.updated_at))
