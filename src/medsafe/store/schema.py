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
    # Where recall notices to a pharmacy or clinic go (none: it is not e-mailed).
    email: Mapped[str | None] = mapped_column(String(254))
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
    # Where a prescriber's recall notices go (none: the prescriber is not e-mailed).
    email: Mapped[str | None] = mapped_column(String(254))


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


# -- investigations and recalls (docs/recalls.md) ------------------------------------------
# The pure domain objects (recalls.investigation, recalls.model) are the source of truth;
# these rows store them and `store.repositories.recalls` turns one into the other both
# ways. Nested parts that are only ever read whole (the origin, the analysis references,
# the hazard evaluation, benefit-risk notes, the decision) are JSON; what is queried or
# listed on its own (lot tests, committee members, conflicts, questions, votes, products,
# lots, steps, status reports) has rows.


class InvestigationRow(Base):
    """An investigation (recalls.investigation.Investigation); its steps are in the audit
    trail (entity "investigation")."""

    __tablename__ = "investigations"
    id: Mapped[int] = mapped_column(primary_key=True)
    product: Mapped[str] = mapped_column(String(200))
    origin_kind: Mapped[str] = mapped_column(String(20))  # signal case_cluster quality_defect
    origin_signal_id: Mapped[str | None] = mapped_column(String(40))
    origin: Mapped[dict[str, object]] = mapped_column(JSON)  # case_ids, lots, description
    state: Mapped[str] = mapped_column(String(20), index=True)
    analysis: Mapped[dict[str, object]] = mapped_column(JSON)  # signal/case/run ids, summary
    hazard: Mapped[dict[str, object] | None] = mapped_column(JSON)  # the §7.41 factors
    benefit_risk: Mapped[dict[str, object] | None] = mapped_column(JSON)
    decision: Mapped[dict[str, object] | None] = mapped_column(JSON)  # kind, rationale, class
    # The advisory committee: its rules (None: no committee) and its recommendation.
    committee_rules: Mapped[dict[str, object] | None] = mapped_column(JSON)
    recommendation: Mapped[str | None] = mapped_column(Text)
    # Whose investigation it is: the firm's organisation, or the regulator's (None for an
    # administrator's own).
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"),
                                                        index=True)
    opened_by: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InvestigationLotTest(Base):
    __tablename__ = "investigation_lot_tests"
    id: Mapped[int] = mapped_column(primary_key=True)
    investigation_id: Mapped[int] = mapped_column(ForeignKey("investigations.id"),
                                                  index=True)
    lot: Mapped[str] = mapped_column(String(100))
    test: Mapped[str] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(500))
    specification: Mapped[str] = mapped_column(String(500))
    passed: Mapped[bool] = mapped_column(Boolean)
    tested_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CommitteeMember(Base):
    __tablename__ = "committee_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    investigation_id: Mapped[int] = mapped_column(ForeignKey("investigations.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    waiver: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("investigation_id", "name"),)


class CommitteeConflict(Base):
    """A conflict of interest a member declared, on a product."""

    __tablename__ = "committee_conflicts"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("committee_members.id"), index=True)
    product: Mapped[str] = mapped_column(String(200))
    nature: Mapped[str] = mapped_column(Text)


class CommitteeQuestion(Base):
    __tablename__ = "committee_questions"
    id: Mapped[int] = mapped_column(primary_key=True)
    investigation_id: Mapped[int] = mapped_column(ForeignKey("investigations.id"))
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(60))
    text: Mapped[str] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("investigation_id", "key"),)


class CommitteeVote(Base):
    """One member's vote on one question (at most one: the unique key)."""

    __tablename__ = "committee_votes"
    id: Mapped[int] = mapped_column(primary_key=True)
    investigation_id: Mapped[int] = mapped_column(ForeignKey("investigations.id"))
    member: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(String(60))
    choice: Mapped[str] = mapped_column(String(10))  # yes no abstain
    recorded_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("investigation_id", "member", "question"),)


class RecallRow(Base):
    """A recall record (recalls.model.RecallRecord), imported from openFDA or run in
    medsafe. `source_key` is an imported record's identity in FDA's data (recall number
    and event, see store.repositories.recalls.source_key): re-importing a file updates by
    it. medsafe's own recalls have none and a number medsafe gives them."""

    __tablename__ = "recalls"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_number: Mapped[str | None] = mapped_column(String(40), index=True)
    event_id: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(10))  # openfda medsafe
    source_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    source_sha256: Mapped[str | None] = mapped_column(String(64))  # the imported content
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(30), index=True)
    classification: Mapped[str | None] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    reason_category: Mapped[str | None] = mapped_column(String(200))
    firm_name: Mapped[str] = mapped_column(String(200))
    firm_address_1: Mapped[str | None] = mapped_column(String(200))
    firm_address_2: Mapped[str | None] = mapped_column(String(200))
    firm_city: Mapped[str | None] = mapped_column(String(100))
    firm_state: Mapped[str | None] = mapped_column(String(60))
    firm_postal_code: Mapped[str | None] = mapped_column(String(20))
    firm_country: Mapped[str | None] = mapped_column(String(60))
    # The firm's organisation in medsafe, when it has one: its manufacturer accounts act
    # as the firm of Part 7.
    firm_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"),
                                                             index=True)
    initiative: Mapped[str] = mapped_column(String(20))
    distribution_pattern: Mapped[str | None] = mapped_column(Text)
    initial_notification: Mapped[str | None] = mapped_column(String(200))
    depth: Mapped[str | None] = mapped_column(String(20))
    public_warning: Mapped[str | None] = mapped_column(String(20))
    effectiveness_check: Mapped[str | None] = mapped_column(String(1))
    # The patient advice given with the strategy (recalls.model.Hazard); NULL: none given.
    patient_action: Mapped[str | None] = mapped_column(String(12))  # keep_taking stop_now
    patient_stop_reason: Mapped[str | None] = mapped_column(Text)
    patient_plain_words: Mapped[str | None] = mapped_column(Text)
    initiated_on: Mapped[date | None] = mapped_column(Date)
    classified_on: Mapped[date | None] = mapped_column(Date)
    reported_on: Mapped[date | None] = mapped_column(Date)
    terminated_on: Mapped[date | None] = mapped_column(Date)
    investigation_id: Mapped[int | None] = mapped_column(ForeignKey("investigations.id"),
                                                         unique=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecallProductRow(Base):
    __tablename__ = "recall_products"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[str | None] = mapped_column(Text)
    all_lots: Mapped[bool] = mapped_column(Boolean)
    code_info: Mapped[str | None] = mapped_column(Text)


class RecallProductNdc(Base):
    """A recalled product's package NDCs (11 digits): which recalls concern a medicine."""

    __tablename__ = "recall_product_ndcs"
    product_id: Mapped[int] = mapped_column(ForeignKey("recall_products.id"),
                                            primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    ndc: Mapped[str] = mapped_column(String(11), index=True)


class RecallLotRow(Base):
    """A recalled lot: its number as printed and its matching key (recalls.matching),
    expiry and the package NDC it is a lot of, when known."""

    __tablename__ = "recall_lots"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("recall_products.id"))
    position: Mapped[int] = mapped_column(Integer)
    lot_number: Mapped[str] = mapped_column(String(100))
    lot_key: Mapped[str] = mapped_column(String(100), index=True)
    expiry: Mapped[date | None] = mapped_column(Date)
    ndc: Mapped[str | None] = mapped_column(String(11))
    __table_args__ = (Index("ix_recall_lots_ndc_key", "ndc", "lot_key"),)


class RecallStep(Base):
    """One Part 7 transition taken: the history of a recall (also in the audit trail)."""

    __tablename__ = "recall_steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    transition: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30))  # None: the recall's creation
    to_state: Mapped[str] = mapped_column(String(30))
    role: Mapped[str] = mapped_column(String(20))  # the Part 7 role it was taken as
    account_role: Mapped[str] = mapped_column(String(20))  # the user's role (admin acts as any)
    username: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, object]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecallStatusReport(Base):
    """A status report (§7.53; recalls.workflow.StatusReport)."""

    __tablename__ = "recall_status_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    consignees_notified: Mapped[int] = mapped_column(Integer)
    notified_on: Mapped[date | None] = mapped_column(Date)
    methods: Mapped[list[str]] = mapped_column(JSON)
    consignees_responding: Mapped[int] = mapped_column(Integer)
    quantity_on_hand: Mapped[int] = mapped_column(Integer)
    non_responders: Mapped[int] = mapped_column(Integer)
    quantity_returned: Mapped[int] = mapped_column(Integer)
    quantity_corrected: Mapped[int] = mapped_column(Integer)
    effectiveness_checks: Mapped[int] = mapped_column(Integer)
    effectiveness_results: Mapped[str] = mapped_column(Text)
    estimated_completion: Mapped[date | None] = mapped_column(Date)
    non_responder_ids: Mapped[list[str]] = mapped_column(JSON)
    filed_by: Mapped[str] = mapped_column(String(80))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecallTerminationRequest(Base):
    """The firm's request to end its recall (§7.55(b)); a refused one stays on record."""

    __tablename__ = "recall_termination_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    requested_on: Mapped[date] = mapped_column(Date)
    written_request: Mapped[str] = mapped_column(Text)
    disposition: Mapped[str] = mapped_column(Text)
    status_report_id: Mapped[int] = mapped_column(ForeignKey("recall_status_reports.id"))
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecallPatientNotice(Base):
    """A recall's notice to one patient who received its lots (docs/recalls.md, "Who is
    told, and how"). One per recall and patient, whatever the number of lots and of
    times the notices are queued. `state`: proposed (retail or wholesale depth: the
    pharmacist decides), declined (with the reason), queued (e-mailed: `outbox_message_id`
    is the message, and its acknowledgement link acknowledges this notice), letter (no
    e-mail address: `letter` holds the composed letter, printed on demand, and a phone-call
    task goes to the pharmacy), acknowledged."""

    __tablename__ = "recall_patient_notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    # The pharmacy that dispensed the patient's latest recalled lot: it decides and calls.
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    state: Mapped[str] = mapped_column(String(12))
    medicine: Mapped[str] = mapped_column(String(200))
    received: Mapped[list[list[str]]] = mapped_column(JSON)  # [[lot number, ISO day], ...]
    # medsafe's proposal at retail or wholesale depth (None at consumer depth): notify or
    # not, and why.
    proposed: Mapped[bool | None] = mapped_column(Boolean)
    proposal_reasons: Mapped[list[str]] = mapped_column(JSON)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)  # why it was declined (or approved)
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"),
                                                          unique=True)
    letter: Mapped[dict[str, object] | None] = mapped_column(JSON)  # subject and blocks
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("recall_id", "patient_id"),)


class RecallTask(Base):
    """Work a recall gives a pharmacy: telephone a patient who has no e-mail address
    (kind phone_call), with what to say; done when the pharmacy records the outcome. One
    per recall, patient and kind."""

    __tablename__ = "recall_tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"))
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    notice_id: Mapped[int] = mapped_column(ForeignKey("recall_patient_notices.id"))
    kind: Mapped[str] = mapped_column(String(20))  # phone_call
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("recall_id", "patient_id", "kind"),)


# -- care: alternatives, switches, monitoring (docs/care.md) -----------------------------
# The pure domain objects (care.model) are the source of truth; proposals, transition
# plans and diary scores are read whole, so they are JSON; what is listed or counted on its
# own (reviews, plans, check-ins, diary entries, alerts) has rows.


class CareReview(Base):
    """One affected patient of one recall: the alternatives medsafe proposed on the
    patient's own record (care.model.Proposal, ranked, as JSON) and the prescriber's
    decision. `state`: proposed, accepted (a proposal taken: `chosen_rank`), chosen_other
    (the prescriber chose something else, with `reason`). One per recall and patient."""

    __tablename__ = "care_reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("recall_patient_notices.id"))
    # The active prescription of the recalled medicine the review replaces, if any.
    prescription_id: Mapped[int | None] = mapped_column(ForeignKey("prescriptions.id"))
    medicine: Mapped[str] = mapped_column(String(60))  # the recalled ingredient id
    state: Mapped[str] = mapped_column(String(14))
    proposals: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(80))
    chosen_rank: Mapped[int | None] = mapped_column(Integer)
    choice: Mapped[dict[str, object] | None] = mapped_column(JSON)  # the proposal taken
    reason: Mapped[str | None] = mapped_column(Text)
    new_prescription_id: Mapped[int | None] = mapped_column(ForeignKey("prescriptions.id"))
    __table_args__ = (UniqueConstraint("recall_id", "patient_id"),)


class MonitoringPlan(Base):
    """Close monitoring after a switch (care.model.MonitoringPlan): check-ins, the diary,
    and the rules that alert the prescriber. `transition` is the taper or titration plan
    the patient follows, as JSON."""

    __tablename__ = "monitoring_plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("care_reviews.id"), unique=True)
    recall_id: Mapped[int | None] = mapped_column(ForeignKey("recalls.id"), index=True)
    prescriber_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    medicine_from: Mapped[str] = mapped_column(String(60))
    medicine_to: Mapped[str] = mapped_column(String(60))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    state: Mapped[str] = mapped_column(String(10))  # active ended
    started_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    check_in_days: Mapped[list[int]] = mapped_column(JSON)
    transition: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MonitoringCheckIn(Base):
    """A check-in the plan expects on `due_on`. `state`: due, done (a diary entry came in
    its window), missed (none came: followed up), the follow-up's time and message kept."""

    __tablename__ = "monitoring_check_ins"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("monitoring_plans.id"))
    due_on: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10))
    diary_entry_id: Mapped[int | None] = mapped_column(ForeignKey("diary_entries.id"))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    followed_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("plan_id", "due_on"),
        Index("ix_monitoring_check_ins_state_due", "state", "due_on"),
    )


class DiaryEntry(Base):
    """One entry of a patient's symptom and sleep diary: scores on the stated scales
    (care.model.DIARY_ITEMS), red flags ticked, an optional temperature, free text; the
    case it became, if it was reported as a side effect."""

    __tablename__ = "diary_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("monitoring_plans.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    recorded_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    entered_by: Mapped[str] = mapped_column(String(80))
    scores: Mapped[dict[str, int]] = mapped_column(JSON)
    red_flags: Mapped[list[str]] = mapped_column(JSON)
    temperature_c: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), unique=True)


class CareAlert(Base):
    """What the monitoring rules raised for the prescriber: a threshold, a trend, a red
    flag (urgent) or a missed check-in; the outbox message that carried it."""

    __tablename__ = "care_alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("monitoring_plans.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    diary_entry_id: Mapped[int | None] = mapped_column(ForeignKey("diary_entries.id"))
    check_in_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_check_ins.id"))
    rule_id: Mapped[str] = mapped_column(String(80))
    severity: Mapped[str] = mapped_column(String(10))  # warning urgent
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(80))


# -- recall effectiveness: returns and the Part 7 effectiveness checks (docs/recalls.md) ---


class RecallReturn(Base):
    """Units of a recalled lot a pharmacy sent back (recalls.effectiveness_service
    .record_return): its stock went down by `quantity` in the same transaction."""

    __tablename__ = "recall_returns"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class RecallEffectivenessCheck(Base):
    """One subject of a recall's effectiveness-check sample (§7.42(b)(3)): a consignee
    (`subject_id` an organisation) or, at consumer depth, a patient (`subject_id` a
    patient), drawn by `recalls.effectiveness.draw_sample`; then how it was checked and
    what was found. One per recall and subject."""

    __tablename__ = "recall_effectiveness_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"))
    subject_kind: Mapped[str] = mapped_column(String(10))  # consignee patient
    subject_id: Mapped[int] = mapped_column(Integer)
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    method: Mapped[str | None] = mapped_column(String(10))  # visit phone letter email
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # reached_and_acted reached_not_acted not_reached
    outcome: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    checked_by: Mapped[str | None] = mapped_column(String(80))
    __table_args__ = (UniqueConstraint("recall_id", "subject_kind", "subject_id"),)


# -- CDS Hooks: the cards medsafe showed in an EHR and what the prescriber did -------------


class CdsCard(Base):
    """A card a CDS service returned (interop.cds_hooks.service): what it was about (the
    engine's rule id), how loud it was, and the DetectedIssue it offered. Kept so that
    feedback can name it and the override report can count it per rule."""

    __tablename__ = "cds_cards"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    service_id: Mapped[str] = mapped_column(String(64))
    hook_instance: Mapped[str] = mapped_column(String(128))
    patient_ref: Mapped[str] = mapped_column(String(80))  # "Patient/{id}" in the EHR
    rule_id: Mapped[str] = mapped_column(String(200), index=True)
    indicator: Mapped[str] = mapped_column(String(10))  # info warning critical
    summary: Mapped[str] = mapped_column(String(140))
    suggestion_ids: Mapped[list[str]] = mapped_column(JSON)
    detected_issue: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CdsFeedback(Base):
    """One CDS Hooks feedback item: the card accepted (with the suggestions taken) or
    overridden (with the reason). A card may get feedback more than once; the latest
    outcome counts."""

    __tablename__ = "cds_feedback"
    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cds_cards.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(10))  # accepted overridden
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON)
    reason_system: Mapped[str | None] = mapped_column(String(200))
    reason_code: Mapped[str | None] = mapped_column(String(100))
    reason_display: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CdsJti(Base):
    """A CDS Hooks JWT `jti` already used, held until its token can no longer be accepted
    (interop.cds_hooks.replay): the replay check shared by every server process, so a
    captured request cannot be replayed on another worker or after a restart. The unique
    key is the check itself: a second INSERT of a live (issuer, jti) finds the row."""

    __tablename__ = "cds_jtis"
    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    jti: Mapped[str] = mapped_column(String(256))
    # Epoch seconds (the token's exp plus the clock leeway): compared with time.time(),
    # with no time zone to get wrong; indexed so that pruning the expired rows is cheap.
    held_until: Mapped[float] = mapped_column(Float, index=True)
    __table_args__ = (UniqueConstraint("issuer", "jti"),)
