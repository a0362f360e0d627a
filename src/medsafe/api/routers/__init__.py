"""Every API router, one module per area; `api.app` mounts them all under /api/v1.

Also what the routers share: the problem+json responses every operation documents (so
the OpenAPI document tells clients, and schemathesis, what an error looks like), the
bounded parameter types, and the JSON shape of a created record.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "one entry per offending field",
            "items": {"type": "object", "required": ["field", "message"],
                      "properties": {"field": {"type": "string"},
                                     "message": {"type": "string"}}},
        },
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("The request body could not be read (not UTF-8, not JSON)"),
    401: _problem("Not authenticated: log in or send a bearer token"),
    403: _problem("The caller's role may never do this"),
    404: _problem("No such record, or one the caller may not see"),
    409: _problem("Conflicts with the current state (duplicate, stale, replayed key)"),
    413: _problem("The request body is too large"),
    415: _problem("The request body's media type is not accepted"),
    422: _problem("Invalid input; `errors` names each offending field"),
}

MAX_ID = 2**31 - 1  # PostgreSQL's integer: larger ids cannot exist, and must not reach it
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Pseudonym = Annotated[str, Path(min_length=1, max_length=40,
                                pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")]


def text_query(max_length: int = 200, description: str | None = None) -> Any:
    """A free-text query parameter: bounded, and free of characters no database stores."""
    return Query(min_length=1, max_length=max_length, pattern=NO_CONTROL,
                 description=description)


def id_query(description: str | None = None) -> Any:
    return Query(ge=1, le=MAX_ID, description=description)


def as_json(view: BaseModel) -> dict[str, Any]:
    """The reply body of a created record (stored verbatim for idempotent replays)."""
    shaped: dict[str, Any] = view.model_dump(mode="json")
    return shaped


def _routers() -> tuple[APIRouter, ...]:
    # Imported here, after the shared names above exist, because the routers import them.
    from medsafe.api.routers import (
        assessments,
        audit,
        auth,
        care,
        cases,
        dispensing,
        drugs,
        organisations,
        patients,
        prescriptions,
        products,
        recalls,
        scans,
        signals,
        stock,
        users,
    )

    api = APIRouter(responses=ERRORS)
    for router in (auth.router, drugs.router, assessments.router, patients.router,
                   organisations.router, products.router, stock.router, dispensing.router,
                   prescriptions.router, audit.router, users.router, cases.router,
                   signals.router, recalls.router, scans.router, care.router):
        api.include_router(router)
    return (api,)


ROUTERS: tuple[APIRouter, ...] = _routers()
