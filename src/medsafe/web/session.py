"""Who is browsing: the session cookie, CSRF checks and the login form's own CSRF token.

- A signed-in browser carries `medsafe_session` (HttpOnly, SameSite=Lax, Secure unless
  the settings say otherwise, Path=/). Only the token's hash is stored (accounts.py).
- Every unsafe page request must send the session's CSRF token, as the form field
  `csrf_token` or the `X-CSRF-Token` header (HTMX requests).
- The login form has no session yet, so it is guarded by a double-submit cookie: a random
  nonce signed with the server secret, set as a cookie and repeated in the form. A forged
  cross-site POST cannot read the cookie, so it cannot repeat it; the signature stops a
  cookie planted by a sibling subdomain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from medsafe.api.deps import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from medsafe.bootstrap import Container
from medsafe.errors import Forbidden
from medsafe.security import accounts
from medsafe.security.principal import Principal

CSRF_FIELD = "csrf_token"
LOGIN_CSRF_COOKIE = "medsafe_login_csrf"
LOGIN_CSRF_SECONDS = 2 * 60 * 60
MAX_NEXT_LENGTH = 500


class LoginRequired(Exception):
    """Raised by a page that needs a signed-in caller; the page route turns it into a
    redirect to the login form that comes back here afterwards."""


@dataclass(frozen=True, slots=True)
class Caller:
    """A signed-in browser: who it is and the CSRF token its forms must carry."""

    principal: Principal
    csrf_token: str


def container_of(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def caller_of(request: Request) -> Caller | None:
    """The signed-in caller from the session cookie, looked up once per request."""
    if hasattr(request.state, "caller"):
        cached: Caller | None = request.state.caller
        return cached
    caller = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with container_of(request).uow() as uow:
            found = accounts.session_for_token(uow, token)
        if found is not None:
            caller = Caller(principal=found[0], csrf_token=found[1])
    request.state.caller = caller
    return caller


def signed_in(request: Request) -> Caller:
    caller = caller_of(request)
    if caller is None:
        if request.method in SAFE_METHODS:
            raise LoginRequired
        raise Forbidden("you are not signed in (or your session has ended); log in again")
    return caller


MaybeCaller = Annotated[Caller | None, Depends(caller_of)]
SignedIn = Annotated[Caller, Depends(signed_in)]


def same(a: str, b: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input (compare_digest on str
    raises TypeError for it, which would be a 500 instead of a refusal)."""
    return secrets.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def check_csrf(request: Request, caller: Caller, form_token: str | None) -> None:
    """Refuse an unsafe request that does not carry this session's CSRF token."""
    sent = form_token or request.headers.get(CSRF_HEADER, "")
    if not sent or not same(sent, caller.csrf_token):
        raise Forbidden("this form is missing its security token or it has expired; "
                        "reload the page and try again")


# -- the login form's double-submit token ---------------------------------------------------

def _signature(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode("utf-8"), b"login-csrf:" + nonce.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def new_login_token(secret: str) -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_signature(secret, nonce)}"


def login_token_is_valid(secret: str, token: str | None) -> bool:
    if not token:
        return False
    nonce, _, signature = token.partition(".")
    return bool(nonce) and same(signature, _signature(secret, nonce))


def login_token_for(request: Request) -> str:
    """The token for a login form: the browser's current one if still valid (several
    open tabs keep working), else a fresh one."""
    secret = container_of(request).settings.secret_key
    current = request.cookies.get(LOGIN_CSRF_COOKIE)
    if current and login_token_is_valid(secret, current):
        return current
    return new_login_token(secret)


def check_login_csrf(request: Request, form_token: str | None) -> None:
    secret = container_of(request).settings.secret_key
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if (not cookie or not form_token or not same(cookie, form_token)
            or not login_token_is_valid(secret, cookie)):
        raise Forbidden("the login form expired or did not come from this site; "
                        "reload the page and try again")


# -- cookies --------------------------------------------------------------------------------

def _secure(request: Request) -> bool:
    return container_of(request).settings.cookie_secure


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=LOGIN_CSRF_SECONDS, path="/login",
                        httponly=True, samesite="lax", secure=_secure(request))


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    hours = container_of(request).settings.session_hours
    response.set_cookie(SESSION_COOKIE, token, max_age=hours * 3600, path="/",
                        httponly=True, samesite="lax", secure=_secure(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", httponly=True, samesite="lax",
                           secure=_secure(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=_secure(request))


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this site only, never another origin
    (`//evil.example` and `/\\evil.example` are other origins to a browser)."""
    if (not value or not value.startswith("/") or value.startswith(("//", "/\\"))
            or len(value) > MAX_NEXT_LENGTH or any(ord(c) < 32 or c == "\\" for c in value)):
        return "/home"
    return value
