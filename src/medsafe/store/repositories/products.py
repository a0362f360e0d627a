"""Products and their lots (a lot belongs to its product's aggregate)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, Row, select

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import Lot, Organisation, Product


class ProductRepository(Repository):
    def code_taken(self, code_system: str, code: str) -> bool:
        return self.session.execute(select(Product.id).where(
            Product.code_system == code_system, Product.code == code)).first() is not None

    def get_visible(self, product_id: int, visible: ColumnElement[bool]) -> Product | None:
        return self.session.execute(select(Product).where(
            Product.id == product_id, visible)).scalar_one_or_none()

    def list_visible(self, visible: ColumnElement[bool], *, ingredient_id: str | None,
                     code: str | None, name: str | None, offset: int, limit: int
                     ) -> tuple[Sequence[Row[Product, str]], int]:
        """By name, each product with its manufacturer's name; `name` matches any part
        of the product's name, ignoring case."""
        query = select(Product, Organisation.name).join(
            Organisation, Organisation.id == Product.manufacturer_id).where(visible)
        if ingredient_id is not None:
            query = query.where(Product.ingredient_id == ingredient_id)
        if code is not None:
            query = query.where(Product.code == code)
        if name:
            query = query.where(Product.name.icontains(name, autoescape=True))
        return self._page(query, (Product.name, Product.id), offset, limit)

    # -- lots -----------------------------------------------------------------------------

    def lot_ids(self, product_id: int, lot_numbers: Iterable[str]) -> dict[str, int]:
        """The ids of this product's lots with these numbers, by number."""
        rows = self.session.execute(select(Lot.lot_number, Lot.id).where(
            Lot.product_id == product_id, Lot.lot_number.in_(list(lot_numbers)))).all()
        return {row[0]: row[1] for row in rows}

    def lot_taken(self, product_id: int, lot_number: str) -> bool:
        return self.session.execute(select(Lot.id).where(
            Lot.product_id == product_id, Lot.lot_number == lot_number)).first() is not None

    def lots(self, product_id: int, *, offset: int, limit: int) -> tuple[list[Lot], int]:
        return self._scalar_page(select(Lot).where(Lot.product_id == product_id),
                                 (Lot.id,), offset, limit)

    def get_visible_lot(self, lot_id: int,
                        visible: ColumnElement[bool]) -> tuple[Lot, Product] | None:
        """The lot and its product, if `visible` admits the product."""
        found = self.session.execute(
            select(Lot, Product).join(Product, Product.id == Lot.product_id)
            .where(Lot.id == lot_id, visible)).first()
        return None if found is None else (found[0], found[1])

    def visible_lot_ids(self, product_code: str, lot_number: str,
                        visible: ColumnElement[bool]) -> list[int]:
        """Every lot with this number of a product with this code (a code may exist in
        two code systems)."""
        return list(self.session.execute(
            select(Lot.id).join(Product, Product.id == Lot.product_id)
            .where(Product.code == product_code, Lot.lot_number == lot_number,
                   visible)).scalars())
