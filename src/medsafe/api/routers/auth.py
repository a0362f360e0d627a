"""Bearer tokens for machines: OAuth2 password flow, short-lived and revocable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from medsafe.api.deps import ContainerDep, CurrentPrincipal
from medsafe.errors import Invalid
from medsafe.security import accounts

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenReply(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    username: str
    role: str
    organisation_id: int | None
    patient_id: int | None


@router.post("/token", response_model=TokenReply)
def issue_token(app: ContainerDep,
                username: Annotated[str, Form(min_length=1, max_length=80,
                                              pattern=r"^[^\x00-\x1f\x7f]+$")],
                password: Annotated[str, Form(min_length=1, max_length=200,
                                              pattern=r"^[^\x00]+$")],
                grant_type: Annotated[str, Form()] = "password") -> TokenReply:
    """OAuth2 password grant: exchange a username and password for a bearer token."""
    if grant_type != "password":
        raise Invalid("grant_type: only 'password' is supported", where="grant_type")
    with app.uow() as uow:
        principal = accounts.authenticate(uow, username, password)
        issued = accounts.issue_token(uow, principal, app.settings.token_minutes)
        uow.commit()
    return TokenReply(access_token=issued.token, expires_in=app.settings.token_minutes * 60)


@router.post("/revoke", status_code=204)
def revoke_token(request: Request, app: ContainerDep, caller: CurrentPrincipal) -> None:
    """Revoke the bearer token this request carries."""
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    with app.uow() as uow:
        accounts.revoke_token(uow, caller, token)
        uow.commit()


@router.get("/me", response_model=Me)
def me(caller: CurrentPrincipal) -> Me:
    return Me(username=caller.username, role=caller.role,
              organisation_id=caller.organisation_id, patient_id=caller.patient_id)
