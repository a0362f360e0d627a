"""The audit trail for administrators and regulators: read it, verify its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from medsafe import records
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import text_query
from medsafe.records import AuditEventView, AuditVerification

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEventView])
def list_events(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    entity: Annotated[str | None, text_query(60, "e.g. patient, dispensing")] = None,
    entity_id: Annotated[str | None, text_query(80, "e.g. a pseudonym or an id")] = None,
) -> Page[AuditEventView]:
    """Newest first."""
    with app.uow() as uow:
        items, total = records.list_audit_events(uow, caller, entity=entity,
                                                 entity_id=entity_id, offset=paging.offset,
                                                 limit=paging.page_size)
    return page_of(items, total, paging)


@router.get("/verify", response_model=AuditVerification)
def verify(app: ContainerDep, caller: CurrentPrincipal) -> AuditVerification:
    """Recompute every event's hash and link: reports changed, deleted, inserted or
    reordered events."""
    with app.uow() as uow:
        return records.verify_audit_trail(uow, caller)
