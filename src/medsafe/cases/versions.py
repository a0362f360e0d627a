"""How an incoming report relates to the case already held under its worldwide id (pure).

- no case yet: a new case (version 1);
- same content as a stored version: the same report sent again (idempotent, nothing new);
- C.1.11 nullification: a new version that retracts the case;
- date of latest information (C.1.5) on or after the latest version's: a follow-up;
- an earlier C.1.5 than the latest version's, with other content: a conflict, since the
  sender's own dates say it is older information than what is held.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from medsafe.cases.model import CaseReport
from medsafe.cases.rules import significant_changes
from medsafe.errors import Conflict

Kind = Literal["initial", "follow_up", "nullification", "same"]


def content_hash(report: CaseReport) -> str:
    """SHA-256 of the canonical JSON of a version: equal reports, equal hashes."""
    return payload_hash(report.model_dump_json())


def payload_hash(payload: str) -> str:
    """`content_hash` of a report already serialised (the stored payload)."""
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Arrival:
    kind: Kind
    significant: bool
    changes: tuple[str, ...]


def classify(incoming: CaseReport, latest: CaseReport | None,
             stored_hashes: frozenset[str]) -> Arrival:
    if latest is None:
        return Arrival("initial", True, ())
    if content_hash(incoming) in stored_hashes:
        return Arrival("same", False, ())
    if incoming.nullified:
        return Arrival("nullification", False, ("case nullified",))
    if incoming.latest_received < latest.latest_received:
        raise Conflict(
            f"case {incoming.worldwide_id}: this report's date of latest information "
            f"({incoming.latest_received}) is earlier than that of the version held "
            f"({latest.latest_received}), so it is not a follow-up; send the newer "
            "information or nullify")
    changes = tuple(significant_changes(latest, incoming))
    return Arrival("follow_up", bool(changes), changes)
