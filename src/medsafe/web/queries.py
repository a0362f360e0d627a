"""The one read the pages need that no records service offers: who the signed-in caller
is, in words (display name, organisation, a patient's own pseudonym) for the header and
the home page. Everything about patients goes through `medsafe.records` and
`medsafe.supply`, which apply the visibility rules."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from medsafe.security.principal import Principal
from medsafe.store.schema import Organisation, Patient, User
from medsafe.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Whoami:
    display_name: str
    organisation: str | None
    own_pseudonym: str | None  # a patient account's own record


def whoami(uow: UnitOfWork, principal: Principal) -> Whoami:
    """Only the caller's own rows are read, so no visibility rule is involved."""
    user = uow.session.get(User, principal.user_id)
    organisation = (uow.session.get(Organisation, principal.organisation_id)
                    if principal.organisation_id is not None else None)
    own = None
    if principal.role == "patient" and principal.patient_id is not None:
        own = uow.session.execute(select(Patient.pseudonym)
                                  .where(Patient.id == principal.patient_id)).scalar()
    return Whoami(user.display_name if user else principal.username,
                  organisation.name if organisation else None, own)
