"""The one read the pages need that no records service offers: who the signed-in caller
is, in words (display name, organisation, a patient's own pseudonym) for the header and
the home page. Everything about patients goes through `medsafe.records` and
`medsafe.supply`, which apply the visibility rules."""

from __future__ import annotations

from dataclasses import dataclass

from medsafe.security.principal import Principal
from medsafe.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Whoami:
    display_name: str
    organisation: str | None
    own_pseudonym: str | None  # a patient account's own record


def whoami(uow: UnitOfWork, principal: Principal) -> Whoami:
    """Only the caller's own rows are read, so no visibility rule is involved."""
    user = uow.users.get(principal.user_id)
    organisation = uow.organisations.get(principal.organisation_id)
    own = None
    if principal.role == "patient" and principal.patient_id is not None:
        own = uow.patients.pseudonym_of(principal.patient_id)
    return Whoami(user.display_name if user else principal.username,
                  organisation.name if organisation else None, own)
