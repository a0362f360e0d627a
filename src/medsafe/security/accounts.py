"""Accounts, bearer tokens and browser sessions (use cases; each one transaction)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from medsafe.errors import Conflict, Forbidden, Invalid, Unauthenticated
from medsafe.security import audit
from medsafe.security.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from medsafe.security.principal import ROLES, Principal, Role
from medsafe.security.tokens import new_token, token_hash
from medsafe.store.schema import ApiToken, BrowserSession, User
from medsafe.store.uow import UnitOfWork

ORGANISATION_KINDS: dict[str, str] = {
    "manufacturer": "manufacturer",
    "pharmacist": "pharmacy",
    "regulator": "regulator",
}


def now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything medsafe stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def principal_of(user: User) -> Principal:
    return Principal(user_id=user.id, username=user.username, role=user.role,  # type: ignore[arg-type]
                     organisation_id=user.organisation_id, patient_id=user.patient_id)


def create_user(uow: UnitOfWork, actor: Principal, *, username: str, password: str, role: str,
                display_name: str, organisation_id: int | None = None,
                patient_id: int | None = None, email: str | None = None) -> Principal:
    if actor.role != "admin":
        raise Forbidden("only an administrator creates accounts")
    if role not in ROLES:
        raise Invalid(f"role: must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    wanted_kind = ORGANISATION_KINDS.get(role)
    if wanted_kind is not None:
        organisation = uow.organisations.get(organisation_id)
        if organisation is None or organisation.kind != wanted_kind:
            raise Invalid(f"organisation_id: a {role} account needs a {wanted_kind} organisation")
    if role == "patient" and patient_id is None:
        raise Invalid("patient_id: a patient account needs the patient it belongs to")
    if uow.users.by_username(username) is not None:
        raise Conflict(f"username '{username}' is taken")
    user = User(username=username, display_name=display_name, role=role,
                organisation_id=organisation_id, patient_id=patient_id,
                password_hash=hash_password(password), active=True, created_at=now(),
                email=email)
    uow.session.add(user)
    uow.flush()
    audit.record(uow, actor, "user.create", "user", user.id,
                 {"username": username, "role": role, "organisation_id": organisation_id,
                  # Whether an address was given, not the address: a patient account's is
                  # a personal contact detail, which the trail never holds in clear.
                  "patient_id": patient_id, "email": email is not None})
    return principal_of(user)


def authenticate(uow: UnitOfWork, username: str, password: str) -> Principal:
    user = uow.users.by_username(username)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise Unauthenticated("wrong username or password")
    if not user.active:
        raise Unauthenticated("this account is disabled")
    return principal_of(user)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime
    principal: Principal


def issue_token(uow: UnitOfWork, principal: Principal, minutes: int) -> IssuedToken:
    token, digest = new_token()
    issued = now()
    expires = issued + timedelta(minutes=minutes)
    uow.session.add(ApiToken(token_hash=digest, user_id=principal.user_id, issued_at=issued,
                             expires_at=expires))
    audit.record(uow, principal, "token.issue", "user", principal.user_id,
                 {"token": digest[:12], "expires_at": expires})
    return IssuedToken(token, expires, principal)


def revoke_token(uow: UnitOfWork, principal: Principal, token: str) -> None:
    row = uow.session.get(ApiToken, token_hash(token))
    if row is None or row.user_id != principal.user_id:
        return
    if row.revoked_at is None:
        row.revoked_at = now()
        audit.record(uow, principal, "token.revoke", "user", principal.user_id,
                     {"token": row.token_hash[:12]})


def principal_for_token(uow: UnitOfWork, token: str) -> Principal | None:
    row = uow.session.get(ApiToken, token_hash(token))
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now():
        return None
    user = uow.users.get(row.user_id)
    if user is None or not user.active:
        return None
    return principal_of(user)


@dataclass(frozen=True, slots=True)
class StartedSession:
    token: str
    csrf_token: str
    expires_at: datetime
    principal: Principal


def start_session(uow: UnitOfWork, principal: Principal, hours: int) -> StartedSession:
    token, digest = new_token()
    csrf = secrets.token_urlsafe(32)
    started = now()
    expires = started + timedelta(hours=hours)
    uow.session.add(BrowserSession(token_hash=digest, user_id=principal.user_id,
                                   csrf_token=csrf, created_at=started, expires_at=expires))
    audit.record(uow, principal, "session.start", "user", principal.user_id,
                 {"session": digest[:12]})
    return StartedSession(token, csrf, expires, principal)


def session_for_token(uow: UnitOfWork, token: str) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a live browser session."""
    row = uow.session.get(BrowserSession, token_hash(token))
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now():
        return None
    user = uow.users.get(row.user_id)
    if user is None or not user.active:
        return None
    return principal_of(user), row.csrf_token


def end_session(uow: UnitOfWork, token: str) -> None:
    row = uow.session.get(BrowserSession, token_hash(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now()
        user = uow.users.get(row.user_id)
        if user is not None:
            audit.record(uow, principal_of(user), "session.end", "user", user.id,
                         {"session": row.token_hash[:12]})


def role_of(value: str) -> Role:
    if value not in ROLES:
        raise Invalid(f"role: must be one of {', '.join(ROLES)}")
    return value  # type: ignore[return-value]
