"""Who is asking: the authenticated user as every service sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["admin", "regulator", "manufacturer", "pharmacist", "physician", "patient"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: Role
    organisation_id: int | None = None
    patient_id: int | None = None

    @property
    def sees_identities(self) -> bool:
        """Regulators and manufacturers never see who a patient is."""
        return self.role in ("admin", "pharmacist", "physician", "patient")


SYSTEM = Principal(user_id=0, username="system", role="admin")
"""The actor for jobs the system runs itself (migrations, demo loading, imports)."""
