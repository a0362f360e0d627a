"""What every repository shares: the session, adding and deleting rows, counting and
paging a query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

Order = ColumnElement[Any] | InstrumentedAttribute[Any]
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def count(session: Session, statement: Select[*Ts]) -> int:
    """COUNT(*) over a query's rows, without loading them."""
    total = session.execute(
        select(func.count()).select_from(statement.order_by(None).subquery())
    ).scalar_one()
    return int(total)


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: T, *, flush: bool = True) -> T:
        """Stage a new row; flushed by default so that its generated id is known."""
        self.session.add(row)
        if flush:
            self.session.flush()
        return row

    def delete(self, row: object) -> None:
        self.session.delete(row)

    def _page(self, query: Select[*Ts], order: Sequence[Order], offset: int,
                   limit: int) -> tuple[Sequence[Row[*Ts]], int]:
        """One page of a query's rows in `order`, and how many rows there are in all."""
        total = count(self.session, query)
        rows = self.session.execute(query.order_by(*order).offset(offset).limit(limit)).all()
        return rows, total

    def _scalar_page(self, query: Select[T], order: Sequence[Order], offset: int,
                        limit: int) -> tuple[list[T], int]:
        rows, total = self._page(query, order, offset, limit)
        return [row[0] for row in rows], total
