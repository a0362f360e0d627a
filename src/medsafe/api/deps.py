"""Request dependencies: the container, the caller, paging. Routes stay thin."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from medsafe.bootstrap import Container
from medsafe.security import accounts
from medsafe.security.principal import Principal

SESSION_COOKIE = "medsafe_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


ContainerDep = Annotated[Container, Depends(container)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def optional_principal(request: Request, app: ContainerDep) -> Principal | None:
    """The caller, from a bearer token or a browser session cookie (with its CSRF token on
    anything but a safe method); None when anonymous."""
    token = _bearer(request)
    with app.uow() as uow:
        if token is not None:
            principal = accounts.principal_for_token(uow, token)
            if principal is None:
                raise HTTPException(401, "the bearer token is invalid, expired or revoked",
                                    headers={"WWW-Authenticate": "Bearer"})
            return principal
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        found = accounts.session_for_token(uow, cookie)
    if found is None:
        return None
    principal, csrf = found
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        # Compare bytes: compare_digest refuses non-ASCII str, which must be a 403, not a 500.
        if not secrets.compare_digest(sent.encode("utf-8"), csrf.encode("utf-8")):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header for a "
                                     "cookie-authenticated request")
    return principal


def principal(caller: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if caller is None:
        raise HTTPException(401, "log in or send a bearer token (POST /api/v1/auth/token)",
                            headers={"WWW-Authenticate": "Bearer"})
    return caller


CurrentPrincipal = Annotated[Principal, Depends(principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


class PageParams:
    def __init__(self, request: Request,
                 page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based")] = 1,
                 page_size: Annotated[int, Query(ge=1, le=200)] = 50) -> None:
        self.page = page
        self.page_size = page_size
        self.offset = (page - 1) * page_size
        self.url = request.url


Paging = Annotated[PageParams, Depends(PageParams)]
