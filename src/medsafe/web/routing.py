"""The route class every page uses: the same failure shapes and the same CSRF rule for
every page, so no single page can forget them.

- A domain error becomes its HTML error page (status from `error_mapping`), an invalid
  query or form value a 422 page, "log in first" a redirect to the login form, and an
  unexpected failure a logged 500 page (never a stack trace).
- An unsafe request (POST and friends) from a signed-in browser must carry the
  session's CSRF token, as the form field `csrf_token` or the `X-CSRF-Token` header,
  checked before the page runs. Without a session there is no ambient authority to
  abuse; pages that need one refuse such requests themselves (`session.SignedIn`).
- The login form has no session yet: `LoginFormRoute` checks its double-submit token
  instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from medsafe.api.deps import SAFE_METHODS
from medsafe.errors import Invalid, MedsafeError
from medsafe.web import session
from medsafe.web.error_pages import (
    domain_error_page,
    error_page,
    login_redirect,
    validation_message,
)

log = logging.getLogger("medsafe.web")
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def submitted_token(request: Request) -> str | None:
    """The CSRF token a form sent (None for a request without one)."""
    form = await request.form()  # parsed once: Starlette keeps it for the page itself
    value = form.get(session.CSRF_FIELD)
    return value if isinstance(value, str) else None


class PageRoute(APIRoute):
    async def guard(self, request: Request) -> None:
        """Refuse a forged unsafe request before the page runs."""
        if request.method in SAFE_METHODS:
            return
        caller = await run_in_threadpool(session.caller_of, request)
        if caller is not None:
            session.check_csrf(request, caller, await submitted_token(request))

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                await self.guard(request)
                return await handler(request)
            except session.LoginRequired:
                return login_redirect(request)
            except MedsafeError as error:
                return domain_error_page(request, error)
            except RequestValidationError as error:
                return domain_error_page(request, Invalid(validation_message(error)))
            except HTTPException:
                raise  # the app's own handlers shape these (a 400 for a broken form body)
            except Exception:
                log.exception("page failed: %s %s", request.method, request.url.path)
                return error_page(request, 500, "Internal Server Error",
                                  "medsafe failed to show this page; the error has been "
                                  "logged.")

        return page_handler


class LoginFormRoute(PageRoute):
    async def guard(self, request: Request) -> None:
        if request.method not in SAFE_METHODS:
            session.check_login_csrf(request, await submitted_token(request))


def is_partial(request: Request) -> bool:
    """An htmx request that swaps part of the page (the live search), as opposed to a
    normal visit or htmx restoring the whole page from history."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-Request-Type") != "full"
            and request.headers.get("HX-History-Restore-Request") != "true")
