"""The FastAPI application factory: API under /api/v1, OpenAPI at /openapi.json."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medsafe import __version__, web
from medsafe.api import fhir, problems
from medsafe.api.routers import ROUTERS, cds_hooks, health
from medsafe.bootstrap import Container

API_PREFIX = "/api/v1"


class BodyLimit:
    """Refuses request bodies over the configured size with a 413 problem, whether or not
    the client announced the length (chunked bodies are counted as they arrive)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem(413, "Content Too Large",
                                    f"request bodies are limited to {self.limit:,} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


# Set on every response unless the route chose its own value (names in lower case, as
# ASGI carries them).
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"))


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response that does not set them itself.

    Plain ASGI, not Starlette's BaseHTTPMiddleware (`@app.middleware("http")`): that one
    runs each request through an extra task and memory streams, which cost more CPU per
    request than the CDS Hooks service's own work (measured in benchmarks/bench_cds.py,
    docs/adr/0003-uvicorn-standard.md). Here only the first message of the response is
    touched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS
                            if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="medsafe",
        version=__version__,
        description="Medication safety: drug knowledge, treatment assessment, and the "
                    "platform records behind them. Errors are RFC 9457 problem+json.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.container = container
    problems.install(app)
    # CDS Hooks paths sit at the root, as specified; first, because routes are matched in
    # order and the EHR's ordering screen waits on these (benchmarks/bench_cds.py).
    app.include_router(cds_hooks.router)
    app.include_router(health.router)
    app.include_router(fhir.router)
    app.include_router(cds_hooks.report_router, prefix=API_PREFIX)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    web.install(app)
    app.add_middleware(BodyLimit, limit=container.settings.max_body_bytes)
    # Added last, so outermost: the 413 of BodyLimit carries the headers too.
    app.add_middleware(SecurityHeaders)
    return app
