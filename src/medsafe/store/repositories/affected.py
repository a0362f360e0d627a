"""Who a recall reaches in the store: the stored lots matching its keys, who holds them and
who received them (the rules are `recalls/matching.py`).

Set-based: one recall costs three queries whatever its number of lots and patients (the
lots of the products it names; the holders; the dispensings with their patients,
pharmacies and prescribers). Many recalls at once (`match_many`, `reach`) cost one join of
a temporary table of keys per step, not one query per recall.

Lot numbers are compared in Python: the lots of the products a recall names are few
(tens to hundreds per product), and their keys (`matching.lot_key`) are not expressible in
SQL that SQLite and PostgreSQL share. NDCs are looked up in SQL by every spelling a store
may hold (`matching.ndc_spellings`), which the unique (code_system, code) index answers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    distinct,
    func,
    insert,
    select,
)
from sqlalchemy.orm import aliased

from medsafe.recalls.matching import (
    Affected,
    AffectedLot,
    Holder,
    K,
    Reach,
    RecallKeys,
    Recipient,
    StoredLot,
    match,
    match_many,
    ndc_spellings,
)
from medsafe.store.repositories.base import Repository
from medsafe.store.schema import Dispensing, Lot, Organisation, Patient, Product, Stock, User

NDC_SYSTEM = "ndc"
LotRow = tuple[int, int, str, str, str, date | None]
CHUNK = 5000
"""Bound parameters per IN list: far below SQLite's 32,766 and PostgreSQL's 65,535."""

_TEMPORARY = MetaData()
_SPELLINGS = Table("recall_match_spellings", _TEMPORARY,
                   Column("code", String(40), primary_key=True),
                   prefixes=["TEMPORARY"])
_MATCHED = Table("recall_match_lots", _TEMPORARY,
                 Column("recall", Integer, primary_key=True),
                 Column("lot_id", Integer, primary_key=True),
                 prefixes=["TEMPORARY"])


class AffectedRepository(Repository):
    # -- one recall ------------------------------------------------------------------------

    def affected(self, keys: RecallKeys) -> Affected:
        """The stored lots one recall concerns, who holds them and who received them."""
        lots = match(keys, self.stored_lots(keys.ndcs) + self.firm_lots(keys.firms))
        lot_ids = sorted({lot.lot_id for lot in lots})
        return Affected(lots=tuple(lots), holders=tuple(self.holders(lot_ids)),
                        recipients=tuple(self.recipients(lot_ids)))

    def stored_lots(self, ndcs: Collection[str]) -> list[StoredLot]:
        """Every stored lot of every product whose code is one of these NDCs, written any
        way; one query (a few for thousands of NDCs)."""
        spellings = sorted({code for ndc in ndcs for code in ndc_spellings(ndc)})
        found: list[StoredLot] = []
        for start in range(0, len(spellings), CHUNK):
            found.extend(self._stored(_lots().where(
                Product.code.in_(spellings[start:start + CHUNK]))))
        return found

    def firm_lots(self, firms: Collection[str]) -> list[StoredLot]:
        """Every stored lot of the products whose manufacturer is named as one of these
        firms (case folded; rule 6 of `matching`), with the manufacturer's name."""
        if not firms:
            return []
        rows = self.session.execute(
            select(Lot.id, Lot.product_id, Product.code, Product.name, Lot.lot_number,
                   Lot.expiry, Organisation.name)
            .join(Product, Product.id == Lot.product_id)
            .join(Organisation, Organisation.id == Product.manufacturer_id)
            .where(func.lower(Organisation.name).in_(sorted(firms)))).all()
        return [StoredLot(lot_id=row[0], product_id=row[1], product_code=row[2],
                          product_name=row[3], lot_number=row[4], expiry=row[5],
                          manufacturer=row[6]) for row in rows]

    def holders(self, lot_ids: Sequence[int]) -> list[Holder]:
        """Who has units of these lots on hand (stock above zero), by name and lot."""
        if not lot_ids:
            return []
        rows = self.session.execute(
            select(Stock.pharmacy_id, Organisation.name, Organisation.kind, Stock.lot_id,
                   Stock.quantity)
            .join(Organisation, Organisation.id == Stock.pharmacy_id)
            .where(Stock.lot_id.in_(lot_ids), Stock.quantity > 0)
            .order_by(Organisation.name, Stock.pharmacy_id, Stock.lot_id)).all()
        return [Holder(organisation_id=row[0], name=row[1], kind=row[2], lot_id=row[3],
                       quantity=row[4]) for row in rows]

    def recipients(self, lot_ids: Sequence[int]) -> list[Recipient]:
        """Every dispensing of these lots with its patient, pharmacy and prescriber, by
        patient and date."""
        if not lot_ids:
            return []
        prescriber = aliased(User)
        rows = self.session.execute(
            select(Dispensing.patient_id, Patient.pseudonym, Dispensing.lot_id,
                   Dispensing.dispensed_on, Dispensing.quantity, Dispensing.pharmacy_id,
                   Organisation.name, Dispensing.prescriber_id, prescriber.display_name)
            .join(Patient, Patient.id == Dispensing.patient_id)
            .join(Organisation, Organisation.id == Dispensing.pharmacy_id)
            .outerjoin(prescriber, prescriber.id == Dispensing.prescriber_id)
            .where(Dispensing.lot_id.in_(lot_ids))
            .order_by(Dispensing.patient_id, Dispensing.dispensed_on, Dispensing.id)).all()
        return [Recipient(patient_id=row[0], pseudonym=row[1], lot_id=row[2],
                          dispensed_on=row[3], quantity=row[4], pharmacy_id=row[5],
                          pharmacy_name=row[6], prescriber_id=row[7], prescriber_name=row[8])
                for row in rows]

    # -- many recalls at once --------------------------------------------------------------

    def match_many(self, keys: Mapping[K, RecallKeys]) -> dict[K, list[AffectedLot]]:
        """The stored lots each recall concerns (those that match nothing left out): every
        spelling of every NDC the recalls name goes into a temporary table, joined once to
        products and lots."""
        spellings = [{"code": code} for code in sorted(
            {code for recall in keys.values() for ndc in recall.ndcs
             for code in ndc_spellings(ndc)})]
        with self._temporary(_SPELLINGS, spellings):
            stored = self._stored(_lots().join(_SPELLINGS,
                                               _SPELLINGS.c.code == Product.code))
        firms = frozenset(firm for recall in keys.values() for firm in recall.firms)
        return match_many(keys, stored + self.firm_lots(firms))

    def reach(self, lots: Mapping[K, Sequence[AffectedLot]]) -> tuple[dict[K, Reach], Reach]:
        """How far each recall reaches (lots; organisations holding them; organisations
        that dispensed them; patients who received them), and all of them together
        (each organisation and patient once): the (recall, lot) pairs go into a temporary
        table, joined once to stock and once to dispensings."""
        names = list(lots)
        pairs = [{"recall": number, "lot_id": lot_id}
                 for number, name in enumerate(names)
                 for lot_id in sorted({lot.lot_id for lot in lots[name]})]
        matched = _MATCHED.c
        with self._temporary(_MATCHED, pairs):
            holders = self._per_recall(
                select(matched.recall, func.count(distinct(Stock.pharmacy_id)))
                .join(Stock, Stock.lot_id == matched.lot_id).where(Stock.quantity > 0))
            dispensed = self.session.execute(
                select(matched.recall, func.count(distinct(Dispensing.pharmacy_id)),
                       func.count(distinct(Dispensing.patient_id)))
                .join(Dispensing, Dispensing.lot_id == matched.lot_id)
                .group_by(matched.recall)).all()
            every_lot = select(matched.lot_id)
            all_holders = self.session.execute(
                select(func.count(distinct(Stock.pharmacy_id)))
                .where(Stock.lot_id.in_(every_lot), Stock.quantity > 0)).scalar_one()
            all_dispensers, all_patients = self.session.execute(
                select(func.count(distinct(Dispensing.pharmacy_id)),
                       func.count(distinct(Dispensing.patient_id)))
                .where(Dispensing.lot_id.in_(every_lot))).one()
        by_dispensing = {row[0]: (int(row[1]), int(row[2])) for row in dispensed}
        each = {name: Reach(lots=len({lot.lot_id for lot in lots[name]}),
                            holders=holders.get(number, 0),
                            dispensers=by_dispensing.get(number, (0, 0))[0],
                            patients=by_dispensing.get(number, (0, 0))[1])
                for number, name in enumerate(names)}
        total = Reach(lots=len({lot.lot_id for found in lots.values() for lot in found}),
                      holders=int(all_holders), dispensers=int(all_dispensers or 0),
                      patients=int(all_patients or 0))
        return each, total

    # -- helpers ---------------------------------------------------------------------------

    def _stored(self, query: Select[*LotRow]) -> list[StoredLot]:
        return [StoredLot(lot_id=row[0], product_id=row[1], product_code=row[2],
                          product_name=row[3], lot_number=row[4], expiry=row[5])
                for row in self.session.execute(query)]

    def _per_recall(self, query: Select[int, int]) -> dict[int, int]:
        rows = self.session.execute(query.group_by(_MATCHED.c.recall)).all()
        return {int(row[0]): int(row[1]) for row in rows}

    @contextmanager
    def _temporary(self, table: Table, rows: list[dict[str, Any]]) -> Iterator[None]:
        """The table, created on this transaction's connection, filled, and dropped
        afterwards. Not dropped when the block fails: the transaction is rolled back then,
        which drops it (DDL is transactional on both databases), and on PostgreSQL a
        failed transaction refuses any further statement."""
        connection = self.session.connection()
        table.create(connection)
        if rows:
            connection.execute(insert(table), rows)
        if connection.dialect.name == "postgresql":
            # No statistics, no good plan: PostgreSQL guesses a temporary table's size and
            # then scanned all ten million dispensings to count a few thousand (2.2 s
            # against 0.15 s at a million patients, measured with bench_recall).
            connection.exec_driver_sql(f"ANALYZE {table.name}")
        yield
        table.drop(connection)


def _lots() -> Select[*LotRow]:
    return (select(Lot.id, Lot.product_id, Product.code, Product.name, Lot.lot_number,
                   Lot.expiry)
            .join(Product, Product.id == Lot.product_id)
            .where(Product.code_system == NDC_SYSTEM))
