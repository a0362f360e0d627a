"""CDS Hooks 2.0 over HTTP: discovery, the two prescribing services and their feedback,
mounted at the root (`{base}/cds-services`, as the specification names the paths), and
the override report under /api/v1 for medsafe's own users.

Every CDS call, discovery included, must carry the EHR's signed JWT
(`interop.cds_hooks.security`); its `aud` must be this endpoint's URL under
MEDSAFE_PUBLIC_BASE_URL. Unsigned calls pass only with MEDSAFE_CDS_ALLOW_UNSIGNED on a
loopback address. The verification may fetch a key set and a service may read the EHR's
FHIR server, so both run in a worker thread, not on the event loop.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from medsafe.api.deps import ContainerDep, CurrentPrincipal
from medsafe.api.routers import ERRORS
from medsafe.bootstrap import Container
from medsafe.errors import Forbidden, Invalid
from medsafe.interop.cds_hooks import feedback, service
from medsafe.interop.cds_hooks.security import (
    JtiStore,
    JwksCache,
    RequestVerifier,
    TrustedIssuer,
)
from medsafe.records import now

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])
report_router = APIRouter(prefix="/cds", tags=["cds-hooks"], responses=ERRORS)

ServiceId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
REPORT_ROLES = frozenset({"admin", "pharmacist", "physician"})
_BUILD_LOCK = threading.Lock()


def verifier(request: Request, container: Container) -> RequestVerifier:
    """One verifier per application (its key cache and replay store must be shared by
    every request), built from the settings on first use."""
    state = request.app.state
    found: RequestVerifier | None = getattr(state, "cds_verifier", None)
    if found is None:
        with _BUILD_LOCK:
            found = getattr(state, "cds_verifier", None)
            if found is None:
                settings = container.settings
                found = RequestVerifier(
                    [TrustedIssuer(i.iss, i.jwks_url) for i in settings.cds_trusted_issuers],
                    audience=_url(container, "/cds-services"), jwks=JwksCache(),
                    jti_store=JtiStore(), allow_unsigned=settings.cds_allow_unsigned,
                    bind_host=settings.host)
                state.cds_verifier = found
    return found


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
    to say; 412 (an OperationOutcome) when the data the service needs cannot be had."""
    body = await request.body()
    return await run_in_threadpool(_call, request, _container(request), service_id, body)


def _call(request: Request, app: Container, service_id: str, body: bytes) -> JSONResponse:
    _check_caller(request, app, f"/cds-services/{service_id}")
    service.service_named(service_id)
    document = _json(body)
    moment = now()
    try:
        with app.uow() as uow:
            reply = service.call_service(uow, app.catalog, service_id, document,
                                         today=date.today(), now=moment)
    except service.RequiredDataMissing as missing:
        # CDS Hooks 2.0: 412 when required data cannot be had; 3.0 recommends an
        # OperationOutcome body.
        return JSONResponse({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "incomplete", "diagnostics": missing.message}]},
            status_code=412, media_type="application/fhir+json")
    return JSONResponse(reply)


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
