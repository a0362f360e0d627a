"""Logging in and out of the web pages.

Login starts a browser session (accounts.start_session) and sets its cookie; the form is
protected against login CSRF by the double-submit token in `web.session`. Logout is a
POST carrying the session's CSRF token, so another site cannot sign a user out. Both
tokens are checked by the route classes in `web.routing`, before these functions run.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from medsafe.api.deps import SESSION_COOKIE
from medsafe.error_mapping import http_status_for
from medsafe.errors import Unauthenticated
from medsafe.security import accounts
from medsafe.web import session
from medsafe.web.routing import LoginFormRoute, PageRoute
from medsafe.web.session import MaybeCaller
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# The login form's POST is guarded by its double-submit token (see web.routing).
login_router = APIRouter(route_class=LoginFormRoute, include_in_schema=False)

# PostgreSQL refuses a NUL in text, so a username with control characters is refused
# here (a 422 page) instead of failing in the database. The password is only hashed.
Username = Annotated[str, Form(max_length=80, pattern=r"^[^\x00-\x1f\x7f]*$")]
Password = Annotated[str, Form(max_length=200)]
NextField = Annotated[str, Form(max_length=session.MAX_NEXT_LENGTH)]


def login_form(request: Request, *, next_path: str, username: str = "",
               error: str | None = None, status: int = 200) -> Response:
    token = session.login_token_for(request)
    response = render(request, "login.html", {
        "login_token": token, "next": next_path, "username": username, "error": error,
    }, status=status, headers={"Cache-Control": "no-store"})
    session.set_login_cookie(request, response, token)
    return response


@router.get("/login")
def show_login(request: Request, caller: MaybeCaller,
               next: Annotated[str, Query(max_length=session.MAX_NEXT_LENGTH)] = "/home"
               ) -> Response:
    next_path = session.safe_next(next)
    if caller is not None:
        return RedirectResponse(next_path, status_code=303)
    return login_form(request, next_path=next_path)


@login_router.post("/login")
def log_in(request: Request, username: Username = "", password: Password = "",
           next: NextField = "/home") -> Response:
    next_path = session.safe_next(next)
    username = username.strip()
    if not username or not password:
        return login_form(request, next_path=next_path, username=username,
                          error="Enter your username and your password.", status=422)
    container = session.container_of(request)
    try:
        with container.uow() as uow:
            principal = accounts.authenticate(uow, username, password)
            previous = request.cookies.get(SESSION_COOKIE)
            if previous:
                # A browser holds one session: logging in again ends the one it had.
                accounts.end_session(uow, previous)
            started = accounts.start_session(uow, principal, container.settings.session_hours)
            uow.commit()
    except Unauthenticated as error:
        status, _ = http_status_for(error)
        return login_form(request, next_path=next_path, username=username,
                          error=f"Could not log in: {error.message}.", status=status)
    response = RedirectResponse(next_path, status_code=303)
    session.set_session_cookie(request, response, started.token)
    return response


@router.post("/logout")
def log_out(request: Request, caller: MaybeCaller) -> Response:
    """Ends the session (its CSRF token was checked by the route before this runs)."""
    response = RedirectResponse("/", status_code=303)
    if caller is None:
        session.clear_session_cookie(request, response)
        return response
    token = request.cookies.get(SESSION_COOKIE, "")
    with session.container_of(request).uow() as uow:
        accounts.end_session(uow, token)
        uow.commit()
    session.clear_session_cookie(request, response)
    return response
