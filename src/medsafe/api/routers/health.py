"""GET /healthz: the service is up and its database answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from medsafe import __version__
from medsafe.api.deps import ContainerDep
from medsafe.store.migrate import current_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(app: ContainerDep) -> dict[str, Any]:
    with app.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__, "database": app.engine.dialect.name,
            "schema": current_revision(app.engine)}
