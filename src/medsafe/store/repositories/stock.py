"""Stock: units of a lot held by a pharmacy."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Row, select

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import Lot, Organisation, Product, Stock


class StockRepository(Repository):
    def for_update(self, pharmacy_id: int, lot_id: int) -> Stock | None:
        """The stock row, locked until the transaction ends (PostgreSQL), so that two
        changes to one level cannot interleave."""
        return self.session.execute(
            select(Stock).where(Stock.pharmacy_id == pharmacy_id, Stock.lot_id == lot_id)
            .with_for_update()).scalar_one_or_none()

    def list_visible(self, visible: ColumnElement[bool], *, pharmacy_id: int | None,
                     lot_id: int | None, product_id: int | None, offset: int, limit: int
                     ) -> tuple[Sequence[Row[Stock, Organisation, Lot, Product]], int]:
        """By pharmacy and lot, each level with its pharmacy, lot and product."""
        query = (select(Stock, Organisation, Lot, Product)
                 .join(Organisation, Organisation.id == Stock.pharmacy_id)
                 .join(Lot, Lot.id == Stock.lot_id)
                 .join(Product, Product.id == Lot.product_id)
                 .where(visible))
        if pharmacy_id is not None:
            query = query.where(Stock.pharmacy_id == pharmacy_id)
        if lot_id is not None:
            query = query.where(Stock.lot_id == lot_id)
        if product_id is not None:
            query = query.where(Lot.product_id == product_id)
        return self._page(query, (Stock.pharmacy_id, Stock.lot_id), offset, limit)
