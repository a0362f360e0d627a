"""The one error tree as HTML pages.

Page routes (`web.routing.PageRoute`) render the domain errors a page raises with the
status `error_mapping.http_status_for` gives, so pages and the API never disagree about
what an error means. Only the shape differs: a page for a person, problem+json for a
program.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from medsafe.error_mapping import http_status_for
from medsafe.errors import MedsafeError
from medsafe.web.session import caller_of
from medsafe.web.templating import render

log = logging.getLogger("medsafe.web")

HEADLINES = {
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "That conflicts with the current state",
    422: "That request could not be understood",
}
API_PATHS = ("/api/", "/openapi.json", "/docs", "/healthz")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", {
        "status": status,
        "title": title,
        "headline": HEADLINES.get(status, "Something went wrong"),
        "message": message,
    }, status=status)


def domain_error_page(request: Request, error: MedsafeError) -> Response:
    status, title = http_status_for(error)
    if status >= 500:
        # Our own data or code is broken; the details belong in the log, not the page.
        log.error("error on %s %s: %s", request.method, request.url.path, error.message)
        return error_page(request, status, title,
                          "medsafe failed to show this page; the error has been logged.")
    return error_page(request, status, title, error.message)


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "path",
                                                                           "body"))
        parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request was not valid"


def wants_html(request: Request) -> bool:
    return ("text/html" in request.headers.get("accept", "")
            and not request.url.path.startswith(API_PATHS))


ErrorHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def install_not_found_page(app: FastAPI) -> None:
    """A browser asking for a page that does not exist gets a page; programs (and the
    whole /api tree) keep the problem+json answer the API installed."""
    api_handler: ErrorHandler | None = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):
            raise exc
        if wants_html(request) and exc.status_code in (404, 405):
            await run_in_threadpool(caller_of, request)  # the header shows who is signed in
            return error_page(request, exc.status_code, HEADLINES[exc.status_code],
                              "There is no page at this address." if exc.status_code == 404
                              else "This page does not accept that kind of request.")
        if api_handler is None:
            raise exc
        reply = api_handler(request, exc)
        return await reply if inspect.isawaitable(reply) else reply

    app.add_exception_handler(StarletteHTTPException, http_error)
