"""Signal management's SQL: stored runs, the pairs each run scored (bulk Core inserts),
the candidate signals, and the case store read as one Arrow table for counting.

The drug of a case is named per axis, here and only here, so that counting, the case
series behind a signal and a manufacturer's view of its own signals all agree:
- ingredient: the ingredient the knowledge base recognised (`case_drugs.ingredient_id`),
  else the product name as reported, so that a report whose drugs are unknown still
  counts in the background;
- product: the name of the medsafe product the report names, else the product name as
  reported;
- lot: the product, then " lot " and the lot number ("Baclofen 10 mg tablets lot
  SYN-B10-00007"); a drug reported without a lot keeps its product's name, so its report
  still counts, on no lot.
Only suspect and interacting drugs count (as in the line listing): a concomitant drug is
not suspected of the reaction. A run may count only the cases about one ingredient
(`within`), to compare its lots or products with each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypeVarTuple, get_args

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    DateTime,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import InstrumentedAttribute, Session

from medsafe.cases.model import SUSPECT_ROLES, AgeUnit, PatientInfo
from medsafe.store.repositories.base import Repository
from medsafe.store.schema import (
    Case,
    CaseDrug,
    CaseReaction,
    CaseVersion,
    Product,
    Signal,
    SignalPair,
    SignalRun,
)

if TYPE_CHECKING:
    import pyarrow as pa

Axis = Literal["ingredient", "product", "lot"]
AXES: tuple[str, ...] = get_args(Axis)
LOT_SEPARATOR = " lot "
Ts = TypeVarTuple("Ts")
Text = ColumnElement[Any] | InstrumentedAttribute[Any]  # a text column or expression
PAIR_BATCH = 50_000  # pair rows per batch: bounded memory for runs of millions of pairs
STREAM_BATCH = 20_000  # pair rows per executemany: bounded memory for runs of millions of pairs


def lot_label(product_name: Text, lot_number: Text) -> ColumnElement[str]:
    """How a lot is named on the lot axis (SQL)."""
    return product_name + LOT_SEPARATOR + lot_number


def drug_label(axis: str) -> ColumnElement[str]:
    """The drug of a `case_drugs` row on this axis (SQL over CaseDrug outer-joined to
    Product)."""
    product = func.coalesce(Product.name, CaseDrug.product_name)
    if axis == "ingredient":
        return func.coalesce(CaseDrug.ingredient_id, CaseDrug.product_name)
    if axis == "product":
        return product
    if axis == "lot":
        no_lot = CaseDrug.lot_number.is_(None) | (CaseDrug.lot_number == "")
        return case((no_lot, product), else_=lot_label(product, CaseDrug.lot_number))
    raise ValueError(f"unknown drug axis '{axis}'")


def counted_cases(within: str | None = None) -> ColumnElement[bool]:
    """The cases detection counts: each case once, by its current version, when that
    version is valid (E2B minimum criteria met), not nullified, and the case is not a
    duplicate merged into another; `within` an ingredient, only the cases with that
    ingredient as a suspect."""
    counted = and_(Case.valid.is_(True), Case.nullified.is_(False),
                   Case.merged_into_id.is_(None))
    if within is None:
        return counted
    return and_(counted, Case.id.in_(
        select(CaseDrug.case_id).where(CaseDrug.ingredient_id == within,
                                       CaseDrug.role.in_(sorted(SUSPECT_ROLES)))))


def _suspect_drugs(axis: str, within: str | None) -> Select[int, str]:
    label = drug_label(axis).label("drug")
    return (select(CaseDrug.case_id, label)
            .outerjoin(Product, Product.id == CaseDrug.product_id)
            .join(Case, Case.id == CaseDrug.case_id)
            .where(counted_cases(within), CaseDrug.role.in_(sorted(SUSPECT_ROLES)))
            .distinct())


def case_ids_with(axis: str, drug: str, event: str) -> Select[int]:
    """The ids of the counted cases whose current version has this drug (on this axis)
    as a suspect and this event: the case series behind a pair."""
    drugs = (select(CaseDrug.case_id)
             .outerjoin(Product, Product.id == CaseDrug.product_id)
             .where(CaseDrug.role.in_(sorted(SUSPECT_ROLES)), drug_label(axis) == drug))
    events = select(CaseReaction.case_id).where(CaseReaction.term == event)
    return select(Case.id).where(counted_cases(), Case.id.in_(drugs), Case.id.in_(events))


def _patient(dialect: str) -> ColumnElement[Any]:
    """The patient part (E2B D) of each current version's JSON, parsed by the database."""
    if dialect == "postgresql":
        return cast(CaseVersion.payload, JSONB)["patient"]
    return func.json_extract(CaseVersion.payload, "$.patient")


def case_store_table(session: Session, axis: str, *, within: str | None = None
                     ) -> pa.Table:
    """The case store as a long table for counting: one row per counted case x suspect
    drug (named per `axis`) x reaction term, with the columns report (the case id as
    text), drug, event, received (the day the current version was received), sex,
    age_group (the bands of `signals.sources`) and year (of receipt). `within` an
    ingredient, only the cases about it (see `counted_cases`).

    Three bulk Core reads (cases, drugs, reactions), joined in DuckDB: the database never
    builds the drug x reaction product, and no ORM object is made."""
    import duckdb
    import pyarrow as pa

    from medsafe.signals.sources import AGE_GROUP_SQL

    if axis not in AXES:
        raise ValueError(f"unknown drug axis '{axis}'")
    dialect = session.get_bind().dialect.name
    ids: list[int] = []
    received: list[Any] = []
    sexes: list[str] = []
    ages: list[float | None] = []
    cases = (select(Case.id, Case.latest_received, _patient(dialect))
             .join(CaseVersion, (CaseVersion.case_id == Case.id)
                   & (CaseVersion.version == Case.version))
             .where(counted_cases(within)))
    for case_id, day, patient in _stream(session, cases):
        found = patient if isinstance(patient, dict) else json.loads(patient or "{}")
        ids.append(case_id)
        received.append(day)
        sexes.append(found.get("sex") or "unknown")
        ages.append(_years(found.get("age"), found.get("age_unit")))
    reports = pa.table({"case_id": pa.array(ids, pa.int64()),
                        "received": pa.array(received, pa.date32()),
                        "sex": pa.array(sexes, pa.string()),
                        "age": pa.array(ages, pa.float64())})
    drugs = _columns(session, _suspect_drugs(axis, within), ("case_id", "drug"))
    events = _columns(session, select(CaseReaction.case_id, CaseReaction.term.label("event"))
                      .join(Case, Case.id == CaseReaction.case_id)
                      .where(counted_cases(within)).distinct(), ("case_id", "event"))
    with duckdb.connect() as connection:
        for name, part in (("reports", reports), ("drugs", drugs), ("events", events)):
            connection.register(name, part)
        table: pa.Table = connection.sql(f"""
            SELECT CAST(r.case_id AS VARCHAR) AS report, d.drug, v.event, r.received,
                   r.sex, {AGE_GROUP_SQL.format(age="r.age")} AS age_group,
                   CAST(year(r.received) AS VARCHAR) AS year
            FROM drugs d JOIN events v USING (case_id)
            JOIN reports r USING (case_id)""").to_arrow_table()
    return table


def _stream(session: Session, query: Select[*Ts]) -> Iterator[Sequence[Any]]:
    """The rows of a large query, in batches (a server-side cursor on PostgreSQL), through
    the session's Core connection: plain tuples, none of the ORM's per-row work."""
    result = session.connection().execute(query.execution_options(stream_results=True))
    for partition in result.partitions(STREAM_BATCH):
        yield from partition


@lru_cache(maxsize=4096)
def _years(age: float | None, unit: AgeUnit | None) -> float | None:
    """A reported age in years; ages repeat, so each (age, unit) is converted once."""
    return PatientInfo.model_construct(age=age, age_unit=unit).age_in_years()


def _columns(session: Session, query: Select[*Ts], names: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    columns: list[list[Any]] = [[] for _ in names]
    for row in _stream(session, query):
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    types = [pa.int64() if name == "case_id" else pa.string() for name in names]
    return pa.table({name: pa.array(values, kind)
                     for name, values, kind in zip(names, columns, types, strict=True)})


class SignalRepository(Repository):
    # Runs
    def add_run(self, run: SignalRun) -> SignalRun:
        return self.add(run)

    def run(self, run_id: int) -> SignalRun | None:
        return self.session.get(SignalRun, run_id)

    def runs(self, offset: int, limit: int) -> tuple[list[SignalRun], int]:
        return self._scalar_page(select(SignalRun), (SignalRun.id.desc(),), offset, limit)

    def new_signal_counts(self, run_ids: Sequence[int]) -> dict[int, int]:
        """How many signals each run created."""
        if not run_ids:
            return {}
        rows = self.session.execute(
            select(Signal.first_run_id, func.count()).where(Signal.first_run_id.in_(run_ids))
            .group_by(Signal.first_run_id)).all()
        return {row[0]: int(row[1]) for row in rows}

    # Pairs
    def insert_pairs(self, run_id: int, columns: Mapping[str, Any]) -> None:
        """Every scored pair of a run, in the session's transaction. `columns` maps each
        column of `signal_pairs` (but run_id) to its values (NumPy arrays or lists); NaN
        becomes NULL.

        A run over a national database scores a million pairs, so the rows go to the
        driver as plain tuples, in batches: PostgreSQL's COPY, SQLite's executemany
        (measured on 88,527 pairs: 15 s through SQLAlchemy's executemany on PostgreSQL,
        6 s on SQLite)."""
        names = ["run_id", *columns]
        unknown = set(names) - set(SignalPair.__table__.columns.keys())
        if unknown:
            raise ValueError(f"signal_pairs has no column {', '.join(sorted(unknown))}")
        size = len(next(iter(columns.values()), ()))
        connection = self.session.connection().connection.dbapi_connection
        if connection is None:
            raise RuntimeError("the session has no database connection")
        postgres = self.session.get_bind().dialect.name == "postgresql"
        listed = ", ".join(names)
        for start in range(0, size, PAIR_BATCH):
            stop = min(size, start + PAIR_BATCH)
            rows = zip([run_id] * (stop - start),
                       *(_plain(column[start:stop]) for column in columns.values()),
                       strict=True)
            cursor = connection.cursor()
            try:
                if postgres:
                    with cursor.copy(f"COPY signal_pairs ({listed}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    cursor.executemany(f"INSERT INTO signal_pairs ({listed}) VALUES "
                                       f"({', '.join('?' for _ in names)})", list(rows))
            finally:
                cursor.close()

    def pair(self, run_id: int, drug: str, event: str) -> SignalPair | None:
        return self.session.get(SignalPair, (run_id, drug, event))

    def pairs(self, run_id: int, visible: ColumnElement[bool], *, candidates_only: bool,
              offset: int, limit: int) -> tuple[list[SignalPair], int]:
        query = select(SignalPair).where(SignalPair.run_id == run_id, visible)
        if candidates_only:
            query = query.where(SignalPair.signal.is_(True))
        return self._scalar_page(query, (SignalPair.eb05.desc().nulls_last(),
                                         SignalPair.drug, SignalPair.event), offset, limit)

    # Signals
    def open_new_signals(self, run_id: int, axis: str, moment: datetime) -> int:
        """A `new` signal for each pair the run flagged that has no signal on this axis
        yet; then every signal whose pair the run scored points at this run. Returns how
        many signals were created."""
        if self.session.get_bind().dialect.name == "postgresql":
            # Two runs at once must not both open the same signal (SQLite transactions
            # here already hold the database's write lock).
            self.session.execute(text("LOCK TABLE signals IN SHARE ROW EXCLUSIVE MODE"))
        pair = SignalPair.__table__.c
        known = exists().where(Signal.axis == axis, Signal.drug == pair.drug,
                               Signal.event == pair.event)
        when = literal(moment, DateTime(timezone=True))
        flagged = (select(literal(axis, String), pair.drug, pair.event, literal("new", String),
                          literal(run_id), literal(run_id), when, when)
                   .where(pair.run_id == run_id, pair.signal.is_(True), ~known))
        self.session.execute(insert(Signal).from_select(
            ["axis", "drug", "event", "status", "first_run_id", "latest_run_id",
             "created_at", "updated_at"], flagged))
        scored = exists().where(pair.run_id == run_id, pair.drug == Signal.drug,
                                pair.event == Signal.event)
        self.session.execute(update(Signal).where(Signal.axis == axis, scored)
                             .values(latest_run_id=run_id)
                             .execution_options(synchronize_session=False))
        return self.new_signal_counts([run_id]).get(run_id, 0)

    def get(self, signal_id: int, visible: ColumnElement[bool]) -> Signal | None:
        return self.session.execute(
            select(Signal).where(Signal.id == signal_id, visible)).scalar_one_or_none()

    def page(self, query: Select[Signal, SignalPair], offset: int, limit: int
             ) -> tuple[list[tuple[Signal, SignalPair | None]], int]:
        """A page of signals with their pair's statistics (None when an outer join found
        none), highest EB05 first."""
        rows, total = self._page(query, (SignalPair.eb05.desc().nulls_last(), Signal.id),
                                 offset, limit)
        return [(row[0], row[1]) for row in rows], total

    def move(self, signal_id: int, status: str, values: Mapping[str, Any]) -> bool:
        """Update a signal that is still in `status`; False if another step came first."""
        result = self.session.execute(
            update(Signal).where(Signal.id == signal_id, Signal.status == status)
            .values(**values).execution_options(synchronize_session=False))
        self.session.expire_all()
        return isinstance(result, CursorResult) and result.rowcount == 1

    def cases(self, query: Select[Case], offset: int, limit: int
              ) -> tuple[list[Case], int]:
        """A page of a case series, newest first."""
        return self._scalar_page(query, (Case.latest_received.desc(), Case.id.desc()),
                                 offset, limit)


def _plain(values: Any) -> list[Any]:
    """Values as the database takes them: Python scalars, and NaN (a statistic that
    cannot be formed) as NULL; +inf stays (both databases hold it)."""
    found = values.tolist() if hasattr(values, "tolist") else list(values)
    return [None if isinstance(v, float) and v != v else v for v in found]
