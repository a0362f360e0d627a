"""Accounts: administrators create and list them."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import as_json
from medsafe.records import organisations
from medsafe.records.organisations import NewUser, RoleName, UserView

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=Page[UserView])
def list_users(app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
               role: Annotated[RoleName | None, Query()] = None) -> Page[UserView]:
    with app.uow() as uow:
        items, total = organisations.list_accounts(uow, caller, role=role,
                                                   offset=paging.offset,
                                                   limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("", response_model=UserView, status_code=201)
def create_user(request: Request, body: NewUser, app: ContainerDep,
                caller: CurrentPrincipal) -> JSONResponse:
    """Administrators only; a patient account names its patient's pseudonym. Honours
    Idempotency-Key."""
    # The idempotency record keeps a SHA-256 of the request. Over a clear password that
    # would be a fast hash to guess passwords against, undoing argon2; a keyed digest is not.
    keyed = hmac.new(app.settings.secret_key.encode(), body.password.encode(), "sha256")
    fingerprint = body.model_copy(update={"password": keyed.hexdigest()})
    return idempotency.create(
        request, fingerprint.model_dump_json().encode(), caller, app.uow,
        lambda uow: organisations.create_account(uow, caller, body), as_json)
