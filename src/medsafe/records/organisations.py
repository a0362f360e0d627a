"""Organisations (manufacturers, wholesalers, pharmacies, clinics, regulators) and the
accounts of the people who work for them or are patients.

Administrators create both. Every authenticated user may list and read organisations
(a pharmacist must find the manufacturer of a recalled lot); only administrators list
accounts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from medsafe.errors import Conflict, Invalid, NotFound
from medsafe.notify.message import check_recipient
from medsafe.records import Input, View, aware, now, require_role, visible_patient
from medsafe.security import accounts, audit
from medsafe.security.passwords import MIN_PASSWORD_LENGTH
from medsafe.security.principal import Principal
from medsafe.store.schema import Organisation, User
from medsafe.store.uow import UnitOfWork

OrganisationKind = Literal["manufacturer", "wholesaler", "pharmacy", "clinic", "regulator"]
RoleName = Literal["admin", "regulator", "manufacturer", "pharmacist", "physician", "patient"]
ADMINS = ("admin",)


def _email(value: str) -> str:
    try:
        check_recipient("email", value)
    except Invalid as error:
        raise ValueError(error.reason) from None
    return value


EmailAddress = Annotated[str, Field(max_length=254), AfterValidator(_email)]
"""An address the outbox can send to (recall notices go there)."""


class NewOrganisation(Input):
    kind: OrganisationKind
    name: str = Field(min_length=1, max_length=200)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$",
                                description="ISO 3166-1 alpha-2")
    email: EmailAddress | None = Field(
        default=None, description="where a pharmacy's or clinic's recall notices go")


class OrganisationView(View):
    id: int
    kind: str
    name: str
    country: str | None
    email: str | None
    created_at: datetime


class NewUser(Input):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,79}$")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=200)
    display_name: str = Field(min_length=1, max_length=200)
    role: RoleName
    organisation_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    patient: str | None = Field(default=None, min_length=1, max_length=40,
                                description="pseudonym of the patient a patient account "
                                            "belongs to")
    email: EmailAddress | None = Field(
        default=None, description="where a prescriber's recall notices go")


class UserView(View):
    username: str
    display_name: str
    role: str
    organisation_id: int | None
    patient: str | None
    email: str | None
    active: bool
    created_at: datetime


# -- organisations ------------------------------------------------------------------------

def create_organisation(uow: UnitOfWork, principal: Principal,
                        new: NewOrganisation) -> OrganisationView:
    require_role(principal, ADMINS, "create organisations")
    if uow.organisations.name_taken(new.kind, new.name):
        raise Conflict(f"a {new.kind} called '{new.name}' exists already")
    row = uow.organisations.add(Organisation(kind=new.kind, name=new.name,
                                             country=new.country, email=new.email,
                                             created_at=now()))
    audit.record(uow, principal, "organisation.create", "organisation", row.id,
                 new.model_dump())
    view = _organisation_view(row)
    uow.created.append(view)
    uow.commit()
    return view


def list_organisations(uow: UnitOfWork, principal: Principal, *, kind: str | None = None,
                       name: str | None = None, offset: int = 0, limit: int = 50
                       ) -> tuple[list[OrganisationView], int]:
    del principal  # every authenticated caller may list organisations
    rows, total = uow.organisations.list(kind=kind, name=name, offset=offset, limit=limit)
    return [_organisation_view(r) for r in rows], total


def read_organisation(uow: UnitOfWork, principal: Principal,
                      organisation_id: int) -> OrganisationView:
    del principal
    row = uow.organisations.get(organisation_id)
    if row is None:
        raise NotFound(f"no organisation {organisation_id}")
    return _organisation_view(row)


def _organisation_view(row: Organisation) -> OrganisationView:
    return OrganisationView(id=row.id, kind=row.kind, name=row.name, country=row.country,
                            email=row.email, created_at=aware(row.created_at))


# -- accounts ------------------------------------------------------------------------------

def create_account(uow: UnitOfWork, principal: Principal, new: NewUser) -> UserView:
    """An account for a person; a patient account names the patient by pseudonym."""
    require_role(principal, ADMINS, "create accounts")
    patient_id: int | None = None
    if new.role == "patient" and new.patient is None:
        raise Invalid("a patient account needs the pseudonym of its patient", where="patient")
    if new.patient is not None:
        if new.role != "patient":
            raise Invalid("only a patient account belongs to a patient", where="patient")
        try:
            patient_id = visible_patient(uow, principal, new.patient).id
        except NotFound:
            raise Invalid(f"no patient '{new.patient}'", where="patient") from None
    if new.organisation_id is not None and uow.organisations.get(new.organisation_id) is None:
        raise Invalid(f"no organisation {new.organisation_id}", where="organisation_id")
    created = accounts.create_user(
        uow, principal, username=new.username, password=new.password, role=new.role,
        display_name=new.display_name, organisation_id=new.organisation_id,
        patient_id=patient_id, email=new.email)
    user = uow.users.get(created.user_id)
    assert user is not None
    view = _user_view(user, new.patient)
    uow.created.append(view)
    uow.commit()
    return view


def list_accounts(uow: UnitOfWork, principal: Principal, *, role: str | None = None,
                  offset: int = 0, limit: int = 50) -> tuple[list[UserView], int]:
    require_role(principal, ADMINS, "list accounts")
    rows, total = uow.users.list_with_patients(role=role, offset=offset, limit=limit)
    return [_user_view(user, pseudonym) for user, pseudonym in rows], total


def _user_view(user: User, pseudonym: str | None) -> UserView:
    return UserView(username=user.username, display_name=user.display_name, role=user.role,
                    organisation_id=user.organisation_id, patient=pseudonym,
                    email=user.email, active=user.active, created_at=aware(user.created_at))
