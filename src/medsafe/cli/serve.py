"""`medsafe serve`: the API and the pages on the configured database."""

from __future__ import annotations

import gc
from typing import Annotated

import typer
import uvicorn

from medsafe.api.app import create_app
from medsafe.bootstrap import Container
from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.store.migrate import is_current

HostOption = Annotated[str | None, typer.Option("--host", envvar="MEDSAFE_HOST",
                                                help="address to listen on (default 127.0.0.1)")]
PortOption = Annotated[int | None, typer.Option("--port", envvar="MEDSAFE_PORT", min=1,
                                                max=65535, help="port (default 8000)")]


def run_server(container: Container) -> None:
    settings = container.settings
    app = create_app(container)
    # Everything loaded so far (the knowledge base, the app) lives for the whole process:
    # moving it out of the collector's reach keeps full collections, and the latency
    # spikes they cause, short (measured in benchmarks/bench_store.py).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                proxy_headers=False, server_header=False)


def serve(
    host: HostOption = None,
    port: PortOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the API (/api/v1, /openapi.json) and the pages. Migrate first with
    `medsafe db upgrade`; the server refuses an outdated schema."""
    with reported_errors():
        overrides: dict[str, object] = {}
        if host:
            overrides["host"] = host
        if port:
            overrides["port"] = port
        container = open_container(database_url, data_dir, settings=overrides)
        is_current(container.engine, raise_if_not=True)
    run_server(container)
