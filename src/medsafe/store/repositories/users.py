"""User accounts (their creation and authentication stay in `security.accounts`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, select

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import Patient, User


class UserRepository(Repository):
    def get(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def by_username(self, username: str) -> User | None:
        return self.session.execute(
            select(User).where(User.username == username)).scalar_one_or_none()

    def list_with_patients(self, *, role: str | None, offset: int, limit: int
                           ) -> tuple[Sequence[Row[User, str | None]], int]:
        """Accounts by username, each with the pseudonym of its patient (if any)."""
        query = select(User, Patient.pseudonym).outerjoin(Patient,
                                                          Patient.id == User.patient_id)
        if role is not None:
            query = query.where(User.role == role)
        return self._page(query, (User.username,), offset, limit)
