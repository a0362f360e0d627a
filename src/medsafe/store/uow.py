"""The unit of work: one use case, one transaction.

    with uow_factory() as uow:
        ...            # read and write through uow.session and the repositories
        uow.commit()   # nothing is written unless the use case says so

Leaving the block without `commit()` (or with an exception) rolls everything back, so a
use case that fails half-way leaves no partial writes.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from medsafe.store.repositories import (
    AffectedRepository,
    AuditEventRepository,
    CareReviewRepository,
    CaseRepository,
    CdsRepository,
    DispensingRepository,
    EffectivenessRepository,
    InvestigationRepository,
    MonitoringRepository,
    OrganisationRepository,
    OutboxRepository,
    PatientRepository,
    PrescriptionRepository,
    ProductRepository,
    RecallNoticeRepository,
    RecallRepository,
    SignalRepository,
    StockRepository,
    UserRepository,
)


class UnitOfWork:
    # The repositories, bound to this unit of work's session on __enter__.
    patients: PatientRepository
    organisations: OrganisationRepository
    users: UserRepository
    products: ProductRepository
    stock: StockRepository
    prescriptions: PrescriptionRepository
    dispensings: DispensingRepository
    audit_events: AuditEventRepository
    cases: CaseRepository
    signals: SignalRepository
    outbox: OutboxRepository
    investigations: InvestigationRepository
    recalls: RecallRepository
    affected: AffectedRepository  # who holds and who received a recall's lots
    recall_notices: RecallNoticeRepository  # who a recall told, and the tasks it gave
    care_reviews: CareReviewRepository  # alternatives proposed and the prescriber's decision
    monitoring: MonitoringRepository  # monitoring plans, check-ins, diaries, alerts
    effectiveness: EffectivenessRepository  # a recall's returns, reach and checks, counted
    cds: CdsRepository  # CDS Hooks cards shown and the feedback on them

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory
        self._session: Session | None = None
        self.committed = False
        self._before_commit: list[Callable[[], None]] = []
        self.created: list[object] = []  # rows a use case created, for the caller's reply

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work used outside its 'with' block")
        return self._session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def __enter__(self) -> UnitOfWork:
        session = self._session = self._session_factory()
        self.patients = PatientRepository(session)
        self.organisations = OrganisationRepository(session)
        self.users = UserRepository(session)
        self.products = ProductRepository(session)
        self.stock = StockRepository(session)
        self.prescriptions = PrescriptionRepository(session)
        self.dispensings = DispensingRepository(session)
        self.audit_events = AuditEventRepository(session)
        self.cases = CaseRepository(session)
        self.signals = SignalRepository(session)
        self.outbox = OutboxRepository(session)
        self.investigations = InvestigationRepository(session)
        self.recalls = RecallRepository(session)
        self.affected = AffectedRepository(session)
        self.recall_notices = RecallNoticeRepository(session)
        self.care_reviews = CareReviewRepository(session)
        self.monitoring = MonitoringRepository(session)
        self.effectiveness = EffectivenessRepository(session)
        self.cds = CdsRepository(session)
        self.committed = False
        self._before_commit = []
        self.created = []
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._session is not None
        try:
            if not self.committed:
                self._session.rollback()
        finally:
            self._session.close()
            self._session = None

    def flush(self) -> None:
        self.session.flush()

    def release(self) -> None:
        """End the current transaction without writing anything. A use case that has read
        what it needs calls this before a long computation: on SQLite a transaction holds
        the database's write lock (BEGIN IMMEDIATE), and every other request would wait.
        Rows read before are expired; read what you need into plain values first."""
        self.session.rollback()

    def before_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` inside this transaction just before it commits (the API uses it to
        store an idempotency record atomically with what the request created)."""
        self._before_commit.append(hook)

    def commit(self) -> None:
        for hook in self._before_commit:
            hook()
        self._before_commit = []
        self.session.commit()
        self.committed = True


UowFactory = Callable[[], UnitOfWork]


def uow_factory(engine: Engine) -> UowFactory:
    sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
    return lambda: UnitOfWork(sessions)
