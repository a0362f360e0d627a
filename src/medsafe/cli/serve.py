"""`medsafe serve`: the API and the pages on the configured database.

With `--workers N` (MEDSAFE_WORKERS; default: the cores this process may use in
production, 1 otherwise) uvicorn runs N worker processes sharing the port: one Python
process is bound to one core by its interpreter lock, and the CDS Hooks service must
answer within tens of milliseconds under concurrent EHR calls (docs/cds-hooks.md,
benchmarks/bench_cds.py). Every worker builds its own container from the same settings,
passed down through the environment; what must be shared between them lives in the
database (the CDS Hooks replay check, sessions, the outbox).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from medsafe.api.app import create_app
from medsafe.bootstrap import Container
from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.store.migrate import is_current

HostOption = Annotated[str | None, typer.Option("--host", envvar="MEDSAFE_HOST",
                                                help="address to listen on (default 127.0.0.1)")]
PortOption = Annotated[int | None, typer.Option("--port", envvar="MEDSAFE_PORT", min=1,
                                                max=65535, help="port (default 8000)")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", envvar="MEDSAFE_WORKERS", min=1, max=64,
    help="worker processes (default: the number of cores in production, else 1)")]


def _app_for(container: Container) -> FastAPI:
    app = create_app(container)
    # Everything loaded so far (the knowledge base, the app) lives for the whole process:
    # moving it out of the collector's reach keeps full collections, and the latency
    # spikes they cause, short (measured in benchmarks/bench_store.py).
    gc.collect()
    gc.freeze()
    return app


def run_server(container: Container, *, workers: int = 1) -> None:
    """Serve `container`'s application in this process, or, with more than one worker,
    in `workers` processes that each build their own from the environment's settings
    (which must therefore be the ones `container` was built from: see `serve`)."""
    settings = container.settings
    common: dict[str, object] = {"host": settings.host, "port": settings.port,
                                 "log_level": "info", "proxy_headers": False,
                                 "server_header": False}
    if workers == 1:
        uvicorn.run(_app_for(container), **common)  # type: ignore[arg-type]
        return
    container.engine.dispose()  # the workers open their own connections
    uvicorn.run("medsafe.cli.serve:worker_app", factory=True, workers=workers,
                **common)  # type: ignore[arg-type]


def worker_app() -> FastAPI:
    """The application of one worker process, from the settings in the environment."""
    return _app_for(open_container(None, None))


def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the API (/api/v1, /openapi.json) and the pages. Migrate first with
    `medsafe db upgrade`; the server refuses an outdated schema."""
    with reported_errors():
        # The options go into the environment as well as into this process's settings:
        # worker processes read their settings from it.
        given: dict[str, str | int | Path | None] = {
            "host": host, "port": port, "workers": workers, "database_url": database_url,
            "data_dir": data_dir}
        overrides: dict[str, object] = {}
        for name, value in given.items():
            if value is not None and value != "":
                overrides[name] = value
                os.environ[f"MEDSAFE_{name.upper()}"] = str(value)
        container = open_container(None, None, settings=overrides)
        is_current(container.engine, raise_if_not=True)
        count = container.settings.effective_workers
    run_server(container, workers=count)
