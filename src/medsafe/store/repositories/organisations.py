"""Organisations: manufacturers, wholesalers, pharmacies, clinics, regulators."""

from __future__ import annotations

from sqlalchemy import select

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import Organisation


class OrganisationRepository(Repository):
    def get(self, organisation_id: int | None) -> Organisation | None:
        if organisation_id is None:
            return None
        return self.session.get(Organisation, organisation_id)

    def name_taken(self, kind: str, name: str) -> bool:
        return self.session.execute(select(Organisation.id).where(
            Organisation.kind == kind, Organisation.name == name)).first() is not None

    def list(self, *, kind: str | None, name: str | None, offset: int,
             limit: int) -> tuple[list[Organisation], int]:
        """By name; `name` matches any part of it, ignoring case."""
        query = select(Organisation)
        if kind is not None:
            query = query.where(Organisation.kind == kind)
        if name:
            query = query.where(Organisation.name.icontains(name, autoescape=True))
        return self._scalar_page(query, (Organisation.name, Organisation.id), offset, limit)
