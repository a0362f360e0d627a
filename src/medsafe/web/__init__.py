"""Server-rendered pages (Jinja2 + HTMX), mounted on the API application.

Public: `/` (what medsafe is), `/drugs` (searchable medicines list), `/drugs/{id}` (one
medicine, every clinical statement cited). Signed in: `/login`, `/logout`, `/home`,
`/patients`, `/patients/{pseudonym}` and `/patients/{pseudonym}/assess`. Static files
(the stylesheet and the vendored htmx) are served from `/static`; nothing is fetched
from elsewhere at run time.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from medsafe.web.error_pages import install_not_found_page
from medsafe.web.routes import ROUTERS
from medsafe.web.templating import STATIC


def install(app: FastAPI) -> None:
    """Mount the pages and static files on `app`."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    install_not_found_page(app)
