"""Products (a packaged medicine with its NDC, GTIN or other code) and their lots.

A product names its active ingredient by the knowledge base's stable id, checked against
the catalog, so the engine and the recall matching speak of the same thing. Manufacturers
create and see only their own products and lots; administrators create any; everyone
else reads them all (a pharmacist stocks every manufacturer's products).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import Field

from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.interop.gs1 import gtin_check_digit_ok
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Route
from medsafe.records import Day, Input, View, require_role
from medsafe.security import audit
from medsafe.security.permissions import visible_products
from medsafe.security.principal import Principal
from medsafe.store.schema import Lot, Product
from medsafe.store.uow import UnitOfWork

MAKERS = ("admin", "manufacturer")
NDC = re.compile(r"^(\d{4}-\d{4}-\d{2}|\d{5}-\d{3}-\d{2}|\d{5}-\d{4}-\d{1,2}|\d{10,11})$")
GTIN = re.compile(r"^(\d{8}|\d{12,14})$")
LOT_NUMBER = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,59}$"
PRODUCT_CODE = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$"
EARLIEST_EXPIRY = date(1950, 1, 1)
LATEST_EXPIRY = date(2200, 12, 31)


class NewProduct(Input):
    code_system: Literal["ndc", "gtin", "other"]
    code: str = Field(pattern=PRODUCT_CODE)
    name: str = Field(min_length=1, max_length=200)
    ingredient_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,59}$",
                               description="the knowledge base's ingredient id, e.g. baclofen")
    strength: str | None = Field(default=None, min_length=1, max_length=60)
    form: str | None = Field(default=None, min_length=1, max_length=60)
    route: Route | None = None
    manufacturer_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                        description="required for administrators; a "
                                                    "manufacturer's own by default")


class ProductView(View):
    id: int
    code_system: str
    code: str
    name: str
    ingredient_id: str
    strength: str | None
    form: str | None
    route: str | None
    manufacturer_id: int
    manufacturer_name: str


class NewLot(Input):
    lot_number: str = Field(pattern=LOT_NUMBER)
    expiry: Day | None = None


class LotView(View):
    id: int
    product_id: int
    product_code: str
    lot_number: str
    expiry: date | None


# -- products ---------------------------------------------------------------------------------

def create_product(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                   new: NewProduct) -> ProductView:
    require_role(principal, MAKERS, "create products")
    _check_code(new.code_system, new.code)
    if new.ingredient_id not in catalog.ingredients:
        raise Invalid(f"'{new.ingredient_id}' is not in the knowledge base (known: "
                      f"{', '.join(sorted(catalog.ingredients))})", where="ingredient_id")
    maker_id = _maker(uow, principal, new.manufacturer_id)
    if uow.products.code_taken(new.code_system, new.code):
        raise Conflict(f"a product with {new.code_system} code '{new.code}' exists already")
    row = uow.products.add(Product(
        code_system=new.code_system, code=new.code, name=new.name,
        ingredient_id=new.ingredient_id, strength=new.strength, form=new.form,
        route=new.route, manufacturer_id=maker_id))
    audit.record(uow, principal, "product.create", "product", row.id,
                 {**new.model_dump(), "manufacturer_id": maker_id})
    view = _product_view(uow, row)
    uow.created.append(view)
    uow.commit()
    return view


def _maker(uow: UnitOfWork, principal: Principal, wanted: int | None) -> int:
    if principal.role == "manufacturer":
        own = principal.organisation_id
        if own is None:
            raise Forbidden("this manufacturer account belongs to no manufacturer")
        if wanted is not None and wanted != own:
            raise Forbidden("a manufacturer creates only its own products")
        return own
    if wanted is None:
        raise Invalid("name the product's manufacturer", where="manufacturer_id")
    maker = uow.organisations.get(wanted)
    if maker is None or maker.kind != "manufacturer":
        raise Invalid(f"organisation {wanted} is not a manufacturer", where="manufacturer_id")
    return maker.id


def _check_code(system: str, code: str) -> None:
    if system == "ndc" and not NDC.match(code):
        raise Invalid("an NDC has 10 or 11 digits, as 4-4-2, 5-3-2, 5-4-1, 5-4-2 or without "
                      "hyphens", where="code")
    if system == "gtin":
        if not GTIN.match(code):
            raise Invalid("a GTIN has 8, 12, 13 or 14 digits", where="code")
        if not gtin_check_digit_ok(code):
            raise Invalid("the GTIN's check digit is wrong", where="code")


def list_products(uow: UnitOfWork, principal: Principal, *, ingredient_id: str | None = None,
                  code: str | None = None, name: str | None = None, offset: int = 0,
                  limit: int = 50) -> tuple[list[ProductView], int]:
    rows, total = uow.products.list_visible(
        visible_products(principal), ingredient_id=ingredient_id, code=code, name=name,
        offset=offset, limit=limit)
    return [_view_of(product, maker) for product, maker in rows], total


def read_product(uow: UnitOfWork, principal: Principal, product_id: int) -> ProductView:
    return _product_view(uow, visible_product(uow, principal, product_id))


def visible_product(uow: UnitOfWork, principal: Principal, product_id: int) -> Product:
    """The product if the caller may see it; otherwise NotFound (another manufacturer's
    product does not exist for a manufacturer)."""
    row = uow.products.get_visible(product_id, visible_products(principal))
    if row is None:
        raise NotFound(f"no product {product_id}")
    return row


def _product_view(uow: UnitOfWork, row: Product) -> ProductView:
    maker = uow.organisations.get(row.manufacturer_id)
    return _view_of(row, maker.name if maker else "")


def _view_of(row: Product, maker: str) -> ProductView:
    return ProductView(id=row.id, code_system=row.code_system, code=row.code, name=row.name,
                       ingredient_id=row.ingredient_id, strength=row.strength, form=row.form,
                       route=row.route, manufacturer_id=row.manufacturer_id,
                       manufacturer_name=maker)


# -- lots ---------------------------------------------------------------------------------------

def create_lot(uow: UnitOfWork, principal: Principal, product_id: int, new: NewLot) -> LotView:
    require_role(principal, MAKERS, "create lots")
    product = visible_product(uow, principal, product_id)
    if new.expiry is not None and not EARLIEST_EXPIRY <= new.expiry <= LATEST_EXPIRY:
        raise Invalid(f"must be between {EARLIEST_EXPIRY} and {LATEST_EXPIRY}",
                      where="expiry")
    if uow.products.lot_taken(product.id, new.lot_number):
        raise Conflict(f"product {product.id} has a lot '{new.lot_number}' already")
    row = uow.products.add(Lot(product_id=product.id, lot_number=new.lot_number,
                               expiry=new.expiry))
    audit.record(uow, principal, "lot.create", "lot", row.id,
                 {"product_id": product.id, **new.model_dump()})
    view = lot_view(row, product)
    uow.created.append(view)
    uow.commit()
    return view


def list_lots(uow: UnitOfWork, principal: Principal, product_id: int, *, offset: int = 0,
              limit: int = 50) -> tuple[list[LotView], int]:
    product = visible_product(uow, principal, product_id)
    rows, total = uow.products.lots(product.id, offset=offset, limit=limit)
    return [lot_view(r, product) for r in rows], total


def visible_lot(uow: UnitOfWork, principal: Principal, lot_id: int) -> tuple[Lot, Product]:
    found = uow.products.get_visible_lot(lot_id, visible_products(principal))
    if found is None:
        raise NotFound(f"no lot {lot_id}")
    return found


def lot_view(row: Lot, product: Product) -> LotView:
    return LotView(id=row.id, product_id=product.id, product_code=product.code,
                   lot_number=row.lot_number, expiry=row.expiry)
