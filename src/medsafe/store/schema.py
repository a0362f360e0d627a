"""The relational schema (SQLAlchemy 2 declarative). Alembic migrations in
`store/migrations` create exactly these tables; `tests/integration/test_migrations.py`
checks that the two never drift apart.

Conventions: integer surrogate keys; public identifiers where people see them (patient
pseudonyms, usernames); knowledge-base facts are referred to by their stable ids
(`ingredient_id` = 'baclofen', `condition_id` = 'multiple-sclerosis'), never copied.
Contact details live in their own table so that clinical queries never touch them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    # manufacturer, wholesaler, pharmacy, clinic, regulator
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("kind", "name"),)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # admin, regulator, manufacturer, pharmacist, physician, patient
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BrowserSession(Base):
    __tablename__ = "browser_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    __tablename__ = "api_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(40), unique=True)
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(10))
    pregnant: Mapped[bool | None] = mapped_column(Boolean)
    preferred_route: Mapped[str | None] = mapped_column(String(12))
    avoid_side_effects: Mapped[list[str]] = mapped_column(JSON, default=list)
    symptom_severity: Mapped[str | None] = mapped_column(String(10))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The recall query joins thousands of dispensed patient ids to their pseudonyms: a
    # covering index answers it from the index alone and keeps PostgreSQL's planner on
    # index lookups instead of a scan of every patient (measured in bench_store).
    __table_args__ = (Index("ix_patients_id_pseudonym", "id", "pseudonym"),)


class PatientContact(Base):
    """Identifying contact details, apart from clinical data."""

    __tablename__ = "patient_contacts"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(Text)


class PatientCondition(Base):
    __tablename__ = "patient_conditions"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    code_system: Mapped[str | None] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PatientAllergy(Base):
    __tablename__ = "patient_allergies"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    code_system: Mapped[str | None] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(40))
    reaction: Mapped[str | None] = mapped_column(String(200))


class PatientObservation(Base):
    __tablename__ = "patient_observations"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    # egfr, crcl, creatinine, alt, ast, bilirubin, child-pugh
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(30))
    upper_limit: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(10))
    observed_on: Mapped[date] = mapped_column(Date)


class PatientMedication(Base):
    """A medicine the patient takes that medsafe did not prescribe (other prescribers, OTC)."""

    __tablename__ = "patient_medications"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    rxnorm: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CareRelationship(Base):
    """Who looks after whom: a physician (user) or a pharmacy (organisation) and a patient."""

    __tablename__ = "care_relationships"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    physician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    pharmacy_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    code_system: Mapped[str] = mapped_column(String(10))  # ndc gtin other
    name: Mapped[str] = mapped_column(String(200))
    ingredient_id: Mapped[str] = mapped_column(String(60), index=True)
    strength: Mapped[str | None] = mapped_column(String(60))
    form: Mapped[str | None] = mapped_column(String(60))
    route: Mapped[str | None] = mapped_column(String(20))
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    __table_args__ = (UniqueConstraint("code_system", "code"),)


class Lot(Base):
    __tablename__ = "lots"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    lot_number: Mapped[str] = mapped_column(String(60))
    expiry: Mapped[date | None] = mapped_column(Date)
    __table_args__ = (UniqueConstraint("product_id", "lot_number"),)


class Stock(Base):
    __tablename__ = "stock"
    id: Mapped[int] = mapped_column(primary_key=True)
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("pharmacy_id", "lot_id"),)


class Prescription(Base):
    __tablename__ = "prescriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    prescriber_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    ingredient_id: Mapped[str] = mapped_column(String(60))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    dose_text: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))  # active stopped completed
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)


class Dispensing(Base):
    __tablename__ = "dispensings"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    dispensed_on: Mapped[date] = mapped_column(Date)
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    prescriber_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    prescription_id: Mapped[int | None] = mapped_column(ForeignKey("prescriptions.id"))
    # "All patients who received lot X" is the recall query: (lot_id, patient_id) answers it
    # from the index alone. Patient and pharmacy histories get their own indexes.
    __table_args__ = (
        Index("ix_dispensings_lot_patient", "lot_id", "patient_id"),
        Index("ix_dispensings_patient_date", "patient_id", "dispensed_on"),
        Index("ix_dispensings_pharmacy_date", "pharmacy_id", "dispensed_on"),
    )


class Case(Base):
    """An adverse-event case: one row per worldwide unique case id (E2B C.1.8.1), with
    what the workflow and the inbox need about its current version. The versions
    themselves, with their full content, are in `case_versions`."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    worldwide_id: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer)  # the current (latest) version
    source: Mapped[str] = mapped_column(String(20))  # form e2b fhir faers vaers population
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    qualification: Mapped[str] = mapped_column(String(30))
    valid: Mapped[bool] = mapped_column(Boolean)
    invalid_reasons: Mapped[str | None] = mapped_column(Text)  # "; "-joined
    serious: Mapped[bool] = mapped_column(Boolean)
    expedited: Mapped[bool] = mapped_column(Boolean)  # serious and unexpected
    nullified: Mapped[bool] = mapped_column(Boolean, default=False)
    first_received: Mapped[date] = mapped_column(Date)
    latest_received: Mapped[date] = mapped_column(Date)
    day_zero: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    primary_term: Mapped[str] = mapped_column(String(250))
    primary_suspect: Mapped[str] = mapped_column(String(250))
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    follow_up_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseVersion(Base):
    """Every version of every case, never changed once written: the history."""

    __tablename__ = "case_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # initial follow_up nullification
    significant: Mapped[bool] = mapped_column(Boolean)
    changes: Mapped[str | None] = mapped_column(Text)  # "; "-joined significant changes
    received_on: Mapped[date] = mapped_column(Date)  # C.1.5 of this version
    sha256: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the CaseReport as canonical JSON
    source: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    __table_args__ = (UniqueConstraint("case_id", "version"),)


class CaseDrug(Base):
    """The drugs of each case's current version, one row per lot: the index that
    signal detection, lot clusters and manufacturers' views query."""

    __tablename__ = "case_drugs"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    drug_key: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20))
    product_name: Mapped[str] = mapped_column(String(250))
    ingredient_id: Mapped[str | None] = mapped_column(String(60), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    lot_number: Mapped[str | None] = mapped_column(String(60))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), index=True)


class CaseReaction(Base):
    """The reactions of each case's current version, with their terminology."""

    __tablename__ = "case_reactions"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reaction_key: Mapped[str] = mapped_column(String(40))
    term: Mapped[str] = mapped_column(String(250), index=True)
    code: Mapped[str | None] = mapped_column(String(40))
    terminology: Mapped[str | None] = mapped_column(String(80))
    terminology_version: Mapped[str | None] = mapped_column(String(20))
    serious: Mapped[bool] = mapped_column(Boolean)


class CaseSubmission(Base):
    """An outbound E2B(R3) message for one version of a case, and its acknowledgement."""

    __tablename__ = "case_submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    receiver: Mapped[str] = mapped_column(String(100))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message: Mapped[str] = mapped_column(Text)
    ack_status: Mapped[str] = mapped_column(String(20))  # pending accepted rejected
    ack_detail: Mapped[str | None] = mapped_column(Text)
    ack_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CaseDuplicate(Base):
    """A probable duplicate pair, for a person to confirm or reject."""

    __tablename__ = "case_duplicates"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    other_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text)  # JSON: contribution per field
    status: Mapped[str] = mapped_column(String(20))  # suggested confirmed rejected
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("case_id", "other_case_id"),)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("user_id", "key"),)


class AuditEvent(Base):
    """Append-only and hash-chained: `hash` = SHA-256 over the canonical serialisation of
    the event and `prev_hash` (see security/audit.py). `seq` and `prev_hash` are unique, so
    two writers can never both extend the same head: the chain cannot fork."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80))
    entity: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(80))
    changes: Mapped[str] = mapped_column(Text)  # canonical JSON
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    __table_args__ = (Index("ix_audit_events_entity", "entity", "entity_id"),)


class AuditHead(Base):
    """One row: the chain's current head, locked by each writer (SELECT … FOR UPDATE on
    PostgreSQL; SQLite's write lock serialises writers)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class SignalRun(Base):
    """A stored detection run: what was read, how (parameters as JSON), the prior it
    used (JSON: alpha1, beta1, alpha2, beta2, p and the fit's report), and what it found.
    Every pair it scored is in `signal_pairs`."""

    __tablename__ = "signal_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    input: Mapped[str] = mapped_column(String(500))  # a path, or "case store"
    input_format: Mapped[str] = mapped_column(String(20))  # csv parquet vaers faers cases
    axis: Mapped[str] = mapped_column(String(20))  # ingredient product lot (or drug)
    parameters: Mapped[str] = mapped_column(Text)  # JSON
    prior: Mapped[str] = mapped_column(Text)  # JSON
    loglik: Mapped[float | None] = mapped_column(Float)  # None when a prior was given
    converged: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(Text)  # the fit's notes, "; "-joined
    reports: Mapped[int] = mapped_column(Integer)
    pairs: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(80))  # username, as in the audit trail
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float] = mapped_column(Float)


class SignalPair(Base):
    """Every drug-event pair a run scored, with every statistic (`signals.score.COLUMNS`).
    A statistic that cannot be formed (NaN) is NULL; a ratio over a zero cell is +inf.
    The key (run, drug, event) is also the index every lookup uses, including by run."""

    __tablename__ = "signal_pairs"
    run_id: Mapped[int] = mapped_column(ForeignKey("signal_runs.id"), primary_key=True)
    drug: Mapped[str] = mapped_column(String(320), primary_key=True)
    event: Mapped[str] = mapped_column(String(250), primary_key=True)
    n: Mapped[float] = mapped_column(Float)
    e: Mapped[float] = mapped_column(Float)
    prr: Mapped[float | None] = mapped_column(Float)
    prr_lo: Mapped[float | None] = mapped_column(Float)
    prr_hi: Mapped[float | None] = mapped_column(Float)
    chi2: Mapped[float | None] = mapped_column(Float)
    ror: Mapped[float | None] = mapped_column(Float)
    ror_lo: Mapped[float | None] = mapped_column(Float)
    ror_hi: Mapped[float | None] = mapped_column(Float)
    ic: Mapped[float | None] = mapped_column(Float)
    ic025: Mapped[float | None] = mapped_column(Float)
    ic975: Mapped[float | None] = mapped_column(Float)
    ebgm: Mapped[float | None] = mapped_column(Float)
    eb05: Mapped[float | None] = mapped_column(Float)
    eb95: Mapped[float | None] = mapped_column(Float)
    signal: Mapped[bool] = mapped_column(Boolean)
    signal_by: Mapped[str] = mapped_column(String(40))


class Signal(Base):
    """A candidate signal: one per drug x event x drug axis, created by the first run
    that flags the pair, then moved through its lifecycle (`signals.lifecycle`) by
    people. Its statistics are those of the latest run that scored the pair; its steps
    are in the audit trail (entity "signal")."""

    __tablename__ = "signals"
    id: Mapped[int] = mapped_column(primary_key=True)
    axis: Mapped[str] = mapped_column(String(20))
    drug: Mapped[str] = mapped_column(String(320))
    event: Mapped[str] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(20), index=True)
    conclusion: Mapped[str | None] = mapped_column(Text)
    first_run_id: Mapped[int] = mapped_column(ForeignKey("signal_runs.id"))
    latest_run_id: Mapped[int] = mapped_column(ForeignKey("signal_runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("axis", "drug", "event"),)


class OutboxMessage(Base):
    """A notice waiting to be delivered, or delivered: written in the same transaction as
    the use case that causes it, delivered afterwards by `medsafe notify run` (at least
    once; `message_id` is fixed when the row is written, so a redelivery carries the same
    Message-ID and the recipient can recognise it). See docs/notify.md."""

    __tablename__ = "outbox_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)  # <hex@host>
    channel: Mapped[str] = mapped_column(String(10))  # email webhook
    recipient: Mapped[str] = mapped_column(String(2000))  # an address or a URL
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    ack_token: Mapped[str | None] = mapped_column(String(100), unique=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    topic: Mapped[str] = mapped_column(String(100), index=True)  # e.g. recall:D-0123-2021
    audience: Mapped[str] = mapped_column(String(20))  # pharmacy prescriber patient …
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10))  # pending delivered dead
    attempts: Mapped[int] = mapped_column(Integer)  # failed attempts so far
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # next attempt
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # lease
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The dispatcher's claim takes the first pending rows in (available_at, id) order: this
    # index hands them over in that order, so a claim reads about a batch of rows instead
    # of sorting the whole backlog, and never reads delivered rows (PostgreSQL, 10,000
    # pending: 3 ms to sort them all for 100, 0.1 ms to walk the index).
    __table_args__ = (Index("ix_outbox_messages_due", "status", "available_at", "id"),)
