"""Every failure as RFC 9457 `application/problem+json`, from one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from medsafe.error_mapping import http_status_for
from medsafe.errors import Invalid, MedsafeError
from medsafe.interop.fhir.adverse_event import operation_outcome

PROBLEM = "application/problem+json"
log = logging.getLogger("medsafe.api")


def problem(status: int, title: str, detail: str, *, instance: str | None = None,
            **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "(body)"


def install(app: FastAPI) -> None:
    @app.exception_handler(MedsafeError)
    async def _domain(request: Request, exc: MedsafeError) -> JSONResponse:
        status, title = http_status_for(exc)
        if request.url.path.startswith("/fhir/"):
            return JSONResponse(operation_outcome(exc), status_code=status,
                                media_type="application/fhir+json")
        extra: dict[str, Any] = {}
        if isinstance(exc, Invalid) and exc.where:
            extra["errors"] = [{"field": exc.where, "message": exc.reason}]
        return problem(status, title, exc.message, instance=request.url.path, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))}
                  for e in exc.errors()]
        first = errors[0] if errors else {"field": "(request)", "message": "invalid"}
        if request.url.path.startswith("/fhir/"):
            invalid = Invalid(first["message"], where=first["field"])
            return JSONResponse(operation_outcome(invalid), status_code=422,
                                media_type="application/fhir+json")
        return problem(422, "Invalid Request", f"{first['field']}: {first['message']}",
                       instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                  413: "Content Too Large", 415: "Unsupported Media Type"}
        if request.url.path.startswith("/fhir/"):
            issue = {401: "login", 404: "not-found", 405: "not-supported",
                     413: "too-costly", 415: "not-supported"}.get(exc.status_code, "exception")
            response = JSONResponse(
                {"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": issue, "diagnostics": str(exc.detail)}]},
                status_code=exc.status_code, media_type="application/fhir+json")
        else:
            response = problem(exc.status_code, titles.get(exc.status_code, "Error"),
                               str(exc.detail), instance=request.url.path)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal Server Error",
                       "medsafe failed unexpectedly; the error has been logged",
                       instance=request.url.path)
