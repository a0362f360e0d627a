"""Reading the audit trail (writing and verifying it stay in `security.audit`)."""

from __future__ import annotations

from sqlalchemy import select

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import AuditEvent


class AuditEventRepository(Repository):
    def list(self, *, entity: str | None, entity_id: str | None, offset: int,
             limit: int) -> tuple[list[AuditEvent], int]:
        """Newest first."""
        query = select(AuditEvent)
        if entity is not None:
            query = query.where(AuditEvent.entity == entity)
        if entity_id is not None:
            query = query.where(AuditEvent.entity_id == entity_id)
        return self._scalar_page(query, (AuditEvent.seq.desc(),), offset, limit)
