"""Investigations and recalls: their rows, turned into the pure domain objects and back.

The domain objects (`recalls.investigation.Investigation`, `recalls.model.RecallRecord`)
are the source of truth: a use case loads one, lets the pure code change it, and saves
it; loading what was saved gives an equal object back (tests/integration/
test_recall_service.py checks the round trip). Nested parts that are only read whole are
JSON columns; the parts that are listed or queried on their own have rows.

Bulk writes (an openFDA import of 12,504 recalls, about 50,000 lots) go through ORM bulk
`INSERT … RETURNING` with the parameters' order kept, so the new recall ids are known to
their products and lots without a query per record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from medsafe.recalls.investigation import (
    Analysis,
    BenefitRisk,
    Choice,
    Committee,
    CommitteeRules,
    Decision,
    DecisionKind,
    DeclaredConflict,
    HazardEvaluation,
    Investigation,
    InvestigationState,
    LotTest,
    Member,
    Origin,
    OriginKind,
    Question,
    Vote,
)
from medsafe.recalls.matching import lot_key
from medsafe.recalls.model import (
    Depth,
    EffectivenessLevel,
    Firm,
    Hazard,
    Initiative,
    PatientAction,
    PublicWarning,
    RecallClass,
    RecallDates,
    RecallLot,
    RecallProduct,
    RecallRecord,
)
from medsafe.recalls.workflow import NotificationMethod, RecallKind, RecallState, StatusReport
from medsafe.store.repositories.base import Repository, count
from medsafe.store.schema import (
    CommitteeConflict,
    CommitteeMember,
    CommitteeQuestion,
    CommitteeVote,
    Dispensing,
    InvestigationLotTest,
    InvestigationRow,
    Lot,
    Organisation,
    Product,
    RecallLotRow,
    RecallProductNdc,
    RecallProductRow,
    RecallRow,
    RecallStatusReport,
    RecallStep,
    RecallTerminationRequest,
    Stock,
)

Row = dict[str, Any]
OPENFDA, MEDSAFE = "openfda", "medsafe"
SOURCES = (OPENFDA, MEDSAFE)
CHUNK = 5_000  # ids per IN (...) list: well under SQLite's limit of bound parameters


# -- recalls: the record and its rows ------------------------------------------------------

def source_key(record: RecallRecord) -> str:
    """An imported record's identity in FDA's data: its recall number within its event.
    FDA gives each product of an event its own number, and the 2021 export reuses two
    numbers across events (its error), so the number alone is not enough. The three
    records without a number (not yet classified) are told apart by their product."""
    if record.recall_number:
        return f"{record.recall_number}@{record.event_id or ''}"
    description = record.products[0].description.encode("utf-8")
    return f"@{record.event_id or ''}#{hashlib.sha256(description).hexdigest()[:16]}"


def content_hash(record: RecallRecord) -> str:
    """SHA-256 of the record's repr (every field, nested, in order; several times faster
    than its JSON): an unchanged record is not rewritten. A new medsafe version whose
    record prints differently makes the next import rewrite each recall once, which is
    harmless."""
    return hashlib.sha256(repr(record).encode("utf-8")).hexdigest()


def record_columns(record: RecallRecord) -> Row:
    """The `recalls` columns that hold a record's own fields."""
    firm, dates, hazard = record.firm, record.dates, record.hazard
    return {
        "recall_number": record.recall_number, "event_id": record.event_id,
        "kind": record.kind.value, "state": record.state.value,
        "classification": _value(record.classification), "reason": record.reason,
        "reason_category": record.reason_category, "firm_name": firm.name,
        "firm_address_1": firm.address_1, "firm_address_2": firm.address_2,
        "firm_city": firm.city, "firm_state": firm.state, "firm_postal_code": firm.postal_code,
        "firm_country": firm.country, "initiative": record.initiative.value,
        "distribution_pattern": record.distribution_pattern,
        "initial_notification": record.initial_notification, "depth": _value(record.depth),
        "public_warning": _value(record.public_warning),
        "effectiveness_check": _value(record.effectiveness_check),
        "patient_action": None if hazard is None else hazard.action.value,
        "patient_stop_reason": None if hazard is None else hazard.stop_reason,
        "patient_plain_words": None if hazard is None else hazard.plain_words,
        "initiated_on": dates.initiated, "classified_on": dates.classified,
        "reported_on": dates.reported, "terminated_on": dates.terminated,
    }


def _value(member: Any) -> str | None:
    return None if member is None else str(member.value)


def _record(row: RecallRow, products: tuple[RecallProduct, ...]) -> RecallRecord:
    return RecallRecord(
        recall_number=row.recall_number, event_id=row.event_id, kind=RecallKind(row.kind),
        state=RecallState(row.state),
        classification=RecallClass(row.classification) if row.classification else None,
        reason=row.reason, reason_category=row.reason_category, products=products,
        firm=Firm(name=row.firm_name, address_1=row.firm_address_1,
                  address_2=row.firm_address_2, city=row.firm_city, state=row.firm_state,
                  postal_code=row.firm_postal_code, country=row.firm_country),
        initiative=Initiative(row.initiative), distribution_pattern=row.distribution_pattern,
        initial_notification=row.initial_notification,
        depth=Depth(row.depth) if row.depth else None,
        public_warning=PublicWarning(row.public_warning) if row.public_warning else None,
        effectiveness_check=(EffectivenessLevel(row.effectiveness_check)
                             if row.effectiveness_check else None),
        dates=RecallDates(initiated=row.initiated_on, classified=row.classified_on,
                          reported=row.reported_on, terminated=row.terminated_on),
        hazard=(Hazard(PatientAction(row.patient_action), stop_reason=row.patient_stop_reason,
                       plain_words=row.patient_plain_words)
                if row.patient_action else None))


def report_columns(report: StatusReport) -> Row:
    return {"as_of": report.as_of, "consignees_notified": report.consignees_notified,
            "notified_on": report.notified_on, "methods": [m.value for m in report.methods],
            "consignees_responding": report.consignees_responding,
            "quantity_on_hand": report.quantity_on_hand,
            "non_responders": report.non_responders,
            "quantity_returned": report.quantity_returned,
            "quantity_corrected": report.quantity_corrected,
            "effectiveness_checks": report.effectiveness_checks,
            "effectiveness_results": report.effectiveness_results,
            "estimated_completion": report.estimated_completion,
            "non_responder_ids": list(report.non_responder_ids)}


def status_report(row: RecallStatusReport) -> StatusReport:
    return StatusReport(
        as_of=row.as_of, consignees_notified=row.consignees_notified,
        notified_on=row.notified_on,
        methods=tuple(NotificationMethod(m) for m in row.methods),
        consignees_responding=row.consignees_responding,
        quantity_on_hand=row.quantity_on_hand, non_responders=row.non_responders,
        quantity_returned=row.quantity_returned, quantity_corrected=row.quantity_corrected,
        effectiveness_checks=row.effectiveness_checks,
        effectiveness_results=row.effectiveness_results,
        estimated_completion=row.estimated_completion,
        non_responder_ids=tuple(row.non_responder_ids))


class RecallRepository(Repository):
    """Recalls with their products, package NDCs and lots; their steps, status reports
    and termination requests."""

    # -- reading ---------------------------------------------------------------------------

    def get(self, recall_id: int, visible: ColumnElement[bool]) -> RecallRow | None:
        return self.session.execute(
            select(RecallRow).where(RecallRow.id == recall_id, visible)).scalar_one_or_none()

    def ids_by_number(self, number: str, visible: ColumnElement[bool]) -> list[int]:
        return list(self.session.execute(
            select(RecallRow.id).where(RecallRow.recall_number == number, visible)
            .order_by(RecallRow.id)).scalars())

    def by_investigation(self, investigation_id: int) -> RecallRow | None:
        return self.session.execute(select(RecallRow).where(
            RecallRow.investigation_id == investigation_id)).scalar_one_or_none()

    def page(self, query: Select[RecallRow], offset: int, limit: int
             ) -> tuple[list[RecallRow], int]:
        return self._scalar_page(query, [RecallRow.id.desc()], offset, limit)

    def records(self, rows: Sequence[RecallRow]) -> dict[int, RecallRecord]:
        """The domain record of each row, keyed by recall id (three queries in all)."""
        products = self._products([row.id for row in rows])
        return {row.id: _record(row, products.get(row.id, ())) for row in rows}

    def record(self, row: RecallRow) -> RecallRecord:
        return self.records([row])[row.id]

    def _products(self, recall_ids: Sequence[int]) -> dict[int, tuple[RecallProduct, ...]]:
        found: dict[int, list[RecallProductRow]] = {}
        ndcs: dict[int, list[str]] = {}
        lots: dict[int, list[RecallLot]] = {}
        for chunk in _chunks(recall_ids):
            for product in self.session.execute(
                    select(RecallProductRow).where(RecallProductRow.recall_id.in_(chunk))
                    .order_by(RecallProductRow.recall_id, RecallProductRow.position)).scalars():
                found.setdefault(product.recall_id, []).append(product)
            for product_id, ndc in self.session.execute(
                    select(RecallProductNdc.product_id, RecallProductNdc.ndc)
                    .join(RecallProductRow, RecallProductRow.id == RecallProductNdc.product_id)
                    .where(RecallProductRow.recall_id.in_(chunk))
                    .order_by(RecallProductNdc.product_id, RecallProductNdc.position)):
                ndcs.setdefault(product_id, []).append(ndc)
            for lot in self.session.execute(
                    select(RecallLotRow).where(RecallLotRow.recall_id.in_(chunk))
                    .order_by(RecallLotRow.product_id, RecallLotRow.position)).scalars():
                lots.setdefault(lot.product_id, []).append(
                    RecallLot(number=lot.lot_number, expiry=lot.expiry, ndc=lot.ndc))
        return {recall_id: tuple(
            RecallProduct(description=p.description, ndcs=tuple(ndcs.get(p.id, ())),
                          quantity=p.quantity, lots=tuple(lots.get(p.id, ())),
                          all_lots=p.all_lots, code_info=p.code_info) for p in products)
            for recall_id, products in found.items()}

    def imported(self) -> dict[str, tuple[int, str | None]]:
        """source_key -> (recall id, content hash) of every imported recall."""
        return {key: (recall_id, digest) for key, recall_id, digest in self.session.execute(
            select(RecallRow.source_key, RecallRow.id, RecallRow.source_sha256)
            .where(RecallRow.source_key.is_not(None)))
            if key is not None}

    def numbered(self, numbers: Iterable[str], source: str) -> list[str]:
        """Which of these recall numbers recalls of `source` hold."""
        held: list[str] = []
        for chunk in _chunks(sorted(set(numbers))):
            held.extend(self.session.execute(
                select(RecallRow.recall_number).where(RecallRow.source == source,
                                                     RecallRow.recall_number.in_(chunk))
            ).scalars().all())  # type: ignore[arg-type]
        return held

    def covering(self, ndcs: Collection[str], key: str, *, kinds: Collection[str],
                 states: Collection[str]) -> list[RecallRow]:
        """The recalls of these kinds in these states that may cover a stored lot with
        this lot key (`matching.lot_key`) under one of these 11-digit NDCs (none: a
        product whose code is no NDC): one of their lots has the key and is tied to one of
        the NDCs or to none (a lot of a product without an NDC is its firm's, rule 6), or
        one of their products recalls every lot of one of the NDCs. Candidates only: the
        NDC, the firm and the expiry are for `matching.match` to decide. Two index lookups
        (lot key; NDC)."""
        if not key:
            return []
        tied: ColumnElement[bool] = RecallLotRow.ndc.is_(None)
        if ndcs:
            tied = or_(RecallLotRow.ndc.in_(ndcs), tied)
        by_lot = select(RecallLotRow.recall_id).where(RecallLotRow.lot_key == key, tied)
        every_lot = (select(RecallProductRow.recall_id)
                     .join(RecallProductNdc, RecallProductNdc.product_id == RecallProductRow.id)
                     .where(RecallProductRow.all_lots.is_(True), RecallProductNdc.ndc.in_(ndcs)))
        candidates = by_lot.union(every_lot) if ndcs else by_lot
        return list(self.session.execute(
            select(RecallRow).where(RecallRow.id.in_(candidates), RecallRow.kind.in_(kinds),
                                    RecallRow.state.in_(states))
            .order_by(RecallRow.id)).scalars())

    def counts_by_state(self, visible: ColumnElement[bool]) -> dict[str, int]:
        return {state: int(n) for state, n in self.session.execute(
            select(RecallRow.state, func.count()).where(visible).group_by(RecallRow.state))}

    # -- reads for the pages (recalls.queries) ---------------------------------------------

    def published_page(self, states: Collection[str], classification: str | None,
                       offset: int, limit: int) -> tuple[list[RecallRow], int]:
        """Recalls in these (public) states, of one class or all, newest report first
        (those without a report date last), and how many there are."""
        query = select(RecallRow).where(RecallRow.state.in_(states))
        if classification is not None:
            query = query.where(RecallRow.classification == classification)
        total = count(self.session, query)
        rows = self.session.execute(query.order_by(RecallRow.reported_on.desc().nulls_last(),
                                                   RecallRow.id.desc())
                                    .offset(offset).limit(limit)).scalars()
        return list(rows), total

    def published_by_number(self, states: Collection[str], number: str) -> list[RecallRow]:
        """The recalls in these states with this number, newest first; when none, those
        without a number whose event is `number` (a recall without one is known so)."""
        numbered = select(RecallRow).where(RecallRow.state.in_(states))
        rows = self._newest(numbered.where(RecallRow.recall_number == number))
        if rows:
            return rows
        return self._newest(numbered.where(RecallRow.recall_number.is_(None),
                                           RecallRow.event_id == number))

    def any_in(self, states: Collection[str]) -> bool:
        return self.session.execute(
            select(RecallRow.id).where(RecallRow.state.in_(states)).limit(1)).first() \
            is not None

    def descriptions(self, states: Collection[str]) -> list[tuple[int, str]]:
        """(recall id, product description) of every product of the recalls in these
        states."""
        return [(int(recall_id), str(text)) for recall_id, text in self.session.execute(
            select(RecallProductRow.recall_id, RecallProductRow.description)
            .join(RecallRow, RecallRow.id == RecallProductRow.recall_id)
            .where(RecallRow.state.in_(states)))]

    def newest_of(self, ids: Collection[int]) -> list[RecallRow]:
        """These recalls, newest first."""
        wanted = sorted(set(ids))
        rows = [row for chunk in _chunks(wanted)
                for row in self.session.execute(
                    select(RecallRow).where(RecallRow.id.in_(chunk))).scalars()]
        return sorted(rows, key=lambda row: row.id, reverse=True)

    def pharmacy_lots(self, pharmacy_id: int) -> list[tuple[str, str, str, str | None]]:
        """(code system, product code, lot number, manufacturer's name) of every lot a
        pharmacy holds (stock above zero) or dispensed."""
        held = select(Stock.lot_id).where(Stock.pharmacy_id == pharmacy_id, Stock.quantity > 0)
        given = select(Dispensing.lot_id).where(Dispensing.pharmacy_id == pharmacy_id)
        rows = self.session.execute(
            select(Product.code_system, Product.code, Lot.lot_number, Organisation.name)
            .join(Product, Product.id == Lot.product_id)
            .outerjoin(Organisation, Organisation.id == Product.manufacturer_id)
            .where(or_(Lot.id.in_(held), Lot.id.in_(given)))).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def for_consignee(self, visible: ColumnElement[bool], states: Collection[str], *,
                      ndcs: Collection[str] | None, firm_lots: Collection[tuple[str, str]]
                      ) -> list[RecallRow]:
        """Candidates for the recalls that concern one consignee, newest first: those in
        these states that name one of its NDCs (a product's or a lot's: matching rules 1,
        3, 5), or whose firm is the maker of one of its lots and which recall that lot's
        key untied to any NDC (rule 6; `firm_lots`: (firm name in lower case, lot key)).
        `ndcs` None: too many to list, every recall is a candidate. Candidates only: the
        match decides."""
        query = select(RecallRow).where(visible, RecallRow.state.in_(states))
        if ndcs is None:
            return self._newest(query)
        clauses: list[ColumnElement[bool]] = []
        if ndcs:
            codes = sorted(ndcs)
            by_product = (select(RecallProductRow.recall_id)
                          .join(RecallProductNdc,
                                RecallProductNdc.product_id == RecallProductRow.id)
                          .where(RecallProductNdc.ndc.in_(codes)))
            by_lot = select(RecallLotRow.recall_id).where(RecallLotRow.ndc.in_(codes))
            clauses += [RecallRow.id.in_(by_product), RecallRow.id.in_(by_lot)]
        firms = sorted({firm for firm, _ in firm_lots})
        keys = sorted({key for _, key in firm_lots if key})
        if firms and keys and len(keys) <= CHUNK:
            untied = select(RecallLotRow.recall_id).where(RecallLotRow.ndc.is_(None),
                                                          RecallLotRow.lot_key.in_(keys))
            clauses.append(RecallRow.id.in_(untied)
                           & func.lower(func.trim(RecallRow.firm_name)).in_(firms))
        elif firms:
            clauses.append(func.lower(func.trim(RecallRow.firm_name)).in_(firms))
        if not clauses:
            return []
        return self._newest(query.where(or_(*clauses)))

    def _newest(self, query: Select[RecallRow]) -> list[RecallRow]:
        return list(self.session.execute(query.order_by(RecallRow.id.desc())).scalars())

    # -- writing ---------------------------------------------------------------------------

    def insert_records(self, records: Sequence[RecallRecord], extra: Sequence[Row]
                       ) -> list[int]:
        """Insert each record with its products and lots (`extra`: the other columns of
        each recall row: source, keys, author, times). Their new ids, in order."""
        if not records:
            return []
        ids = self._new_ids(RecallRow, len(records))
        self.session.execute(insert(_table(RecallRow)), [
            {**record_columns(record), **more, "id": recall_id}
            for recall_id, record, more in zip(ids, records, extra, strict=True)])
        self._insert_products(list(zip(ids, records, strict=True)))
        return ids

    def replace_records(self, changes: Sequence[tuple[int, RecallRecord]], extra: Row
                        ) -> None:
        """Rewrite these recalls' own fields, products and lots (an import's update)."""
        if not changes:
            return
        self.session.execute(update(RecallRow), [
            {"id": recall_id, **record_columns(record), **extra,
             "source_sha256": content_hash(record)} for recall_id, record in changes])
        self._delete_products([recall_id for recall_id, _ in changes])
        self._insert_products(changes)

    def update_fields(self, row: RecallRow, record: RecallRecord, at: datetime) -> None:
        """Write back the record's own fields (a step changed its state, class, strategy
        or dates; products and lots do not change after creation)."""
        for name, value in record_columns(record).items():
            setattr(row, name, value)
        row.updated_at = at
        self.session.flush()

    def _delete_products(self, recall_ids: Sequence[int]) -> None:
        for chunk in _chunks(recall_ids):
            products = select(RecallProductRow.id).where(RecallProductRow.recall_id.in_(chunk))
            self.session.execute(delete(RecallLotRow).where(RecallLotRow.recall_id.in_(chunk)))
            self.session.execute(delete(RecallProductNdc)
                                 .where(RecallProductNdc.product_id.in_(products)))
            self.session.execute(delete(RecallProductRow)
                                 .where(RecallProductRow.recall_id.in_(chunk)))

    def _insert_products(self, records: Sequence[tuple[int, RecallRecord]]) -> None:
        owners = [(recall_id, position, product) for recall_id, record in records
                  for position, product in enumerate(record.products)]
        ids = self._new_ids(RecallProductRow, len(owners))
        self.session.execute(insert(_table(RecallProductRow)), [
            {"id": product_id, "recall_id": recall_id, "position": position,
             "description": product.description, "quantity": product.quantity,
             "all_lots": product.all_lots, "code_info": product.code_info}
            for product_id, (recall_id, position, product) in zip(ids, owners, strict=True)])
        ndcs = [{"product_id": product_id, "position": position, "ndc": ndc}
                for product_id, (_, _, product) in zip(ids, owners, strict=True)
                for position, ndc in enumerate(product.ndcs)]
        lots = [{"recall_id": recall_id, "product_id": product_id, "position": position,
                 "lot_number": lot.number, "lot_key": lot_key(lot.number),
                 "expiry": lot.expiry, "ndc": lot.ndc}
                for product_id, (recall_id, _, product) in zip(ids, owners, strict=True)
                for position, lot in enumerate(product.lots)]
        if ndcs:
            self.session.execute(insert(_table(RecallProductNdc)), ndcs)
        if lots:
            self.session.execute(insert(_table(RecallLotRow)), lots)

    def _new_ids(self, model: type[RecallRow] | type[RecallProductRow], count: int
                 ) -> list[int]:
        """`count` ids after the largest held, given here so that rows go through the
        driver's executemany rather than INSERT … RETURNING one by one (as the case
        import does). On PostgreSQL the table is locked first, so that two writers never
        take the same ids (a SQLite transaction here already holds the write lock); these
        tables are only ever written through this method, so their sequences are never
        used."""
        table = model.__tablename__
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
        largest = self.session.execute(select(func.max(model.id))).scalar() or 0
        return list(range(largest + 1, largest + 1 + count))

    # -- history ---------------------------------------------------------------------------

    def add_step(self, step: RecallStep) -> RecallStep:
        return self.add(step)

    def steps(self, recall_id: int) -> list[RecallStep]:
        return list(self.session.execute(
            select(RecallStep).where(RecallStep.recall_id == recall_id)
            .order_by(RecallStep.id)).scalars())

    def step_times(self, recall_ids: Sequence[int], transition: str) -> dict[int, datetime]:
        """When each recall first took `transition` (e.g. its publication)."""
        if not recall_ids:
            return {}
        found: dict[int, datetime] = {}
        for recall_id, at in self.session.execute(
                select(RecallStep.recall_id, func.min(RecallStep.at))
                .where(RecallStep.recall_id.in_(recall_ids),
                       RecallStep.transition == transition)
                .group_by(RecallStep.recall_id)):
            found[recall_id] = at
        return found

    def add_report(self, recall_id: int, report: StatusReport, by: str,
                   at: datetime) -> RecallStatusReport:
        return self.add(RecallStatusReport(recall_id=recall_id, **report_columns(report),
                                           filed_by=by, filed_at=at))

    def reports(self, recall_id: int) -> list[RecallStatusReport]:
        return list(self.session.execute(
            select(RecallStatusReport).where(RecallStatusReport.recall_id == recall_id)
            .order_by(RecallStatusReport.id)).scalars())

    def termination_requests(self, recall_id: int) -> list[RecallTerminationRequest]:
        return list(self.session.execute(
            select(RecallTerminationRequest)
            .where(RecallTerminationRequest.recall_id == recall_id)
            .order_by(RecallTerminationRequest.id)).scalars())


def _table(model: type[Any]) -> Table:
    """The Core table, so bulk inserts skip the ORM's per-row bookkeeping."""
    table: Table = model.__table__
    return table


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


# -- investigations ------------------------------------------------------------------------

def investigation_columns(investigation: Investigation) -> Row:
    """The `investigations` columns that hold the domain object (not its children)."""
    origin, analysis = investigation.origin, investigation.analysis
    committee = investigation.committee
    return {
        "product": investigation.product, "origin_kind": origin.kind.value,
        "origin_signal_id": origin.signal_id,
        "origin": {"case_ids": list(origin.case_ids), "lots": list(origin.lots),
                   "description": origin.description},
        "state": investigation.state.value,
        "analysis": {"signal_ids": list(analysis.signal_ids),
                     "case_ids": list(analysis.case_ids), "run_ids": list(analysis.run_ids),
                     "summary": analysis.summary},
        "hazard": _json(investigation.hazard), "benefit_risk": _json(investigation.benefit_risk),
        "decision": _json(investigation.decision),
        "committee_rules": None if committee is None else
        {"waivers_allow_voting": committee.rules.waivers_allow_voting,
         "quorum": committee.rules.quorum},
        "recommendation": None if committee is None else committee.recommendation,
    }


def _json(value: Any) -> dict[str, Any] | None:
    """A flat domain dataclass as JSON-ready values (enums as their values)."""
    if value is None:
        return None
    return {name: (list(v) if isinstance(v, tuple) else
                   v.value if hasattr(v, "value") else
                   v.isoformat() if isinstance(v, date) else v)
            for name, v in asdict(value).items()}


def _hazard(data: Mapping[str, Any] | None) -> HazardEvaluation | None:
    if data is None:
        return None
    proposed = data["proposed_class"]
    return HazardEvaluation(
        injuries_occurred=data["injuries_occurred"], injuries=data["injuries"],
        exposure_conditions=data["exposure_conditions"],
        populations_at_risk=tuple(data["populations_at_risk"]),
        seriousness=data["seriousness"], likelihood=data["likelihood"],
        consequences=data["consequences"],
        proposed_class=RecallClass(proposed) if proposed else None)


def _benefit_risk(data: Mapping[str, Any] | None) -> BenefitRisk | None:
    if data is None:
        return None
    return BenefitRisk(condition_severity=data["condition_severity"],
                       alternatives=data["alternatives"],
                       safety_profile=data["safety_profile"])


def _decision(data: Mapping[str, Any] | None) -> Decision | None:
    if data is None:
        return None
    proposed = data["proposed_class"]
    return Decision(kind=DecisionKind(data["kind"]), rationale=data["rationale"],
                    proposed_class=RecallClass(proposed) if proposed else None)


class InvestigationRepository(Repository):
    def get(self, investigation_id: int, visible: ColumnElement[bool]
            ) -> InvestigationRow | None:
        return self.session.execute(select(InvestigationRow).where(
            InvestigationRow.id == investigation_id, visible)).scalar_one_or_none()

    def page(self, query: Select[InvestigationRow], offset: int, limit: int
             ) -> tuple[list[InvestigationRow], int]:
        return self._scalar_page(query, [InvestigationRow.id.desc()], offset, limit)

    def load(self, row: InvestigationRow) -> Investigation:
        """The domain object the row and its children hold."""
        origin, analysis = row.origin, row.analysis
        tests = tuple(
            LotTest(lot=t.lot, test=t.test, result=t.result, specification=t.specification,
                    passed=t.passed, tested_on=t.tested_on)
            for t in self.session.execute(
                select(InvestigationLotTest)
                .where(InvestigationLotTest.investigation_id == row.id)
                .order_by(InvestigationLotTest.id)).scalars())
        return Investigation(
            id=str(row.id), product=row.product,
            origin=Origin(kind=OriginKind(row.origin_kind), signal_id=row.origin_signal_id,
                          case_ids=tuple(_strings(origin, "case_ids")),
                          lots=tuple(_strings(origin, "lots")),
                          description=str(origin.get("description", ""))),
            state=InvestigationState(row.state),
            analysis=Analysis(signal_ids=tuple(_strings(analysis, "signal_ids")),
                              case_ids=tuple(_strings(analysis, "case_ids")),
                              run_ids=tuple(_strings(analysis, "run_ids")),
                              summary=str(analysis.get("summary", ""))),
            lot_tests=tests, hazard=_hazard(row.hazard),
            benefit_risk=_benefit_risk(row.benefit_risk),
            committee=self._committee(row), decision=_decision(row.decision))

    def _committee(self, row: InvestigationRow) -> Committee | None:
        if row.committee_rules is None:
            return None
        members = list(self.session.execute(
            select(CommitteeMember).where(CommitteeMember.investigation_id == row.id)
            .order_by(CommitteeMember.position)).scalars())
        conflicts: dict[int, list[DeclaredConflict]] = {}
        for conflict in self.session.execute(
                select(CommitteeConflict)
                .where(CommitteeConflict.member_id.in_([m.id for m in members]))
                .order_by(CommitteeConflict.id)).scalars():
            conflicts.setdefault(conflict.member_id, []).append(
                DeclaredConflict(product=conflict.product, nature=conflict.nature))
        questions = self.session.execute(
            select(CommitteeQuestion).where(CommitteeQuestion.investigation_id == row.id)
            .order_by(CommitteeQuestion.position)).scalars()
        votes = self.session.execute(
            select(CommitteeVote).where(CommitteeVote.investigation_id == row.id)
            .order_by(CommitteeVote.id)).scalars()
        rules = row.committee_rules
        quorum = rules.get("quorum")
        return Committee(
            members=tuple(Member(name=m.name, conflicts=tuple(conflicts.get(m.id, ())),
                                 waiver=m.waiver) for m in members),
            questions=tuple(Question(key=q.key, text=q.text) for q in questions),
            rules=CommitteeRules(waivers_allow_voting=bool(rules.get("waivers_allow_voting")),
                                 quorum=int(quorum) if isinstance(quorum, int) else None),
            votes=tuple(Vote(member=v.member, question=v.question, choice=Choice(v.choice))
                        for v in votes),
            recommendation=row.recommendation)

    def add_new(self, investigation: Investigation, *, organisation_id: int | None,
                by: str, at: datetime) -> InvestigationRow:
        """Store a newly opened investigation (the domain id is then the row's id)."""
        return self.add(InvestigationRow(**investigation_columns(investigation),
                                         organisation_id=organisation_id, opened_by=by,
                                         opened_at=at, updated_at=at))

    def save(self, row: InvestigationRow, before: Investigation, after: Investigation, *,
             by: str, at: datetime) -> None:
        """Write `after` over `before`: the columns, the new lot tests and votes (both only
        ever grow), and the committee's members and questions when they changed."""
        for name, value in investigation_columns(after).items():
            setattr(row, name, value)
        row.updated_at = at
        for test in after.lot_tests[len(before.lot_tests):]:
            self.session.add(InvestigationLotTest(
                investigation_id=row.id, lot=test.lot, test=test.test, result=test.result,
                specification=test.specification, passed=test.passed,
                tested_on=test.tested_on, recorded_by=by, recorded_at=at))
        old, new = before.committee, after.committee
        if new is not None:
            if old is None or (old.members, old.questions) != (new.members, new.questions):
                self._write_committee(row.id, new, replace=old is not None)
            for vote in new.votes[len(old.votes) if old is not None else 0:]:
                self.session.add(CommitteeVote(
                    investigation_id=row.id, member=vote.member, question=vote.question,
                    choice=vote.choice.value, recorded_by=by, recorded_at=at))
        self.session.flush()

    def _write_committee(self, investigation_id: int, committee: Committee, *,
                         replace: bool) -> None:
        if replace:
            members = select(CommitteeMember.id).where(
                CommitteeMember.investigation_id == investigation_id)
            self.session.execute(delete(CommitteeConflict)
                                 .where(CommitteeConflict.member_id.in_(members)))
            for table in (CommitteeMember, CommitteeQuestion):
                self.session.execute(delete(table)
                                     .where(table.investigation_id == investigation_id))
        for position, member in enumerate(committee.members):
            stored = self.add(CommitteeMember(investigation_id=investigation_id,
                                              position=position, name=member.name,
                                              waiver=member.waiver))
            for conflict in member.conflicts:
                self.session.add(CommitteeConflict(member_id=stored.id,
                                                   product=conflict.product,
                                                   nature=conflict.nature))
        for position, question in enumerate(committee.questions):
            self.session.add(CommitteeQuestion(investigation_id=investigation_id,
                                               position=position, key=question.key,
                                               text=question.text))


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    return [str(v) for v in data.get(key, ())]
