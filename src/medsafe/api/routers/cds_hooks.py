"""CDS Hooks 2.0 over HTTP: discovery, the two prescribing services and their feedback,
mounted at the root (`{base}/cds-services`, as the specification names the paths), and
the override report under /api/v1 for medsafe's own users.

Every CDS call, discovery included, must carry the EHR's signed JWT
(`interop.cds_hooks.security`); its `aud` must be this endpoint's URL under
MEDSAFE_PUBLIC_BASE_URL. Unsigned calls pass only with MEDSAFE_CDS_ALLOW_UNSIGNED on a
loopback address. What may block (fetching a key set, reading the EHR's FHIR server,
the database) runs on a thread, not on the event loop; see `call` for the hot path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from medsafe.api.cds_group_commit import GroupCommit, writers_lock_for
from medsafe.api.deps import ContainerDep, CurrentPrincipal
from medsafe.api.routers import ERRORS
from medsafe.bootstrap import Container
from medsafe.errors import Forbidden, Invalid
from medsafe.interop.cds_hooks import feedback, service
from medsafe.interop.cds_hooks.replay import DatabaseJtiStore, PendingJti
from medsafe.interop.cds_hooks.requests import HookRequest, parse_hook_request
from medsafe.interop.cds_hooks.security import (
    JwksCache,
    KeyFetchNeeded,
    RequestVerifier,
    TrustedIssuer,
)
from medsafe.records import now
from medsafe.store.engine import is_sqlite

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])
report_router = APIRouter(prefix="/cds", tags=["cds-hooks"], responses=ERRORS)

ServiceId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
REPORT_ROLES = frozenset({"admin", "pharmacist", "physician"})
_BUILD_LOCK = threading.Lock()
T = TypeVar("T")


def _built_once(request: Request, name: str, build: Callable[[], T]) -> T:
    """The application's one `name` object (shared by every request of the process),
    built by `build` on first use."""
    state = request.app.state
    found: T | None = getattr(state, name, None)
    if found is None:
        with _BUILD_LOCK:
            found = getattr(state, name, None)
            if found is None:
                found = build()
                setattr(state, name, found)
    return found


def verifier(request: Request, container: Container) -> RequestVerifier:
    """One verifier per application (its key cache must be shared by every request),
    built from the settings on first use. The jtis already seen are kept in the database,
    so that every worker process of `medsafe serve --workers` refuses a replay."""

    def build() -> RequestVerifier:
        settings = container.settings
        return RequestVerifier(
            [TrustedIssuer(i.iss, i.jwks_url) for i in settings.cds_trusted_issuers],
            audience=_url(container, "/cds-services"), jwks=JwksCache(),
            jti_store=DatabaseJtiStore(container.uow),
            allow_unsigned=settings.cds_allow_unsigned, bind_host=settings.host)

    return _built_once(request, "cds_verifier", build)


def _url(container: Container, path: str) -> str:
    return container.settings.public_base_url.rstrip("/") + path


def _check_caller(request: Request, container: Container, path: str) -> None:
    verifier(request, container).verify(request.headers.get("Authorization"),
                                        audience=_url(container, path))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Invalid(f"the body is not JSON: {error}", where="(body)") from None


def _container(request: Request) -> Container:
    """The container, read on the event loop: `deps.container` is a plain function, which
    FastAPI would run in a worker thread, one more thread hop per call on the hot path."""
    found: Container = request.app.state.container
    return found


@router.get("")
async def discover(request: Request) -> dict[str, Any]:
    """The services and their prefetch templates (CDS Hooks 2.0 Discovery)."""
    await run_in_threadpool(_check_caller, request, _container(request), "/cds-services")
    return service.discovery()


@router.post("/{service_id}")
async def call(service_id: ServiceId, request: Request) -> JSONResponse:
    """Cards about the medicines being ordered; `{"cards": []}` when there is nothing
    to say; 412 (an OperationOutcome) when the data the service needs cannot be had.

    The hot path of the EHR's ordering screen, so it is split by what blocks: checking
    the token (with a cached key), reading the request, running the engine and building
    the cards are CPU work, done here on the event loop (worker threads would only
    contend for the interpreter lock and add a hand-off each); the call's one write,
    the token's jti with the cards, is committed together with the calls that reached
    theirs at the same time (`api.cds_group_commit`: on the event loop for SQLite, on a
    writer thread for PostgreSQL). A key-set fetch or a read from the EHR's FHIR server
    sends the rest of the request to a thread, with the jti recorded before anything is
    fetched."""
    body = await request.body()
    app = _container(request)
    audience = _url(app, f"/cds-services/{service_id}")
    checker = verifier(request, app)
    header = request.headers.get("Authorization")
    pending = PendingJti()
    try:
        checker.verify(header, audience=audience, may_fetch=False, jti_store=pending)
    except KeyFetchNeeded:
        await run_in_threadpool(partial(checker.verify, header, audience=audience,
                                        jti_store=pending))
    try:
        definition = service.service_named(service_id)
        hook_request = parse_hook_request(_json(body), service_hook=definition.hook)
        if service.needs_fhir_server(hook_request):
            return await run_in_threadpool(_call_reading_fhir, app, definition,
                                           hook_request, pending)
        found = service.answer(app.catalog, definition, hook_request, today=date.today(),
                               now=now())
    except service.RequiredDataMissing as missing:
        await writes(request, app).commit(pending, None)
        return _precondition_failed(missing)
    except Exception:
        # A refused request still uses up its token: it was verified, and a captured
        # token must not be tried again with another body.
        await writes(request, app).commit(pending, None)
        raise
    await writes(request, app).commit(pending, found)
    return JSONResponse(found.reply)


def writes(request: Request, container: Container) -> GroupCommit:
    """The application's one writer of CDS calls (its jtis and cards), built on first
    use: calls that arrive together share a transaction (`api.cds_group_commit`)."""

    def build() -> GroupCommit:
        engine = container.engine
        sqlite = is_sqlite(engine)
        return GroupCommit(container.uow, on_loop=sqlite, lock=writers_lock_for(
            engine.url.database if sqlite else None))

    return _built_once(request, "cds_writes", build)


def _call_reading_fhir(app: Container, definition: service.ServiceDefinition,
                       hook_request: HookRequest, pending: PendingJti) -> JSONResponse:
    """The service with reads from the EHR's FHIR server (in a worker thread): the jti
    first, in its own transaction, so that a replayed request never reaches the EHR."""
    pending.record_alone(app.uow)
    try:
        found = service.answer(app.catalog, definition, hook_request, today=date.today(),
                               now=now())
    except service.RequiredDataMissing as missing:
        return _precondition_failed(missing)
    with app.uow() as uow:
        service.store_answer(uow, found)
        uow.commit()
    return JSONResponse(found.reply)


def _precondition_failed(missing: service.RequiredDataMissing) -> JSONResponse:
    # CDS Hooks 2.0: 412 when required data cannot be had; 3.0 recommends an
    # OperationOutcome body.
    return JSONResponse({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "incomplete", "diagnostics": missing.message}]},
        status_code=412, media_type="application/fhir+json")


@router.post("/{service_id}/feedback")
async def give_feedback(service_id: ServiceId, request: Request) -> dict[str, Any]:
    """Store what the prescriber did with cards: accepted (which suggestions) or
    overridden (and why)."""
    body = await request.body()
    stored = await run_in_threadpool(_feedback, request, _container(request), service_id,
                                     body)
    return {"stored": stored}


def _feedback(request: Request, app: Container, service_id: str, body: bytes) -> int:
    _check_caller(request, app, f"/cds-services/{service_id}/feedback")
    service.service_named(service_id)
    document = _json(body)
    with app.uow() as uow:
        return feedback.record_feedback(uow, service_id, document, now=now())


@report_router.get("/overrides")
def override_report(app: ContainerDep, caller: CurrentPrincipal) -> dict[str, Any]:
    """Per rule: cards shown, accepted, overridden, the override rate and the reasons, so
    that noisy rules can be found and tuned."""
    if caller.role not in REPORT_ROLES:
        raise Forbidden("the CDS override report is for admins, pharmacists and "
                        "physicians")
    with app.uow() as uow:
        return feedback.override_report(uow)
