"""The core records: patients and their clinical data, organisations and their accounts.

Each module holds use cases (services). A service takes a `UnitOfWork` and the `Principal`
asking, enforces the object-level rules of `security.permissions` itself, writes its
audit event in the same transaction, commits, and returns frozen pydantic views (never
ORM rows). This module holds what the record and supply services share, and the two read
use cases of the audit trail (listing and verifying), which are records too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from medsafe.errors import Forbidden, Invalid, NotFound
from medsafe.security import audit
from medsafe.security.permissions import visible_patients
from medsafe.security.principal import Principal
from medsafe.store.schema import Patient
from medsafe.store.uow import UnitOfWork

EARLIEST_DAY = date(1900, 1, 1)


class View(BaseModel):
    """The base of every value a service hands back: immutable, JSON-ready."""

    model_config = ConfigDict(frozen=True)


def _iso_day(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("expected a date as YYYY-MM-DD")
        return date.fromisoformat(value)
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
"""A calendar day: a `date`, or its ISO text YYYY-MM-DD (never a number of seconds)."""


class Input(BaseModel):
    """The base of every use case's input: unknown fields are refused (a typo must not
    be silently dropped), types are strict (`true` is not a quantity, "5" is not a
    number), text is trimmed, and each field carries its bounds, so the API, the CLI and
    the generators all get the same checks."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True,
                              str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                check_text(text)
        return value


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(text: str) -> None:
    """Text a database can store and a person can read: PostgreSQL refuses NUL, neither
    database stores a lone UTF-16 surrogate, and control characters are never meant."""
    if CONTROL.search(text):
        raise ValueError("contains a control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (a lone surrogate)") from None


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything medsafe stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def require_role(principal: Principal, allowed: Collection[str], action: str) -> None:
    """Forbidden (403) for an action the caller's role may never take. Object-level
    refusals are NotFound instead, so that they do not reveal what exists."""
    if principal.role not in allowed:
        raise Forbidden(f"a {principal.role} may not {action}")


def check_day(value: date, field: str, *, not_after: date | None = None) -> None:
    """A calendar day that can be real: not before 1900 and not in the future."""
    latest = not_after or date.today()
    if value < EARLIEST_DAY or value > latest:
        raise Invalid(f"must be between {EARLIEST_DAY.isoformat()} and {latest.isoformat()}",
                      where=field)


def visible_patient(uow: UnitOfWork, principal: Principal, pseudonym: str) -> Patient:
    """The patient with this pseudonym if the caller may see it; otherwise NotFound, the
    same answer as for a pseudonym that does not exist."""
    row = uow.patients.get_visible(pseudonym, visible_patients(principal))
    if row is None:
        raise NotFound(f"no patient '{pseudonym}'")
    return row


# -- the audit trail, read ------------------------------------------------------------------

AUDIT_READERS = ("admin", "regulator")


class AuditEventView(View):
    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    changes: dict[str, Any]
    reason: str | None


class AuditVerification(View):
    ok: bool
    events: int
    problems: list[str]


def list_audit_events(uow: UnitOfWork, principal: Principal, *, entity: str | None = None,
                      entity_id: str | None = None, offset: int = 0, limit: int = 50
                      ) -> tuple[list[AuditEventView], int]:
    """Newest first. Admins and regulators only: the trail names every actor. Contact
    details never reach it in clear (the patients service records them masked)."""
    require_role(principal, AUDIT_READERS, "read the audit trail")
    rows, total = uow.audit_events.list(entity=entity, entity_id=entity_id, offset=offset,
                                        limit=limit)
    events = [
        AuditEventView(seq=e.seq, at=aware(e.at), actor=e.actor, action=e.action,
                       entity=e.entity, entity_id=e.entity_id, changes=json.loads(e.changes),
                       reason=e.reason)
        for e in rows
    ]
    return events, total


def verify_audit_trail(uow: UnitOfWork, principal: Principal) -> AuditVerification:
    require_role(principal, AUDIT_READERS, "verify the audit trail")
    result = audit.verify(uow)
    return AuditVerification(ok=result.ok, events=result.events, problems=list(result.problems))
